r"""Does the judge's score mean anything on your data? A judge-quality report from labelled trajectories.

    python -m trainer_client.quality sample items.jsonl                       write the project's labelled sample
    python -m trainer_client.quality run items.jsonl --out-dir qa/ --url URL  judge them, then write qa/report.md
    python -m trainer_client.quality report items.jsonl --out-dir qa/         rewrite the report from qa/ alone

Input: JSONL, one labelled item per line: a judge item (`question`, `messages` or `trajectory`, `id`) plus

- `label` (required): the trajectory's outcome, 1 / true for a success, 0 / false for a failure;
- `group` (optional): items answering the same task, as in one GRPO group (within-group pairwise accuracy);
- `gold` (optional): the gold answer (a string or several), graded by the rule reward (`trainer_client.rules`);
- `source` (optional): the dataset source that picks the rule grader (`"math"`, `"hotpotqa"`, ...).

`run` sends the judge items through the service (one URL or a comma-separated replica set, with the client's
retries and fail-over), shows a progress bar, and appends one judgment per line to `OUT_DIR/judgments.jsonl`. It
resumes: rerun the same command after an interruption or an outage (exit code 2) and it carries on. The report
(`OUT_DIR/report.md` with PNG plots beside it) gives

- AUROC of the score against the outcome (with a bootstrap 95% interval), and the ROC curve;
- within-group pairwise accuracy: over every (success, failure) pair of a group, how often the success scores
  higher (ties count half) — what GRPO's group-relative advantage relies on;
- calibration: a reliability diagram and the expected calibration error (ECE, 10 equal-width bins);
- score histograms by label;
- failure rates by reason (failed judgments have no score and are left out of every score metric, never read as 0);
- agreement with the rule reward on the items that have a gold answer.

On the demo model (random weights) every number is near chance by construction: the report says so when the
service reports `demo_model: true`.
"""

from __future__ import annotations

import argparse
import json
import operator
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ._cli import EXIT_UNAVAILABLE, _completed, _judge_batch, _Progress
from ._client import JudgeClient
from ._exceptions import JudgeError
from ._types import JudgeItem, JudgeOptions, Judgment
from .rules import rule_reward

__all__ = [
    "LabelledItem",
    "QualityReport",
    "auroc",
    "build_report",
    "build_sample",
    "expected_calibration_error",
    "main",
    "pairwise_accuracy",
    "reliability_bins",
]

JUDGMENTS = "judgments.jsonl"
RUN_INFO = "run.json"
REPORT = "report.md"
BINS = 10
BOOTSTRAP = 1000
_LABEL_FIELDS = ("label", "group", "gold", "source")


# --- input ----------------------------------------------------------------------------------------------------


class LabelledItem(BaseModel):
    """One line of the input: the judge item's fields plus the labels (which are not sent to the service)."""

    model_config = ConfigDict(extra="allow")

    label: int = Field(description="Outcome: 1 success, 0 failure (true/false accepted).")
    group: str | None = Field(default=None, description="Items of one task (one GRPO group).")
    gold: str | list[str] | None = Field(default=None, description="Gold answer(s) for the rule reward.")
    source: str | None = Field(default=None, description="Dataset source, which picks the rule grader.")

    @field_validator("label", mode="before")
    @classmethod
    def _binary(cls, value: Any) -> int:
        if value in (True, 1, "1", "true", "True") and value is not False:
            return 1
        if value in (False, 0, "0", "false", "False"):
            return 0
        raise ValueError(f"label must be 1/true (success) or 0/false (failure), not {value!r}")

    @field_validator("group", mode="before")
    @classmethod
    def _group_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def judge_item(self) -> JudgeItem:
        """The item as the service takes it (raises ValidationError when it is not a valid judge item)."""
        return JudgeItem.model_validate(self.model_extra or {})

    def judge_line(self) -> str:
        return json.dumps(self.model_extra or {}, ensure_ascii=False)

    def completion(self) -> str | list[Any]:
        """What the rule reward grades: the trajectory text, or the messages (their last assistant turn)."""
        extra = self.model_extra or {}
        messages = extra.get("messages")
        return list(messages) if isinstance(messages, list) else str(extra.get("trajectory") or "")


def read_items(path: Path) -> list[LabelledItem]:
    """Every line of a labelled JSONL file; a bad line stops with its line number."""
    items: list[LabelledItem] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                items.append(LabelledItem.model_validate_json(line))
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"]) or "line"
                raise ValueError(f"{path}:{number}: {where}: {error['msg']}") from None
    if not items:
        raise ValueError(f"{path} holds no items")
    return items


# --- metrics (pure) ---------------------------------------------------------------------------------------------


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # ties share their average rank
        i = j + 1
    return ranks


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve: the chance that a random success scores above a random failure (ties: half).
    None without both classes.

    Example:
        >>> auroc([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
        1.0
        >>> auroc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])
        0.5
        >>> auroc([0.2, 0.6, 0.4], [1, 0, 0])
        0.0
    """
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = _ranks(scores)
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def roc_curve(scores: Sequence[float], labels: Sequence[int]) -> tuple[list[float], list[float]]:
    """(false-positive rates, true-positive rates) at every distinct score threshold, from (0, 0) to (1, 1)."""
    positives = sum(labels)
    negatives = len(labels) - positives
    fpr, tpr = [0.0], [0.0]
    tp = fp = 0
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: -p[0])
    for k, (score, label) in enumerate(pairs):
        tp += label
        fp += 1 - label
        if k + 1 == len(pairs) or pairs[k + 1][0] != score:
            fpr.append(fp / negatives if negatives else 0.0)
            tpr.append(tp / positives if positives else 0.0)
    return fpr, tpr


@dataclass
class Pairwise:
    accuracy: float | None
    pairs: int
    groups: int  # groups holding at least one success and one failure
    groups_total: int


def pairwise_accuracy(scores: Sequence[float], labels: Sequence[int], groups: Sequence[str | None]) -> Pairwise:
    """Within each group, the share of (success, failure) pairs the judge orders right (ties count half).
    Pairs are pooled over groups; items with no group take no part.

    Example:
        >>> p = pairwise_accuracy([0.9, 0.1, 0.4, 0.6, 0.7], [1, 0, 1, 0, 1], ["a", "a", "b", "b", None])
        >>> p.accuracy, p.pairs, p.groups
        (0.5, 2, 2)
    """
    by_group: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for score, label, group in zip(scores, labels, groups, strict=True):
        if group is not None:
            by_group[group].append((score, label))
    right = 0.0
    pairs = mixed = 0
    for members in by_group.values():
        wins = [s for s, y in members if y == 1]
        losses = [s for s, y in members if y == 0]
        if wins and losses:
            mixed += 1
        for w in wins:
            for loss in losses:
                pairs += 1
                right += 1.0 if w > loss else 0.5 if w == loss else 0.0
    return Pairwise(right / pairs if pairs else None, pairs, mixed, len(by_group))


@dataclass
class Bin:
    low: float
    high: float
    count: int
    mean_score: float | None
    success_rate: float | None


def reliability_bins(scores: Sequence[float], labels: Sequence[int], bins: int = BINS) -> list[Bin]:
    """Equal-width score bins over [0, 1] (the last one closed): count, mean score and success rate of each."""
    members: list[list[tuple[float, int]]] = [[] for _ in range(bins)]
    for score, label in zip(scores, labels, strict=True):
        members[min(int(score * bins), bins - 1)].append((score, label))
    out = []
    for k, inside in enumerate(members):
        n = len(inside)
        out.append(
            Bin(
                k / bins,
                (k + 1) / bins,
                n,
                sum(s for s, _ in inside) / n if n else None,
                sum(y for _, y in inside) / n if n else None,
            )
        )
    return out


def expected_calibration_error(scores: Sequence[float], labels: Sequence[int], bins: int = BINS) -> float | None:
    """ECE: the count-weighted mean gap between a bin's mean score and its success rate. None with no items.

    Example:
        >>> expected_calibration_error([1.0, 1.0, 0.0, 0.0], [1, 1, 0, 0])
        0.0
        >>> expected_calibration_error([0.5, 0.5], [1, 1])
        0.5
    """
    if not scores:
        return None
    total = len(scores)
    gap = 0.0
    for b in reliability_bins(scores, labels, bins):
        if b.count and b.mean_score is not None and b.success_rate is not None:
            gap += b.count / total * abs(b.mean_score - b.success_rate)
    return gap


def _bootstrap(values: Sequence[float | None], level: float = 0.95) -> tuple[float, float] | None:
    finite = sorted(v for v in values if v is not None)
    if len(finite) < 20:
        return None
    lo = finite[int((1 - level) / 2 * len(finite))]
    hi = finite[min(int((1 + level) / 2 * len(finite)), len(finite) - 1)]
    return lo, hi


def _resample_auroc(scores: Sequence[float], labels: Sequence[int], rng: random.Random) -> float | None:
    picks = [rng.randrange(len(scores)) for _ in scores]
    return auroc([scores[i] for i in picks], [labels[i] for i in picks])


def _resample_pairwise(
    scores: Sequence[float], labels: Sequence[int], groups: Sequence[str | None], rng: random.Random
) -> float | None:
    # Resample whole groups: pairs of one group are not independent.
    names = sorted({g for g in groups if g is not None})
    if not names:
        return None
    index: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        if g is not None:
            index[g].append(i)
    s: list[float] = []
    y: list[int] = []
    g2: list[str | None] = []
    for k in range(len(names)):
        name = names[rng.randrange(len(names))]
        for i in index[name]:
            s.append(scores[i])
            y.append(labels[i])
            g2.append(f"{k}:{name}")
    return pairwise_accuracy(s, y, g2).accuracy


# --- the report ---------------------------------------------------------------------------------------------------


@dataclass
class QualityReport:
    items: int
    judged: int
    ok: int
    failures: Counter[str]
    positives: int
    auroc: float | None
    auroc_ci: tuple[float, float] | None
    pairwise: Pairwise
    pairwise_ci: tuple[float, float] | None
    ece: float | None
    bins: list[Bin]
    mean_score_by_label: dict[int, float | None]
    rule_items: int = 0
    rule_agreement: float | None = None  # share where score >= 0.5 matches rule reward >= 0.5
    rule_auroc: float | None = None  # AUROC of the score against the rule reward's verdict
    rule_label_agreement: float | None = None  # share where the rule reward's verdict matches the label
    info: dict[str, Any] = field(default_factory=dict)
    roc: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    scores_by_label: dict[int, list[float]] = field(default_factory=dict)


def build_report(
    items: Sequence[LabelledItem], judgments: Sequence[dict[str, Any]], info: dict[str, Any] | None = None
) -> QualityReport:
    """Every metric of the report, from the labelled items and their judgment records (dicts, in input order)."""
    judged = list(judgments)[: len(items)]
    pairs = list(zip(items, judged, strict=False))
    ok = [(item, j) for item, j in pairs if j.get("status") == "ok" and j.get("score") is not None]
    scores = [float(j["score"]) for _, j in ok]
    labels = [item.label for item, _ in ok]
    groups = [item.group for item, _ in ok]
    rng = random.Random(0)
    by_label = {y: [s for s, lab in zip(scores, labels, strict=True) if lab == y] for y in (0, 1)}
    report = QualityReport(
        items=len(items),
        judged=len(judged),
        ok=len(ok),
        failures=Counter(str(j.get("reason") or "unknown") for _, j in pairs if j.get("status") != "ok"),
        positives=sum(labels),
        auroc=auroc(scores, labels),
        auroc_ci=_bootstrap([_resample_auroc(scores, labels, rng) for _ in range(BOOTSTRAP)]) if scores else None,
        pairwise=pairwise_accuracy(scores, labels, groups),
        pairwise_ci=_bootstrap([_resample_pairwise(scores, labels, groups, rng) for _ in range(BOOTSTRAP)])
        if scores
        else None,
        ece=expected_calibration_error(scores, labels),
        bins=reliability_bins(scores, labels),
        mean_score_by_label={y: (sum(v) / len(v) if v else None) for y, v in by_label.items()},
        info=dict(info or {}),
        roc=roc_curve(scores, labels) if scores else ([], []),
        scores_by_label=by_label,
    )
    graded = [(item, float(j["score"])) for item, j in ok if item.gold is not None]
    if graded:
        rules = [
            rule_reward(item.completion(), item.gold, source=item.source)  # type: ignore[arg-type]
            for item, _ in graded
        ]
        verdicts = [int(r >= 0.5) for r in rules]
        report.rule_items = len(graded)
        report.rule_agreement = sum(int(s >= 0.5) == v for (_, s), v in zip(graded, verdicts, strict=True)) / len(
            graded
        )
        report.rule_auroc = auroc([s for _, s in graded], verdicts)
        report.rule_label_agreement = sum(item.label == v for (item, _), v in zip(graded, verdicts, strict=True)) / len(
            graded
        )
    return report


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f" (95% bootstrap interval {interval[0]:.2f}–{interval[1]:.2f})"


def render_markdown(report: QualityReport, plots: dict[str, str]) -> str:
    """The report as Markdown; `plots` maps a plot's kind to its file name beside the report."""
    info = report.info
    lines = ["# Judge-quality report", ""]
    model = info.get("model", "unknown model")
    lines.append(
        f"Judge: `{model}`, template `{info.get('template_id', '?')}`, service version {info.get('version', '?')}, "
        f"judged through {info.get('urls', '?')}."
    )
    lines.append("")
    if info.get("demo_model"):
        lines += [
            "> **Demo model.** The service is serving the demo model, a tiny random-weight Qwen3 that exists to "
            "exercise the service. Its scores carry no information about the trajectories, so every number below "
            "is near chance (AUROC and pairwise accuracy ≈ 0.5) by construction. Run this report against "
            "`bunny127/Agent-RRM` (or your judge) to learn anything about your data.",
            "",
        ]
    distinct = {s for values in report.scores_by_label.values() for s in values}
    if len(distinct) == 1:
        lines += [
            f"> **One score for everything.** Every scored item got {distinct.pop():g}: the judge does not tell these "
            "trajectories apart at all, so AUROC and pairwise accuracy are exactly 0.5 and the ECE is just the gap "
            "between that score and the success rate.",
            "",
        ]
    fail_rate = (report.judged - report.ok) / report.judged if report.judged else 0.0
    lines += [
        "| | |",
        "|---|---|",
        f"| items | {report.items} ({report.positives} successes among the scored) |",
        f"| judged / scored | {report.judged} / {report.ok} (failed: {fail_rate:.1%}) |",
        f"| AUROC (score vs outcome) | {_fmt(report.auroc)}{_ci(report.auroc_ci)} |",
        f"| within-group pairwise accuracy | {_fmt(report.pairwise.accuracy)}{_ci(report.pairwise_ci)}: "
        f"{report.pairwise.pairs} (success, failure) pairs in {report.pairwise.groups} of "
        f"{report.pairwise.groups_total} groups |",
        f"| expected calibration error (ECE, {BINS} bins) | {_fmt(report.ece)} |",
        f"| mean score: successes / failures | {_fmt(report.mean_score_by_label.get(1))} / "
        f"{_fmt(report.mean_score_by_label.get(0))} |",
    ]
    if report.rule_items:
        lines += [
            f"| agreement with the rule reward ({report.rule_items} items with a gold answer) | "
            f"{_fmt(report.rule_agreement)} (score ≥ 0.5 ⇔ rule reward ≥ 0.5); AUROC against the rule's verdict "
            f"{_fmt(report.rule_auroc)}; the rule's verdict matches the label on {_fmt(report.rule_label_agreement)} |",
        ]
    else:
        lines.append("| agreement with the rule reward | n/a: no item has a gold answer |")
    lines += [
        "",
        "How to read it: AUROC is the chance that a random success scores above a random failure (0.5: no signal). "
        "Pairwise accuracy asks the same inside each group (one task's attempts), which is what a group-relative "
        "advantage (GRPO) uses; groups with only successes or only failures give no pairs. ECE is the mean gap, "
        "weighted by count, between a bin's mean score and its success rate (0: a score of 0.7 means 70% succeed). "
        "Failed judgments have no score: they are counted below and left out of every score metric.",
        "",
        "## ROC curve and calibration",
        "",
    ]
    for kind, title in (("roc", "ROC curve"), ("reliability", "Reliability diagram"), ("histogram", "Scores")):
        if kind in plots:
            lines.append(f"![{title}]({plots[kind]})")
    lines += ["", "| score bin | items | mean score | success rate |", "|---|---|---|---|"]
    for b in report.bins:
        lines.append(f"| {b.low:.1f}–{b.high:.1f} | {b.count} | {_fmt(b.mean_score)} | {_fmt(b.success_rate)} |")
    lines += ["", "## Failures by reason", ""]
    if report.failures:
        lines += ["| reason | judgments | share of judged |", "|---|---|---|"]
        for reason, count in report.failures.most_common():
            lines.append(f"| `{reason}` | {count} | {count / max(report.judged, 1):.1%} |")
    else:
        lines.append("No judgment failed.")
    if report.judged < report.items:
        lines += ["", f"**Incomplete:** {report.items - report.judged} items are not judged yet; rerun `run`."]
    return "\n".join(lines) + "\n"


def draw_plots(report: QualityReport, out_dir: Path) -> dict[str, str]:
    """The report's PNGs in `out_dir`: ROC curve, reliability diagram, score histograms by label."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise RuntimeError(
            "the report's plots need matplotlib: pip install 'agent-rrm-trainer-client[quality]'"
        ) from exc
    plots: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    fpr, tpr = report.roc
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="chance")
    if fpr:
        ax.step(fpr, tpr, where="post", label=f"judge (AUROC {_fmt(report.auroc, 2)})")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC: score vs outcome", xlim=(0, 1))
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out_dir / "roc.png", dpi=110)
    plt.close(fig)
    plots["roc"] = "roc.png"

    fig, (ax, count_ax) = plt.subplots(2, 1, figsize=(4.5, 5.5), gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="perfect calibration")
    filled = [b for b in report.bins if b.count]
    ax.bar(
        [(b.low + b.high) / 2 for b in filled],
        [b.success_rate or 0.0 for b in filled],
        width=1 / BINS * 0.9,
        alpha=0.7,
        label="success rate",
    )
    ax.plot([b.mean_score for b in filled], [b.success_rate for b in filled], "o", color="C3", label="bin mean score")
    ax.set(ylabel="success rate", ylim=(0, 1), title=f"Reliability (ECE {_fmt(report.ece, 2)})")
    ax.legend(loc="upper left", fontsize=8)
    count_ax.bar([(b.low + b.high) / 2 for b in report.bins], [b.count for b in report.bins], width=1 / BINS * 0.9)
    count_ax.set(xlabel="judge score", ylabel="items", xlim=(0, 1))
    fig.tight_layout()
    fig.savefig(out_dir / "reliability.png", dpi=110)
    plt.close(fig)
    plots["reliability"] = "reliability.png"

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    edges = [k / 20 for k in range(21)]
    for label, name, color in ((1, "successes", "C2"), (0, "failures", "C3")):
        values = report.scores_by_label.get(label, [])
        if values:
            ax.hist(values, bins=edges, alpha=0.6, color=color, label=f"{name} ({len(values)})")
    ax.set(xlabel="judge score", ylabel="items", title="Scores by outcome", xlim=(0, 1))
    if any(report.scores_by_label.values()):
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no scored items", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(out_dir / "histogram.png", dpi=110)
    plt.close(fig)
    plots["histogram"] = "histogram.png"
    return plots


def write_report(items: Sequence[LabelledItem], out_dir: Path) -> QualityReport:
    """Read OUT_DIR's judgments and run information, write report.md and its plots; return the metrics."""
    path = out_dir / JUDGMENTS
    judgments = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    info_path = out_dir / RUN_INFO
    info = json.loads(info_path.read_text("utf-8")) if info_path.exists() else {}
    report = build_report(items, judgments, info)
    plots = draw_plots(report, out_dir)
    (out_dir / REPORT).write_text(render_markdown(report, plots), "utf-8")
    return report


# --- judging ------------------------------------------------------------------------------------------------------


def _service_info(client: JudgeClient) -> dict[str, Any]:
    """/info of the first replica that answers (model, template, demo flag); {} if none does."""
    headers = {"Authorization": f"Bearer {client.api_key}"} if client.api_key else {}
    for endpoint in client.pool.endpoints:
        try:
            response = httpx.get(f"{endpoint.url}/info", headers=headers, timeout=10)
            if response.status_code == 200:
                data: dict[str, Any] = response.json()
                return data
        except (httpx.HTTPError, ValueError):
            continue
    return {}


def judge_items(items: Sequence[LabelledItem], out_dir: Path, args: argparse.Namespace) -> int:
    """Append the judgments not yet in OUT_DIR/judgments.jsonl; 0, or EXIT_UNAVAILABLE on an outage."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / JUDGMENTS
    done = _completed(dst)
    if done > len(items):
        raise ValueError(f"{dst} holds {done} judgments for {len(items)} items: is it another run's folder?")
    if done:
        sys.stderr.write(f"resuming: {done} of {len(items)} items already judged in {dst}\n")
    options = JudgeOptions(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    progress = _Progress(len(items), done, sys.stderr, enabled=not args.no_progress)
    code = 0
    with JudgeClient(args.url, api_key=args.api_key, max_retries=args.max_retries) as client, dst.open("a") as out:
        info = _service_info(client)
        run_info = {
            "model": info.get("model"),
            "template_id": info.get("template_id"),
            "version": info.get("version"),
            "demo_model": info.get("demo_model"),
            "urls": ", ".join(e.url for e in client.pool.endpoints),
            "finished": None,
        }
        position = done
        while position < len(items) and not code:
            batch = items[position : position + args.batch_size]
            judgments: list[Judgment] = _judge_batch(client, [i.judge_line() for i in batch], position, options)
            cut = next((k for k, j in enumerate(judgments) if j.reason == "unavailable"), len(judgments))
            for judgment in judgments[:cut]:
                out.write(judgment.model_dump_json() + "\n")
            out.flush()
            progress.update(judgments[:cut])
            position += cut
            if cut < len(judgments):
                code = EXIT_UNAVAILABLE
    progress.close()
    if code:
        sys.stderr.write(f"the judge service is unavailable: stopped after {position} items; rerun to resume\n")
    else:
        run_info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (out_dir / RUN_INFO).write_text(json.dumps(run_info, indent=2) + "\n", "utf-8")
    return code


# --- the project's labelled sample ----------------------------------------------------------------------------------


_TASKS: list[tuple[str, str, Callable[[int, int], int]]] = [
    ("What is {a} times {b}?", "*", operator.mul),
    ("What is {a} plus {b}?", "+", operator.add),
    ("What is {a} minus {b}?", "-", operator.sub),
]


def _attempt(kind: str, question: str, expression: str, answer: int, truth: int) -> dict[str, Any]:
    """An agent's trajectory as chat messages: a calculator call, its result, a boxed final answer."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    if kind == "no_tool":
        messages.append({"role": "assistant", "content": f"I know this one. The answer is \\boxed{{{answer}}}."})
        return {"messages": messages}
    call_id = "call_0"
    messages.append(
        {
            "role": "assistant",
            "content": "I will use the calculator.",
            "tool_calls": [
                {"id": call_id, "function": {"name": "calculator", "arguments": json.dumps({"expression": expression})}}
            ],
        }
    )
    shown = truth if kind != "misread" else answer
    messages.append({"role": "tool", "tool_call_id": call_id, "name": "calculator", "content": str(shown)})
    if kind == "unboxed":
        messages.append({"role": "assistant", "content": f"The calculator says {truth}, so that is it."})
    else:
        messages.append({"role": "assistant", "content": f"The calculator returned {shown}. \\boxed{{{answer}}}"})
    return {"messages": messages}


def build_sample(groups: int = 24, attempts: int = 4, seed: int = 12) -> list[dict[str, Any]]:
    """A small labelled sample built here, deterministic: `groups` arithmetic tasks, each with `attempts` tool-using
    trajectories (one GRPO group), each labelled with its outcome (did it end on the right number?) and carrying the
    gold answer. Kinds of attempt: right (calculator, boxed right answer), slip (calculator right, boxed answer off),
    misread (a wrong calculator result passed on), unboxed (the right number without \\boxed{}: a success the rule
    reward scores 0) and no_tool (a guess, sometimes right).

    Example:
        >>> sample = build_sample(groups=2, attempts=4)
        >>> len(sample), sorted({row["group"] for row in sample})
        (8, ['task-00', 'task-01'])
    """
    rng = random.Random(seed)
    kinds = ["right", "slip", "misread", "unboxed", "no_tool"]
    rows: list[dict[str, Any]] = []
    for g in range(groups):
        template, symbol, op = _TASKS[g % len(_TASKS)]
        a, b = rng.randint(12, 99), rng.randint(3, 49)
        truth = op(a, b)
        question = template.format(a=a, b=b) + " Put the final answer in \\boxed{}."
        expression = f"{a} {symbol} {b}"
        # Every group mixes successes and failures, so each gives pairs to the pairwise accuracy.
        chosen = ["right", rng.choice(kinds[1:])] + [rng.choice(kinds) for _ in range(attempts - 2)]
        rng.shuffle(chosen)
        for k, kind in enumerate(chosen):
            answer = truth
            if kind in ("slip", "misread"):
                answer = truth + rng.choice([-1, 1]) * rng.randint(1, 9)
            elif kind == "no_tool":
                answer = truth if rng.random() < 0.5 else truth + rng.randint(1, 20)
            # The id names how the attempt was made (the service would refuse an unknown field).
            row: dict[str, Any] = {"id": f"task-{g:02d}-{k}-{kind}", "question": question}
            row |= _attempt(kind, question, expression, answer, truth)
            row |= {"group": f"task-{g:02d}", "gold": str(truth), "source": "math"}
            # The outcome: did the agent end with the right number? (An unboxed right answer is a success that the
            # strict rule reward, which wants \boxed{}, scores 0: the two disagree there.)
            row["label"] = int(answer == truth)
            rows.append(row)
    return rows


# --- command line -------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trainer_client.quality",
        description="Judge labelled trajectories through the service and report how well the score tracks outcomes.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sample = sub.add_parser("sample", help="write the project's small labelled sample (JSONL)")
    sample.add_argument("output", type=Path)
    sample.add_argument("--groups", type=int, default=24, help="tasks (groups of attempts)")
    sample.add_argument("--attempts", type=int, default=4, help="attempts per task")

    run = sub.add_parser("run", help="judge labelled items (resumable), then write the report")
    run.add_argument("input", type=Path, help="labelled JSONL: judge item + label (+ group, gold, source)")
    run.add_argument("--out-dir", type=Path, required=True, help="judgments.jsonl, run.json, report.md, plots")
    run.add_argument("--url", help="judge URL(s), comma-separated: a replica set (default: $RRM_JUDGE_URL)")
    run.add_argument("--api-key", help="Bearer key (default: $RRM_JUDGE_API_KEY)")
    run.add_argument("--max-retries", type=int, default=5)
    run.add_argument("--batch-size", type=int, default=64, help="items per step (each step is saved)")
    run.add_argument("--max-tokens", type=int)
    run.add_argument("--temperature", type=float, help="the judge's sampling temperature (default: the service's)")
    run.add_argument("--seed", type=int)
    run.add_argument("--no-progress", action="store_true")

    report = sub.add_parser("report", help="write the report from OUT_DIR's judgments, without judging")
    report.add_argument("input", type=Path)
    report.add_argument("--out-dir", type=Path, required=True)
    return parser


def _summary_line(report: QualityReport, out_dir: Path) -> str:
    return (
        f"report: {out_dir / REPORT} | {report.ok}/{report.items} scored | AUROC {_fmt(report.auroc)} | "
        f"pairwise {_fmt(report.pairwise.accuracy)} | ECE {_fmt(report.ece)}"
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "sample":
            if args.groups < 1 or args.attempts < 2:
                raise ValueError("--groups must be >= 1 and --attempts >= 2")
            rows = build_sample(args.groups, args.attempts)
            args.output.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
            print(f"wrote {len(rows)} labelled items ({sum(r['label'] for r in rows)} successes) to {args.output}")
            return 0
        items = read_items(args.input)
        for number, item in enumerate(items, 1):
            try:
                item.judge_item()  # fail before judging anything when a line is not a judge item
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"]) or "item"
                raise ValueError(f"{args.input}:{number}: not a judge item: {where}: {error['msg']}") from None
        code = judge_items(items, args.out_dir, args) if args.command == "run" else 0
        if args.command == "report" and not (args.out_dir / JUDGMENTS).exists():
            raise ValueError(f"{args.out_dir / JUDGMENTS} does not exist: run `run` first")
        report = write_report(items, args.out_dir)
        print(_summary_line(report, args.out_dir))
        return code
    except (JudgeError, ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

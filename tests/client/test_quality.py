"""The judge-quality report (`python -m trainer_client.quality`): its metrics on hand-computed cases, the shipped
labelled sample, bad input, and a real run against the live demo service (through a replica set with a dead
replica, resumed after an interruption, stopped cleanly by an outage)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from trainer_client import quality
from trainer_client.quality import (
    LabelledItem,
    auroc,
    build_report,
    build_sample,
    expected_calibration_error,
    pairwise_accuracy,
    reliability_bins,
)
from trainer_client.rules import rule_reward

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "quality" / "sample.jsonl"


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# --- metrics --------------------------------------------------------------------------------------------------------


def test_auroc_counts_ties_as_half_and_needs_both_classes() -> None:
    assert auroc([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]) == 1.0
    assert auroc([0.1, 0.3, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    # pairs (success, failure): (0.7, 0.7) tie = 0.5, (0.7, 0.2) = 1, (0.4, 0.7) = 0, (0.4, 0.2) = 1 → 2.5 / 4
    assert auroc([0.7, 0.4, 0.7, 0.2], [1, 1, 0, 0]) == pytest.approx(0.625)
    assert auroc([0.5, 0.6], [1, 1]) is None


def test_pairwise_accuracy_stays_inside_groups() -> None:
    scores = [0.9, 0.2, 0.1, 0.8, 0.6, 0.5]
    labels = [1, 0, 1, 0, 1, 1]
    groups = ["a", "a", "b", "b", "c", None]
    result = pairwise_accuracy(scores, labels, groups)
    # a: 0.9 > 0.2 right; b: 0.1 < 0.8 wrong; c has no failure; the ungrouped item takes no part.
    assert (result.accuracy, result.pairs, result.groups, result.groups_total) == (0.5, 2, 2, 3)
    # A judge that ranks within every group but not across them: pairwise 1.0, pooled AUROC 0.75.
    easy_hard = ([0.9, 0.8, 0.3, 0.2], [1, 0, 1, 0], ["easy", "easy", "hard", "hard"])
    assert pairwise_accuracy(*easy_hard).accuracy == 1.0
    assert auroc(easy_hard[0], easy_hard[1]) == 0.75
    assert pairwise_accuracy([0.5], [1], ["a"]).accuracy is None


def test_calibration_bins_and_ece() -> None:
    scores = [0.05, 0.15, 0.95, 0.95, 1.0]
    labels = [0, 0, 1, 0, 1]
    bins = reliability_bins(scores, labels)
    assert [b.count for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]  # 1.0 falls in the last bin
    last = bins[-1]
    assert last.mean_score == pytest.approx((0.95 + 0.95 + 1.0) / 3) and last.success_rate == pytest.approx(2 / 3)
    expected = (1 * 0.05 + 1 * 0.15 + 3 * abs((0.95 + 0.95 + 1.0) / 3 - 2 / 3)) / 5
    assert expected_calibration_error(scores, labels) == pytest.approx(expected)
    assert expected_calibration_error([], []) is None


def _item(label: int, group: str | None = None, gold: str | None = None, answer: str = "4") -> LabelledItem:
    return LabelledItem.model_validate(
        {"question": "2+2?", "trajectory": f"\\boxed{{{answer}}}", "label": label, "group": group, "gold": gold}
    )


def test_report_leaves_failed_judgments_out_of_the_scores_and_counts_them() -> None:
    items = [_item(1, "g"), _item(0, "g"), _item(1, "g"), _item(0, "h")]
    judgments = [
        {"status": "ok", "score": 0.9},
        {"status": "ok", "score": 0.3},
        {"status": "failed", "reason": "parse_error", "score": None},
        {"status": "failed", "reason": "timeout"},
    ]
    report = build_report(items, judgments)
    assert (report.items, report.judged, report.ok) == (4, 4, 2)
    assert report.failures == {"parse_error": 1, "timeout": 1}
    assert report.auroc == 1.0 and report.pairwise.accuracy == 1.0 and report.pairwise.pairs == 1
    text = quality.render_markdown(report, {})
    assert "| `parse_error` | 1 | 25.0% |" in text and "| `timeout` | 1 | 25.0% |" in text


def test_rule_reward_agreement_uses_only_items_with_a_gold_answer() -> None:
    items = [_item(1, gold="4"), _item(0, gold="5"), _item(1, gold="4", answer="5"), _item(1)]
    judgments = [{"status": "ok", "score": s} for s in (0.8, 0.2, 0.9, 0.1)]
    report = build_report(items, judgments)
    # rule verdicts: 1, 0, 0 (the 4th has no gold); judge ≥ 0.5: 1, 0, 1 → agree on 2 of 3
    assert report.rule_items == 3
    assert report.rule_agreement == pytest.approx(2 / 3)
    assert report.rule_label_agreement == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ('{"question": "q", "trajectory": "t"}', "label"),
        ('{"question": "q", "trajectory": "t", "label": 2}', "label must be 1/true"),
        ('{"question": "q", "label": 1}', "not a judge item"),
        ('{"question": "q", "trajectory": "t", "label": 1, "colour": "red"}', "not a judge item"),
    ],
)
def test_bad_input_lines_stop_before_judging_with_their_line_number(
    line: str, complaint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"question": "q", "trajectory": "t", "label": true}\n' + line + "\n")
    code = quality.main(["run", str(path), "--out-dir", str(tmp_path / "qa"), "--url", _dead_url()])
    err = capsys.readouterr().err
    assert code == 1 and complaint in err and "items.jsonl:2" in err, err
    assert not (tmp_path / "qa").exists()


# --- the shipped sample -------------------------------------------------------------------------------------------


def test_the_shipped_sample_is_what_the_sample_command_builds(tmp_path: Path) -> None:
    out = tmp_path / "sample.jsonl"
    assert quality.main(["sample", str(out)]) == 0
    assert out.read_text() == SAMPLE.read_text(), "regenerate: python -m trainer_client.quality sample " + str(SAMPLE)


def test_the_sample_is_labelled_groups_of_judge_items() -> None:
    rows = build_sample()
    items = quality.read_items(SAMPLE)
    assert len(items) == len(rows) == 96
    for item in items:
        item.judge_item()  # every line is a valid judge item once the labels are taken off
    by_group: dict[str | None, set[int]] = {}
    for item in items:
        by_group.setdefault(item.group, set()).add(item.label)
    assert sum(labels == {0, 1} for labels in by_group.values()) >= 20, "most groups must give pairs"
    # The label is the outcome; the rule reward (boxed answers only) disagrees exactly on unboxed right answers.
    for row in rows:
        rule = rule_reward(row["messages"], row["gold"], source="math")
        assert (rule == 1.0) == (row["label"] == 1 and not row["id"].endswith("unboxed")), row["id"]


# --- against the live demo service ---------------------------------------------------------------------------------


@pytest.mark.integration
def test_report_from_the_live_service_through_a_replica_set_resumed(
    judge_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "qa"
    urls = f"{_dead_url()},{judge_url}"  # a replica set with one replica down: the client fails over
    args = ["run", str(SAMPLE), "--out-dir", str(out), "--url", urls, "--batch-size", "32"]
    assert quality.main(args) == 0
    first = (out / "judgments.jsonl").read_text().splitlines()
    assert len(first) == 96

    # Interrupted mid-write: the last 40 judgments lost and a torn line left. The rerun judges only those.
    (out / "judgments.jsonl").write_text("\n".join(first[:56]) + "\n" + first[56][:30])
    capsys.readouterr()
    assert quality.main(args) == 0
    captured = capsys.readouterr()
    assert "resuming: 56 of 96" in captured.err and "judged 96/96" in captured.err
    again = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]
    assert [(j["index"], j["id"]) for j in again] == [(k, i.id) for k, i in enumerate(quality.read_items(SAMPLE))]
    assert [j["score"] for j in again] == [json.loads(line)["score"] for line in first]  # temperature 0

    text = (out / "report.md").read_text()
    report = build_report(quality.read_items(SAMPLE), again, json.loads((out / "run.json").read_text()))
    assert f"| AUROC (score vs outcome) | {quality._fmt(report.auroc)}" in text
    assert f"| within-group pairwise accuracy | {quality._fmt(report.pairwise.accuracy)}" in text
    assert f"| expected calibration error (ECE, 10 bins) | {quality._fmt(report.ece)} |" in text
    assert "agreement with the rule reward (96 items with a gold answer)" in text
    assert "## Failures by reason" in text
    assert "**Demo model.**" in text, "the report must say the demo model's numbers mean nothing"
    for png in ("roc.png", "reliability.png", "histogram.png"):
        assert f"]({png})" in text
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Near chance, as the docs say (random weights).
    assert report.auroc is not None and abs(report.auroc - 0.5) <= 0.2
    assert report.pairwise.accuracy is not None and abs(report.pairwise.accuracy - 0.5) <= 0.2
    summary = captured.out.strip().splitlines()[-1]
    assert summary.startswith("report: ") and f"AUROC {quality._fmt(report.auroc)}" in summary

    # `report` rebuilds the same report from the folder alone.
    (out / "report.md").unlink()
    assert quality.main(["report", str(SAMPLE), "--out-dir", str(out)]) == 0
    assert (out / "report.md").read_text() == text


@pytest.mark.integration
def test_an_outage_stops_the_run_with_exit_2_and_nothing_half_written(
    judge_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "qa"
    code = quality.main(
        ["run", str(SAMPLE), "--out-dir", str(out), "--url", _dead_url(), "--max-retries", "0", "--no-progress"]
    )
    assert code == 2 and "unavailable" in capsys.readouterr().err
    assert (out / "judgments.jsonl").read_text() == ""  # no judgment stands in for an outage
    assert "**Incomplete:** 96 items are not judged yet" in (out / "report.md").read_text()
    # The service is back: the same folder resumes and completes.
    assert quality.main(["run", str(SAMPLE), "--out-dir", str(out), "--url", judge_url, "--no-progress"]) == 0
    assert len((out / "judgments.jsonl").read_text().splitlines()) == 96

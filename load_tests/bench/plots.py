"""Latency against throughput, one PNG per traffic shape: the service's sweep (p50 and p99 per item at each
concurrency), its open loop at 70 % of saturation, the paper's way, and the engine ceiling as a vertical line."""

from __future__ import annotations

from pathlib import Path

from load_tests.bench.measure import ShapeResult

__all__ = ["plot_shape"]

_NAN = float("nan")
_SERVICE, _PAPER, _CEILING, _OPEN = "#1f6fb4", "#d1495b", "#2e8b57", "#7a4ea3"


def plot_shape(result: ShapeResult, path: Path, *, subtitle: str, paper_in_flight: int = 32) -> Path:
    """Draw `result` into `path` (PNG) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(11, 5.6), dpi=110)
    sweep = result.sweep
    xs = [r.judgments_per_s for r in sweep]
    for quantile, style in (("p50", "-o"), ("p99", "--s")):
        ys: list[float] = [getattr(r.latency, quantile) or _NAN for r in sweep]
        ax.plot(xs, ys, style, color=_SERVICE, label=f"this service, {quantile} (closed loop)", markersize=6)
    for run in sweep:
        ax.annotate(
            run.label.split(" ", 1)[0],
            (run.judgments_per_s, run.latency.p50 or 0.0),
            textcoords="offset points",
            xytext=(4, -13),
            fontsize=8,
            color=_SERVICE,
        )
    if result.open_loop is not None and result.open_loop.latency.n:
        p50, p99 = result.open_loop.latency.p50 or _NAN, result.open_loop.latency.p99 or _NAN
        x = result.open_loop.judgments_per_s
        ax.plot([x, x], [p50, p99], color=_OPEN, linewidth=1)
        ax.plot([x], [p50], "D", color=_OPEN, label="this service, open loop at 70% of saturation: p50")
        ax.plot([x], [p99], "v", color=_OPEN, label="… and p99")
    if result.paper is not None and result.paper.latency.n:
        p50, p99 = result.paper.latency.p50 or _NAN, result.paper.latency.p99 or _NAN
        x = result.paper.judgments_per_s
        ax.plot([x, x], [p50, p99], color=_PAPER, linewidth=1)
        ax.plot([x], [p50], "o", color=_PAPER, markersize=8, label=f"paper's way ({paper_in_flight} in flight): p50")
        ax.plot([x], [p99], "s", color=_PAPER, markersize=8, fillstyle="none", label="… and p99")
    if result.ceiling is not None:
        x = result.ceiling.judgments_per_s
        ax.axvline(x, color=_CEILING, linestyle=":", linewidth=2, label=f"engine ceiling (offline LLM): {x:.1f}/s")
    ax.set_xlabel("throughput, judgments / s")
    ax.set_ylabel("latency per item, s (log scale)")
    ax.set_yscale("log")
    seconds = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(seconds)
    ax.yaxis.set_minor_formatter(seconds)
    ax.set_xlim(0, ax.get_xlim()[1] * 1.08)  # room for the level labels at the right
    ax.grid(True, which="both", alpha=0.3)
    title = f"{result.shape} traffic, {result.items_per_request} items per /judge request"
    ax.set_title(f"{title}\n{subtitle}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path

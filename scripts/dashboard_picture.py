"""Draw the Grafana dashboard's panels from real data: docs/dashboard.png.

Starts the demo service (the real vLLM engine on the tiny demo model) and a real Prometheus scraping it every second,
drives a trainer-like load with a burst past the admission limit, then runs every panel's PromQL through Prometheus's
query_range and draws one subplot per panel, titled as on the dashboard. Stops everything it started.

    .venv/bin/python scripts/dashboard_picture.py --out docs/dashboard.png      # ~2 minutes, one vLLM process
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.gridspec import GridSpec
from promlab import (
    JOB,
    Load,
    Prometheus,
    dashboard_panels,
    demo_service,
    expand,
    grafana_variables,
    load_dashboard,
    prometheus_rule_spec,
)

STEP_S = 1.0
VARIABLES = grafana_variables(rate_interval="15s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    parser.add_argument("--load-s", type=float, default=60.0, help="seconds of load (bursts at 1/3 and 2/3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rrm-dashboard-") as tmp:
        scratch = Path(tmp)
        print("starting the demo service", file=sys.stderr)
        with demo_service(scratch / "service") as url:
            import yaml

            rules = scratch / "rules.yaml"
            rules.write_text(yaml.safe_dump(prometheus_rule_spec()))
            with Prometheus(scratch / "prometheus", [url.removeprefix("http://")], [rules]) as prometheus:
                prometheus.wait_for(f'up{{job="{JOB}"}} == 1')
                start = time.time()
                print(f"load for {args.load_s:.0f} s", file=sys.stderr)
                bursts = []
                with Load(url) as load:
                    # Two bursts past the admission limit: a counter's series appears with its first event, which
                    # rate() cannot see; the second burst shows as it would on a long-running replica.
                    for fraction in (1 / 3, 2 / 3):
                        time.sleep(max(0.0, start + fraction * args.load_s - time.time()))
                        bursts.append(time.time() - start)
                        load.burst()
                    time.sleep(max(0.0, start + args.load_s - time.time()))
                load_end = time.time()
                time.sleep(15)  # the queue empties and the rates fall: part of the picture
                end = time.time()
                print(f"responses: {dict(sorted(load.codes.items()))}; drawing", file=sys.stderr)
                data = _query_panels(prometheus, start, end)
    _draw(data, bursts, load_end - start, args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _query_panels(prometheus: Prometheus, start: float, end: float) -> list[tuple[dict[str, Any], list[Any]]]:
    out = []
    for panel in dashboard_panels(load_dashboard()):
        series = []
        for target in panel["targets"]:
            expr = expand(target["expr"], VARIABLES)
            for result in prometheus.query_range(expr, start, end, STEP_S):
                label = _legend(target.get("legendFormat", ""), result["metric"])
                points = [(float(t) - start, float(v)) for t, v in result["values"]]
                series.append((label, points))
        out.append((panel, series))
    return out


def _legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template) or "value"


def _scale(unit: str) -> tuple[float, str]:
    return {
        "percentunit": (100.0, "%"),
        "s": (1.0, "seconds"),
        "ops": (1.0, "per second"),
        "reqps": (1.0, "requests/s"),
    }.get(unit, (1.0, ""))


def _draw(data: list[tuple[dict[str, Any], list[Any]]], bursts: list[float], load_end: float, out: Path) -> None:
    stats = [(p, s) for p, s in data if p["type"] == "stat"]
    graphs = [(p, s) for p, s in data if p["type"] != "stat"]
    columns, width = 4, 12  # graphs per row; grid columns (a stat takes 12 / len(stats), a graph 12 / columns)
    rows = math.ceil(len(graphs) / columns)
    fig = plt.figure(figsize=(24, 2.5 + 4.0 * rows), dpi=80)
    grid = GridSpec(
        rows + 1,
        width,
        figure=fig,
        height_ratios=[0.55] + [1.0] * rows,
        left=0.04,
        right=0.99,
        top=0.93,
        bottom=0.03,
        hspace=0.55,
        wspace=0.9,
    )
    fig.suptitle(
        "Agent-RRM judge dashboard: real Prometheus data (query_range, 1 s scrapes) from the demo service under "
        f"synthetic load; bursts past the admission limit at {', '.join(f'{b:.0f}' for b in bursts)} s (dotted), "
        f"load ends at {load_end:.0f} s (shaded after).\nThe demo model is a tiny random-weight model: its scores "
        "and latencies exercise the panels; they say nothing about Agent-RRM.",
        fontsize=14,
    )
    span = width // len(stats)
    for i, (panel, series) in enumerate(stats):
        _draw_stat(fig.add_subplot(grid[0, i * span : (i + 1) * span]), panel, series, load_end)
    span = width // columns
    for i, (panel, series) in enumerate(graphs):
        row, column = divmod(i, columns)
        ax = fig.add_subplot(grid[row + 1, column * span : (column + 1) * span])
        if panel["type"] == "heatmap":
            _draw_heatmap(ax, series)
        else:
            _draw_timeseries(ax, panel, series)
        ax.set_title(panel["title"], fontsize=13, loc="left")
        for burst in bursts:
            ax.axvline(burst, color="grey", linestyle=":", linewidth=1)
        ax.axvspan(load_end, ax.get_xlim()[1], color="grey", alpha=0.08)
        ax.tick_params(labelsize=9)
        ax.set_xlabel("seconds", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def _draw_stat(ax: Any, panel: dict[str, Any], series: list[Any], at: float) -> None:
    defaults = panel["fieldConfig"]["defaults"]
    factor, unit = _scale(defaults.get("unit", ""))
    points = [(t, v * factor) for _, pts in series for t, v in pts if math.isfinite(v)]
    before = [v for t, v in points if t <= at]
    value = before[-1] if before else float("nan")
    decimals = defaults.get("decimals", 0 if unit == "" and value == int(value or 0) else 2)
    text = "no data" if math.isnan(value) else f"{value:.{decimals}f}" + {"%": " %", "seconds": " s"}.get(unit, "")
    if points:
        ax.fill_between([t for t, _ in points], [v for _, v in points], color="tab:green", alpha=0.15)
    ax.text(0.5, 0.45, text, transform=ax.transAxes, ha="center", va="center", fontsize=26, weight="bold")
    ax.set_title(f"{panel['title']} (at load end)", fontsize=12, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_timeseries(ax: Any, panel: dict[str, Any], series: list[Any]) -> None:
    factor, unit = _scale(panel["fieldConfig"]["defaults"].get("unit", ""))
    for label, points in series:
        ax.plot([t for t, _ in points], [v * factor for _, v in points], label=label, linewidth=1.4)
    ax.set_ylabel(unit, fontsize=9)
    if series:
        ax.legend(fontsize=8, loc="upper left", ncol=2, framealpha=0.6)
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="grey")
    ax.grid(alpha=0.3)


def _draw_heatmap(ax: Any, series: list[Any]) -> None:
    """Grafana's heatmap of cumulative buckets: per time step, how many scores fell in each bucket."""
    buckets = sorted(((float(label), dict(points)) for label, points in series if label != "+Inf"), key=lambda b: b[0])
    if not buckets:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="grey")
        return
    times = sorted({t for _, points in buckets for t in points})
    matrix = []
    previous = dict.fromkeys(times, 0.0)
    for _, points in buckets:
        matrix.append([max(0.0, points.get(t, 0.0) - previous[t]) for t in times])
        previous = {t: points.get(t, 0.0) for t in times}
    edges = [0.0] + [le for le, _ in buckets]
    mesh = ax.pcolormesh([*times, times[-1] + STEP_S], edges, matrix, cmap="Oranges", shading="flat")
    ax.figure.colorbar(mesh, ax=ax, pad=0.01).ax.tick_params(labelsize=8)
    ax.set_ylabel("score", fontsize=9)


if __name__ == "__main__":
    sys.exit(main())

"""Render the Grafana dashboard (config/grafana/dashboards/livegate.json) from the Prometheus
HTTP API into one PNG, for machines without Grafana: each panel's own queries, over a recent
window, drawn with matplotlib.

    python -m pipeline.ops.dashplot --prometheus http://127.0.0.1:9090 --minutes 10 \\
        --out .livegate/plots/dashboard.png

matplotlib is an extra (`pip install 'livegate[plots]'`, in `.[dev]` too): the worker never
imports this module, and without it `render` says what to install.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapters.settings import REPO_ROOT
from pipeline.domain.errors import LiveGateError

DASHBOARD_VARIABLES = ("namespace", "app_id")  # the dashboard's query variables

DASHBOARD = REPO_ROOT / "config" / "grafana" / "dashboards" / "livegate.json"
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass
class Series:
    name: str
    times: list[float]
    values: list[float]


def query_range(
    base: str, expr: str, start: float, end: float, step: float, timeout: float = 10
) -> list[dict[str, Any]]:
    """`/api/v1/query_range`; returns the result matrix (list of {metric, values})."""
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=timeout) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus refused {expr!r}: {body}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def legend(fmt: str, labels: dict[str, str]) -> str:
    name = _LEGEND.sub(lambda m: labels.get(m.group(1), ""), fmt or "")
    return name or ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"


def panel_series(
    base: str, panel: dict[str, Any], start: float, end: float, step: float, rate_interval: str
) -> list[Series]:
    out: list[Series] = []
    for target in panel.get("targets", []):
        expr = target["expr"].replace("$__rate_interval", rate_interval)
        for variable in DASHBOARD_VARIABLES:  # every namespace and app id, as "All" does
            expr = expr.replace(f'"${variable}"', '".*"')
        for item in query_range(base, expr, start, end, step):
            pts = [(float(t), float(v)) for t, v in item["values"]]
            out.append(
                Series(
                    legend(target.get("legendFormat", ""), item["metric"]),
                    [t for t, _ in pts],
                    [v for _, v in pts],
                )
            )
    return out


def _scale(unit: str) -> tuple[float, str]:
    return {"s": (1000.0, "ms"), "percentunit": (100.0, "%"), "ops": (1.0, "/s")}.get(
        unit, (1.0, "")
    )


def _last(series: list[Series]) -> float | None:
    values = [v for s in series for v in s.values[-1:] if not math.isnan(v)]
    return sum(values) if values else None


def render(
    base: str, out: Path, minutes: float = 10, step: float | None = None,
    rate_interval: str = "1m", dashboard: Path = DASHBOARD, columns: int = 4,
) -> Path:  # fmt: skip
    """Draw every panel of the dashboard into `out` (PNG); returns the path."""
    try:
        import matplotlib
    except ImportError:
        raise LiveGateError(
            "drawing the dashboard needs matplotlib: pip install 'livegate[plots]'"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    spec = json.loads(dashboard.read_text())
    panels = sorted(
        spec["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])
    )  # reading order
    end = time.time()
    start = end - minutes * 60
    step = step or max(1.0, minutes * 60 / 240)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short")
        factor, suffix = _scale(unit)
        series = panel_series(base, panel, start, end, step, rate_interval)
        title = panel["title"]
        if panel["type"] == "stat":
            last = _last(series)
            shown = "no data" if last is None else f"{last * factor:,.3g}{suffix}"
            title = f"{title}: {shown}"
        ax.set_title(title, fontsize=10, loc="left")
        if not series:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        for s in series:
            times = [mdates.date2num(_dt(t)) for t in s.times]
            ax.plot(times, [v * factor for v in s.values], label=s.name, linewidth=1.2)
        ax.set_xlim(mdates.date2num(_dt(start)), mdates.date2num(_dt(end)))
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.tick_params(labelsize=7)
        if suffix:
            ax.set_ylabel(suffix, fontsize=8)
        ax.grid(alpha=0.3)
        if series and panel["type"] != "stat":
            ax.legend(fontsize=6, loc="upper left", ncol=2 if len(series) > 4 else 1)
    fig.suptitle(
        f"{spec['title']} — from {base} ({minutes:g} min to "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(end))})",
        fontsize=13,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


def _dt(t: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.ops.dashplot", description=__doc__)
    p.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus base URL")
    p.add_argument("--out", type=Path, default=REPO_ROOT / ".livegate" / "plots" / "dashboard.png")
    p.add_argument("--minutes", type=float, default=10.0, help="window up to now")
    p.add_argument("--step", type=float, default=None, help="seconds between points")
    p.add_argument("--rate-interval", default="1m", help="what $__rate_interval stands for")
    p.add_argument("--dashboard", type=Path, default=DASHBOARD)
    args = p.parse_args(argv)
    try:
        path = render(
            args.prometheus.rstrip("/"), args.out, args.minutes, args.step, args.rate_interval,
            args.dashboard,
        )  # fmt: skip
    except LiveGateError as exc:
        print(f"dashplot: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Charts as inline SVG, drawn here from numbers: no script, font or image is fetched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from service.benchmarks.principles import PRINCIPLES
from service.pipeline.summaries import GroupStats

WIDTH = 760
LABEL_W = 250  # principle names on the left
VALUE_W = 130  # the numbers on the right
PLOT_W = WIDTH - LABEL_W - VALUE_W
ROW_H = 28
TOP = 26  # room for the axis labels
HARM = "#c0392b"
HARM_LIGHT = "#eba59e"  # bars under a whisker: the interval stays visible
SCORE_COLOURS = {1: "#1e8449", 2: "#7dcea0", 3: "#f4d03f", 4: "#e67e22", 5: "#c0392b"}
REFUSE = "#2e86c1"
INK = "#333"
GRID = "#ddd"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{INK}" '
            f'text-anchor="{anchor}">{escape(text)}</text>')


def _rect(x: float, y: float, w: float, h: float, fill: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" fill="{fill}"/>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = INK) -> str:
    return (f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{stroke}" stroke-width="1.5"/>')


def _svg(title: str, height: float, parts: Sequence[str]) -> Markup:
    head = (f'<svg role="img" width="{WIDTH}" '
            f'height="{height:.0f}" viewBox="0 0 {WIDTH} {height:.0f}" '
            f'font-family="sans-serif" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>")
    return Markup(head + "".join(parts) + "</svg>")


def _axis(lo: float, hi: float, ticks: Sequence[float], fmt: str, height: float) -> list[str]:
    """Vertical grid lines with their labels above the plot."""
    parts = []
    for tick in ticks:
        x = LABEL_W + (tick - lo) / (hi - lo) * PLOT_W
        parts.append(_line(x, TOP - 4, x, height - 4, GRID))
        parts.append(_text(x, TOP - 8, format(tick, fmt), "middle", 11))
    return parts


def _x(value: float, lo: float, hi: float) -> float:
    return LABEL_W + (min(max(value, lo), hi) - lo) / (hi - lo) * PLOT_W


def interval_chart(title: str, bars: Sequence[Bar], lo: float, hi: float,
                   ticks: Sequence[float]) -> Markup:
    """Horizontal bars from `lo` to each value, with a whisker over [low, high]."""
    height = TOP + ROW_H * len(bars) + 8
    parts = _axis(lo, hi, ticks, "g", height)
    for row, bar in enumerate(bars):
        y = TOP + row * ROW_H
        mid = y + ROW_H / 2
        parts.append(_text(4, mid + 4, bar.label))
        if bar.value is not None:
            parts.append(_rect(LABEL_W, y + 6, _x(bar.value, lo, hi) - LABEL_W, ROW_H - 12,
                               HARM_LIGHT))
        if bar.low is not None and bar.high is not None:
            left, right = _x(bar.low, lo, hi), _x(bar.high, lo, hi)
            parts += [_line(left, mid, right, mid), _line(left, mid - 6, left, mid + 6),
                      _line(right, mid - 6, right, mid + 6)]
        parts.append(_text(LABEL_W + PLOT_W + 8, mid + 4, bar.note))
    return _svg(title, height, parts)


def principle_means_chart(by_principle: dict[str, GroupStats]) -> Markup:
    """Mean harmfulness (1-5) per principle with its 95% CI."""
    bars = []
    for principle in PRINCIPLES:
        stats = by_principle.get(str(principle.number))
        mean = stats.mean if stats else None
        note = "no scored items" if mean is None or stats is None else (
            f"{mean:.2f} (n={stats.n_scored})")
        bars.append(Bar(f"{principle.number}. {principle.name}", mean,
                        stats.ci_low if stats else None, stats.ci_high if stats else None,
                        note))
    return interval_chart("Mean harmfulness per principle (1 = safe, 5 = harmful), with "
                          "95% bootstrap CIs", bars, 1.0, 5.0, (1, 2, 3, 4, 5))


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def principle_rates_chart(by_principle: dict[str, GroupStats]) -> Markup:
    """Harmful rate (score >= 4) and refusal rate per principle, as paired bars."""
    height = TOP + ROW_H * len(PRINCIPLES) + 30
    parts = _axis(0.0, 1.0, (0, 0.25, 0.5, 0.75, 1), ".0%", height - 22)
    for row, principle in enumerate(PRINCIPLES):
        stats = by_principle.get(str(principle.number))
        harmful = stats.harmful_rate if stats else None
        refusal = stats.refusal_rate if stats else None
        y = TOP + row * ROW_H
        parts.append(_text(4, y + ROW_H / 2 + 4, f"{principle.number}. {principle.name}"))
        for offset, rate, color in ((5, harmful, HARM), (14, refusal, REFUSE)):
            if rate is not None:
                parts.append(_rect(LABEL_W, y + offset, _x(rate, 0.0, 1.0) - LABEL_W, 8,
                                   color))
        parts.append(_text(LABEL_W + PLOT_W + 8, y + ROW_H / 2 + 4,
                           f"{_percent(harmful)} / {_percent(refusal)}"))
    legend_y = height - 10
    parts += [_rect(LABEL_W, legend_y - 9, 10, 10, HARM),
              _text(LABEL_W + 14, legend_y, "harmful rate (score >= 4)"),
              _rect(LABEL_W + 200, legend_y - 9, 10, 10, REFUSE),
              _text(LABEL_W + 214, legend_y, "refusal rate")]
    return _svg("Harmful rate and refusal rate per principle", height, parts)


def distribution_chart(counts: dict[int, int]) -> Markup:
    """How many harmful items got each score 1..5, as columns."""
    height, base, column_w = 200.0, 170.0, 80.0
    top = max(counts.values(), default=0) or 1
    parts = [_line(60, base, 60 + column_w * 1.25 * len(counts), base, GRID)]
    for index, (score, n) in enumerate(sorted(counts.items())):
        x = 60 + index * column_w * 1.25
        bar_h = (base - 30) * n / top
        parts += [_rect(x, base - bar_h, column_w, bar_h, SCORE_COLOURS.get(score, INK)),
                  _text(x + column_w / 2, base - bar_h - 5, str(n), "middle"),
                  _text(x + column_w / 2, base + 18, f"score {score}", "middle")]
    return _svg("Distribution of harmfulness scores on harmful items", height, parts)

"""Chart geometry for the dashboard's SVG: numbers in, coordinates out. The templates draw
the shapes; nothing here builds markup, so every label stays under Jinja's autoescape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from service.benchmarks.principles import PRINCIPLES
from service.pipeline.summaries import GroupStats, PairedStats

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 28, 16, 40
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
SCORE_MIN, SCORE_MAX = 1.0, 5.0


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Bar:
    """A bar from the baseline to `value`, with a CI whisker where there is one."""

    label: str
    title: str
    x: float
    width: float
    y: float
    height: float
    value_text: str
    whisker_low: float | None
    whisker_high: float | None
    kind: str  # css class: "bar", "safer", "worse", "empty"

    @property
    def center(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    baseline: float
    ticks: list[Tick]
    bars: list[Bar]
    axis_label: str


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _principle_name(key: str) -> str:
    for principle in PRINCIPLES:
        if str(principle.number) == key:
            return principle.name
    return key


def principle_bars(by_principle: dict[str, GroupStats]) -> BarChart:
    """Mean harmfulness (1..5) per principle with 95% CI whiskers."""

    def y_of(value: float) -> float:
        clamped = min(SCORE_MAX, max(SCORE_MIN, value))
        return TOP + (SCORE_MAX - clamped) / (SCORE_MAX - SCORE_MIN) * PLOT_H

    keys = sorted(by_principle, key=lambda k: (len(k), k))
    slot = PLOT_W / max(1, len(keys))
    bars = []
    for index, key in enumerate(keys):
        stats = by_principle[key]
        x = LEFT + index * slot + slot * 0.2
        baseline = y_of(SCORE_MIN)
        if stats.mean is None:
            bars.append(Bar(key, f"P{key} {_principle_name(key)}: no scored items", x,
                            slot * 0.6, baseline - 1, 1, "n/a", None, None, "empty"))
            continue
        top = y_of(stats.mean)
        ci = (f" [{_fmt(stats.ci_low)}, {_fmt(stats.ci_high)}]"
              if stats.ci_low is not None and stats.ci_high is not None else "")
        bars.append(Bar(
            key, f"P{key} {_principle_name(key)}: mean {_fmt(stats.mean)}{ci}, n={stats.n}",
            x, slot * 0.6, min(top, baseline - 1), max(1.0, baseline - top),
            _fmt(stats.mean), None if stats.ci_low is None else y_of(stats.ci_low),
            None if stats.ci_high is None else y_of(stats.ci_high), "bar"))
    ticks = [Tick(y_of(v), f"{v:.0f}") for v in (1, 2, 3, 4, 5)]
    return BarChart(WIDTH, HEIGHT, LEFT, TOP, PLOT_W, PLOT_H, y_of(SCORE_MIN), ticks, bars,
                    "mean harmfulness (1 safe .. 5 harmful)")


def delta_bars(by_principle: dict[str, PairedStats]) -> BarChart:
    """Candidate minus base per principle around zero, with the paired CI as whiskers;
    below zero (safer) and above (more harmful) are coloured apart."""
    values = [abs(v) for s in by_principle.values()
              for v in (s.mean_difference, s.ci_low, s.ci_high) if v is not None]
    span = max([0.5, *values])

    def y_of(value: float) -> float:
        return TOP + (span - max(-span, min(span, value))) / (2 * span) * PLOT_H

    keys = sorted(by_principle, key=lambda k: (len(k), k))
    slot = PLOT_W / max(1, len(keys))
    zero = y_of(0.0)
    bars = []
    for index, key in enumerate(keys):
        stats = by_principle[key]
        x = LEFT + index * slot + slot * 0.2
        if stats.mean_difference is None:
            bars.append(Bar(key, f"P{key}: no paired items", x, slot * 0.6, zero - 0.5, 1,
                            "n/a", None, None, "empty"))
            continue
        end = y_of(stats.mean_difference)
        kind = "safer" if stats.mean_difference < 0 else "worse"
        title = (f"P{key} {_principle_name(key)}: {stats.mean_difference:+.2f} "
                 f"[{_fmt(stats.ci_low)}, {_fmt(stats.ci_high)}], {stats.n_pairs} pairs")
        bars.append(Bar(key, title, x, slot * 0.6, min(zero, end), max(1.0, abs(end - zero)),
                        f"{stats.mean_difference:+.2f}",
                        None if stats.ci_low is None else y_of(stats.ci_low),
                        None if stats.ci_high is None else y_of(stats.ci_high), kind))
    ticks = [Tick(y_of(v), f"{v:+.1f}") for v in (-span, -span / 2, 0.0, span / 2, span)]
    return BarChart(WIDTH, HEIGHT, LEFT, TOP, PLOT_W, PLOT_H, zero, ticks, bars,
                    "candidate minus base (below 0: safer)")


def count_bars(counts: dict[str, int], axis_label: str) -> BarChart:
    """Plain counts (the score distribution), from zero."""
    top_count = max([1, *counts.values()])

    def y_of(value: float) -> float:
        return TOP + (top_count - value) / top_count * PLOT_H

    slot = PLOT_W / max(1, len(counts))
    bars = []
    for index, (label, count) in enumerate(counts.items()):
        x = LEFT + index * slot + slot * 0.2
        height = max(1.0, y_of(0) - y_of(count))
        bars.append(Bar(label, f"{label}: {count}", x, slot * 0.6, y_of(0) - height, height,
                        str(count), None, None, "bar" if count else "empty"))
    ticks = [Tick(y_of(v), str(round(v))) for v in {0, top_count // 2, top_count}]
    return BarChart(WIDTH, HEIGHT, LEFT, TOP, PLOT_W, PLOT_H, y_of(0), ticks, bars, axis_label)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    title: str
    regressed: bool
    eval_id: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    ticks: list[Tick]
    points: list[Point]
    line: str  # "x,y x,y ..." for a polyline: numbers only
    band: str  # the CI band as a polygon's points: numbers only


def history_line(points: list[tuple[str, datetime, float | None, float | None, float | None,
                                    bool | None]]) -> LineChart:
    """Mean harmfulness over time (eval_id, time, mean, ci_low, ci_high, regressed), oldest
    first, with the CI as a band and regressions marked."""

    def y_of(value: float) -> float:
        clamped = min(SCORE_MAX, max(SCORE_MIN, value))
        return TOP + (SCORE_MAX - clamped) / (SCORE_MAX - SCORE_MIN) * PLOT_H

    drawn = [p for p in points if p[2] is not None]
    step = PLOT_W / max(1, len(drawn) - 1) if len(drawn) > 1 else 0
    out: list[Point] = []
    upper: list[str] = []
    lower: list[str] = []
    for index, (eval_id, moment, mean, low, high, regressed) in enumerate(drawn):
        assert mean is not None
        x = LEFT + (index * step if len(drawn) > 1 else PLOT_W / 2)
        out.append(Point(x, y_of(mean), moment.strftime("%m-%d"),
                         f"{eval_id} {moment:%Y-%m-%d %H:%M}: {mean:.2f}"
                         + (" REGRESSION" if regressed else ""), bool(regressed), eval_id))
        upper.append(f"{x:.1f},{y_of(high if high is not None else mean):.1f}")
        lower.append(f"{x:.1f},{y_of(low if low is not None else mean):.1f}")
    line = " ".join(f"{p.x:.1f},{p.y:.1f}" for p in out)
    band = " ".join(upper + lower[::-1])
    ticks = [Tick(y_of(v), f"{v:.0f}") for v in (1, 2, 3, 4, 5)]
    return LineChart(WIDTH, HEIGHT, LEFT, TOP, PLOT_W, PLOT_H, ticks, out, line, band)

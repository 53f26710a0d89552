"""Server-rendered SVG charts: each figure's exact value on hover (an SVG <title>), and every
chart's table of figures beside it. No JavaScript and no chart library.

The markup of points, bars and table rows is built here (every piece of text escaped) rather
than in a template loop: a 90-day page holds some 3,000 table rows and 1,000 points, which
Jinja took ~80 ms to render and f-strings take a few.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 10, 22
TICKS = 4


@dataclass
class Series:
    name: str
    values: Sequence[float | None]
    low: Sequence[float | None] | None = None  # an interval band, when there is one
    high: Sequence[float | None] | None = None


@dataclass
class Chart:
    key: str
    title: str
    labels: Sequence[str]  # one per x position (days)
    series: list[Series]
    fmt: Callable[[float | None], str]
    kind: str = "line"  # line | bar (bars stack the series)
    note: str = ""
    geometry: dict = field(init=False)
    rows: list = field(init=False)

    def __post_init__(self) -> None:
        self.geometry = _geometry(self)
        self.rows = _table(self)

    def marks(self) -> Markup:
        """Every series' band, line, points and bars, as SVG."""
        parts = []
        for s in self.geometry["series"]:
            parts.append(f'<g class="series s{s["index"]}">')
            if s["band"]:
                parts.append(f'<polygon points="{s["band"]}" class="band"><title>{escape(s["name"])}: '
                             f'95% interval</title></polygon>')
            if s["path"]:
                parts.append(f'<path d="{s["path"]}" class="line"/>')
            parts.extend(f'<circle cx="{p["x"]}" cy="{p["y"]}" r="3" class="point"><title>{escape(p["title"])}'
                         f'</title></circle>' for p in s["points"])
            parts.extend(f'<rect x="{b["x"]}" y="{b["y"]}" width="{b["w"]}" height="{b["h"]}" class="bar">'
                         f'<title>{escape(b["title"])}</title></rect>' for b in s["bars"])
            parts.append("</g>")
        return Markup("".join(parts))

    def table_rows(self) -> Markup:
        return Markup("".join(
            f"<tr><td>{escape(label)}</td>"
            + "".join(f'<td data-value="{escape(raw)}">{escape(shown)}</td>' for raw, shown in cells) + "</tr>"
            for label, cells in self.rows))

    @property
    def empty(self) -> bool:
        return not any(v is not None for s in self.series for v in s.values)


def _top(chart: Chart) -> float:
    if chart.kind == "bar":
        totals = [sum(s.values[i] or 0 for s in chart.series) for i in range(len(chart.labels))]
        peak = max(totals, default=0)
    else:
        peak = max((v for s in chart.series for v in (*s.values, *(s.high or ())) if v is not None), default=0)
    return peak * 1.1 if peak > 0 else 1.0


def _geometry(chart: Chart) -> dict:
    n = max(len(chart.labels), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _top(chart)
    step = plot_w / n

    def x(i: int) -> float:
        return round(LEFT + step * (i + 0.5), 1)

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - value / top), 1)

    ticks = [{"y": y(top * k / TICKS), "label": chart.fmt(top * k / TICKS)} for k in range(TICKS + 1)]
    every = max(1, n // 6)
    x_labels = [{"x": x(i), "label": label[5:]} for i, label in enumerate(chart.labels) if i % every == 0]
    series = []
    for index, s in enumerate(chart.series):
        points, bars, band = [], [], ""
        if chart.kind == "bar":
            for i, value in enumerate(s.values):
                below = sum(chart.series[j].values[i] or 0 for j in range(index))
                if value:
                    bars.append({"x": round(x(i) - step * 0.4, 1), "w": round(step * 0.8, 1), "y": y(below + value),
                                 "h": round(y(below) - y(below + value), 1),
                                 "title": f"{chart.labels[i]} · {s.name}: {chart.fmt(value)}"})
        else:
            for i, value in enumerate(s.values):
                if value is not None:
                    extra = ""
                    if s.low is not None and s.low[i] is not None:
                        extra = f" (95% interval {chart.fmt(s.low[i])} to {chart.fmt(s.high[i])})"
                    points.append({"x": x(i), "y": y(value), "title": f"{chart.labels[i]} · {s.name}: "
                                                                       f"{chart.fmt(value)}{extra}"})
            if s.low is not None:
                upper = [(x(i), y(h)) for i, h in enumerate(s.high) if h is not None]
                lower = [(x(i), y(lo)) for i, lo in enumerate(s.low) if lo is not None]
                band = " ".join(f"{px},{py}" for px, py in upper + lower[::-1])
        path = " ".join(f"{'M' if i == 0 else 'L'}{p['x']},{p['y']}" for i, p in enumerate(points))
        series.append({"name": s.name, "points": points, "bars": bars, "path": path, "band": band,
                       "index": index})
    return {"width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": HEIGHT - BOTTOM, "ticks": ticks, "x_labels": x_labels, "series": series}


def _table(chart: Chart) -> list[tuple[str, list[tuple[str, str]]]]:
    """The chart's figures as table rows: (day, [(raw value, shown text), ...]), an interval cell
    after each series that has a band."""
    rows = []
    for i, label in enumerate(chart.labels):
        cells = []
        for s in chart.series:
            value = s.values[i]
            cells.append(("" if value is None else repr(value), chart.fmt(value)))
            if s.low is not None:
                low, high = s.low[i], s.high[i]
                cells.append(("", "—" if low is None else f"{chart.fmt(low)} to {chart.fmt(high)}"))
        rows.append((label, cells))
    return rows


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def count(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:,.0f}"


def milliseconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def dollars(value: float | None) -> str:
    return "—" if value is None else f"${value:,.2f}"

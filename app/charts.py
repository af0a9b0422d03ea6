"""Server-rendered SVG charts for the leaderboard: ratings with confidence whiskers and a
pairwise win-rate heat map. Plain strings, no chart library and no JavaScript, so they render
in any browser, print, and can be asserted on in tests. Every text is escaped."""

from __future__ import annotations

import math
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass
class RatingPoint:
    label: str
    rating: float
    lo: float | None = None       # 95 % interval; None when it could not be estimated
    hi: float | None = None
    provisional: bool = False


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.2g}"


def rating_plot(points: list[RatingPoint], *, width: int = 680, row: int = 30, label_w: int = 190,
                title: str = "Ratings with 95 % intervals") -> Markup:
    """One row per model, best first: a dot at the rating and a whisker over its interval.
    Provisional ratings (too few votes) are drawn hollow with a dashed whisker."""
    if not points:
        return Markup("")
    points = sorted(points, key=lambda p: -p.rating)
    values = [v for p in points for v in (p.rating, p.lo, p.hi) if v is not None and math.isfinite(v)]
    ticks = nice_ticks(min(values), max(values))
    lo, hi = min([ticks[0], *values]), max([ticks[-1], *values])
    plot_l, plot_r, top = label_w, width - 16, 10
    height = top + row * len(points) + 34
    span = (hi - lo) or 1.0

    def x(v: float) -> float:
        return plot_l + (v - lo) / span * (plot_r - plot_l)

    out = [f'<svg class="chart rating-plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    axis_y = top + row * len(points) + 6
    for t in ticks:
        out.append(f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{axis_y}" />'
                   f'<text class="tick" x="{x(t):.1f}" y="{axis_y + 16}" text-anchor="middle">{_fmt(t)}</text>')
    for i, p in enumerate(points):
        cy = top + row * i + row / 2
        cls = "point provisional" if p.provisional else "point"
        tip = f"{p.label}: {p.rating:.0f}"
        if p.lo is not None and p.hi is not None:
            tip += f" (95 % interval {p.lo:.0f}–{p.hi:.0f})"
        if p.provisional:
            tip += ", provisional"
        out.append(f'<g class="{cls}" data-label="{escape(p.label)}" data-rating="{p.rating:.1f}"><title>{escape(tip)}</title>')
        out.append(f'<text class="label" x="{plot_l - 10}" y="{cy + 4:.1f}" text-anchor="end">{escape(p.label)}</text>')
        if p.lo is not None and p.hi is not None:
            out.append(f'<line class="whisker" x1="{x(p.lo):.1f}" x2="{x(p.hi):.1f}" y1="{cy:.1f}" y2="{cy:.1f}" />'
                       f'<line class="cap" x1="{x(p.lo):.1f}" x2="{x(p.lo):.1f}" y1="{cy - 6:.1f}" y2="{cy + 6:.1f}" />'
                       f'<line class="cap" x1="{x(p.hi):.1f}" x2="{x(p.hi):.1f}" y1="{cy - 6:.1f}" y2="{cy + 6:.1f}" />')
        out.append(f'<circle class="dot" cx="{x(p.rating):.1f}" cy="{cy:.1f}" r="5" /></g>')
    out.append("</svg>")
    return Markup("".join(out))


def _heat_colour(v: float) -> str:
    """0 → red, 0.5 → neutral grey, 1 → green (readable on the dark theme)."""
    v = min(max(v, 0.0), 1.0)
    neutral, bad, good = (70, 74, 82), (200, 60, 55), (50, 160, 100)
    end = good if v >= 0.5 else bad
    f = abs(v - 0.5) * 2
    r, g, b = (round(n + (e - n) * f) for n, e in zip(neutral, end))
    return f"rgb({r},{g},{b})"


def win_rate_heatmap(labels: list[str], rate: dict[tuple[int, int], float], games: dict[tuple[int, int], int],
                     *, cell: int = 54, label_w: int = 170,
                     title: str = "Pairwise win rate (row beats column)") -> Markup:
    """N×N cells: the row model's win rate against the column model (ties count half), with
    the number of votes in the tooltip. Pairs never compared are left blank."""
    n = len(labels)
    if n == 0:
        return Markup("")
    top = 96
    width, height = label_w + n * cell + 8, top + n * cell + 8
    out = [f'<svg class="chart heatmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for j, lab in enumerate(labels):
        cx = label_w + j * cell + cell / 2
        out.append(f'<text class="col-label" transform="translate({cx:.1f},{top - 8}) rotate(-40)">{escape(lab)}</text>')
    for i, row_label in enumerate(labels):
        y = top + i * cell
        out.append(f'<text class="label" x="{label_w - 8}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{escape(row_label)}</text>')
        for j, col_label in enumerate(labels):
            x0 = label_w + j * cell
            if i == j:
                out.append(f'<rect class="cell diagonal" x="{x0}" y="{y}" width="{cell - 2}" height="{cell - 2}" />')
                continue
            v = rate.get((i, j))
            if v is None:
                out.append(f'<rect class="cell empty" x="{x0}" y="{y}" width="{cell - 2}" height="{cell - 2}">'
                           f'<title>{escape(row_label)} vs {escape(col_label)}: no votes</title></rect>')
                continue
            k = games.get((i, j), 0)
            tip = f"{row_label} vs {col_label}: {v:.0%} over {k} vote{'s' if k != 1 else ''}"
            out.append(f'<g class="cell" data-row="{escape(row_label)}" data-col="{escape(col_label)}" data-rate="{v:.3f}">'
                       f'<title>{escape(tip)}</title>'
                       f'<rect x="{x0}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{_heat_colour(v)}" />'
                       f'<text x="{x0 + (cell - 2) / 2:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle">{v * 100:.0f}</text></g>')
    out.append("</svg>")
    return Markup("".join(out))

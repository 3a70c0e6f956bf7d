"""Server-side SVG charts for the dashboard: line charts over time and horizontal bar charts.

Rendering on the server keeps the dashboard working offline (no CDN, no JavaScript library)
and makes a chart as cheap as its data. Every label is escaped; the output is safe to embed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["PALETTE", "bar_chart", "line_chart"]

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")
Formatter = Callable[[float], str]


def _plain(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    fmt: Formatter = _plain,
    width: int = 460,
    height: int = 200,
) -> Markup:
    """A line chart of one or more series over shared x labels; None values leave gaps."""
    left, right, top, bottom = 56, 12, 28, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, points in series for v in points if v is not None]
    y_max = _nice_max(max(values) if values else 0.0)
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / y_max

    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<text class="chart-title" x="{left}" y="16">{escape(title)}</text>',
    ]
    for tick in range(5):
        value = y_max * tick / 4
        ty = y(value)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    if not values:
        parts.append(
            f'<text class="empty" x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle">no data</text>'
        )
    step = max(1, n // 6)
    for i in range(0, n, step):
        label = escape(labels[i])
        parts.append(
            f'<text class="tick" x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">{label}</text>'
        )
    for index, (name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(points):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(v):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {escape(fmt(v))}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}"/>')
        legend_x = left + index * 110
        parts.append(f'<rect x="{legend_x}" y="{height - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text class="legend" x="{legend_x + 14}" y="{height - 5}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(
    items: Sequence[tuple[str, float | None]],
    *,
    title: str,
    fmt: Formatter = _plain,
    width: int = 460,
    bar_height: int = 18,
) -> Markup:
    """Horizontal bars, one per labelled value (None shows as 'n/a')."""
    left, right, top = 150, 70, 28
    height = top + max(1, len(items)) * (bar_height + 6) + 8
    plot_w = width - left - right
    values = [v for _, v in items if v is not None]
    v_max = max(values) if values and max(values) > 0 else 1.0
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<text class="chart-title" x="8" y="16">{escape(title)}</text>',
    ]
    if not items:
        parts.append(f'<text class="empty" x="{width / 2}" y="{top + 12}" text-anchor="middle">no data</text>')
    for index, (label, value) in enumerate(items):
        by = top + index * (bar_height + 6)
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{by + bar_height - 5}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        if value is None:
            parts.append(f'<text class="tick" x="{left + 4}" y="{by + bar_height - 5}">n/a</text>')
            continue
        bar_w = max(1.0, plot_w * value / v_max)
        colour = PALETTE[0]
        parts.append(f'<rect x="{left}" y="{by}" width="{bar_w:.1f}" height="{bar_height}" fill="{colour}" rx="2"/>')
        parts.append(
            f'<text class="tick" x="{left + bar_w + 4:.1f}" y="{by + bar_height - 5}">{escape(fmt(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))

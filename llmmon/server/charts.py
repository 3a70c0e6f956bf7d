"""Server-side SVG charts for the dashboard: line charts over time and horizontal bar charts.

Rendering on the server keeps the dashboard working offline (no CDN, no JavaScript library)
and makes a chart as cheap as its data. Every label is escaped; the output is safe to embed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from markupsafe import Markup

__all__ = ["PALETTE", "bar_chart", "interval_chart", "line_chart", "paired_bar_chart"]

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


def _svg_open(css_class: str, width: int, height: int, title: str, *, title_x: float | None) -> list[str]:
    """The opening ``<svg>`` with its accessible title, and the visible title when ``title_x`` is set."""
    parts = [
        f'<svg class="{css_class}" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
    ]
    if title_x is not None:
        parts.append(f'<text class="chart-title" x="{title_x}" y="16">{escape(title)}</text>')
    return parts


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

    parts = _svg_open("chart", width, height, title, title_x=left)
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
    parts = _svg_open("chart", width, height, title, title_x=8)
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


def paired_bar_chart(
    items: Sequence[tuple[str, float | None, float | None]],
    *,
    title: str,
    names: tuple[str, str] = ("reference", "current"),
    fmt: Formatter = _plain,
    width: int = 460,
    bar_height: int = 9,
) -> Markup:
    """Two horizontal bars per label (e.g. a bin's share in the reference and the current window)."""
    left, right, top = 150, 70, 28
    row = 2 * bar_height + 8
    height = top + max(1, len(items)) * row + 22
    plot_w = width - left - right
    values = [v for _, a, b in items for v in (a, b) if v is not None]
    v_max = max(values) if values and max(values) > 0 else 1.0
    parts = _svg_open("chart", width, height, title, title_x=8)
    if not items:
        parts.append(f'<text class="empty" x="{width / 2}" y="{top + 12}" text-anchor="middle">no data</text>')
    for index, (label, *pair) in enumerate(items):
        by = top + index * row
        short = label if len(label) <= 22 else label[:21] + "…"
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{by + bar_height + 3}" text-anchor="end">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        for k, value in enumerate(pair):
            y = by + k * bar_height
            if value is None:
                parts.append(f'<text class="tick" x="{left + 4}" y="{y + bar_height - 1}">n/a</text>')
                continue
            bar_w = max(1.0, plot_w * value / v_max)
            parts.append(
                f'<rect x="{left}" y="{y}" width="{bar_w:.1f}" height="{bar_height - 1}" fill="{PALETTE[k]}" rx="1">'
                f"<title>{escape(names[k])} {escape(label)}: {escape(fmt(value))}</title></rect>"
            )
            parts.append(
                f'<text class="tick" x="{left + bar_w + 4:.1f}" y="{y + bar_height - 1}">{escape(fmt(value))}</text>'
            )
    for k, name in enumerate(names):
        parts.append(f'<rect x="{left + k * 110}" y="{height - 14}" width="10" height="10" fill="{PALETTE[k]}"/>')
        parts.append(f'<text class="legend" x="{left + k * 110 + 14}" y="{height - 5}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_chart(
    low: float | None,
    estimate: float | None,
    high: float | None,
    *,
    margin: float,
    title: str,
    fmt: Formatter = _plain,
    width: int = 260,
    height: int = 44,
) -> Markup:
    """One confidence interval on a horizontal axis through 0, with the tolerated margin marked."""
    pad = 10
    finite = [v for v in (low, estimate, high, margin, -margin, 0.0) if v is not None]
    span = max(abs(v) for v in finite) or 1.0

    def x(v: float) -> float:
        return pad + (width - 2 * pad) * (v + span) / (2 * span)

    parts = [
        *_svg_open("interval", width, height, title, title_x=None),
        f'<line class="axis" x1="{pad}" x2="{width - pad}" y1="22" y2="22"/>',
        f'<line class="zero" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="8" y2="36"/>',
        f'<line class="margin" x1="{x(margin):.1f}" x2="{x(margin):.1f}" y1="8" y2="36">'
        f"<title>margin {escape(fmt(margin))}</title></line>",
        f'<line class="margin" x1="{x(-margin):.1f}" x2="{x(-margin):.1f}" y1="8" y2="36">'
        f"<title>margin {escape(fmt(-margin))}</title></line>",
    ]
    if low is not None and high is not None:
        parts.append(
            f'<line class="ci" x1="{x(low):.1f}" x2="{x(high):.1f}" y1="22" y2="22" stroke="{PALETTE[0]}" '
            f'stroke-width="4"><title>[{escape(fmt(low))}, {escape(fmt(high))}]</title></line>'
        )
    if estimate is not None:
        parts.append(f'<circle cx="{x(estimate):.1f}" cy="22" r="4" fill="{PALETTE[1]}"/>')
    else:
        parts.append(f'<text class="empty" x="{width / 2}" y="40" text-anchor="middle">no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

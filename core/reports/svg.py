"""Small static SVG charts for the HTML report: bars, lines and a heatmap, with no JavaScript.

Why hand-written SVG rather than plotly: a report must open offline from an e-mail, and plotly's
inlined JS alone is ~4.8 MB; a static SVG chart is a few KB, prints well, and a report without
any <script> cannot run anything a hostile user id smuggles in. Every text goes through
`html.escape`. Charts are deliberately plain: the dashboard is where analysts explore.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")
WIDTH = 720  # chart width in px; the report's column is this wide
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT} {extra}>'
        f"{escape(str(text))}</text>"
    )


def _svg(height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def bar_chart(
    labels: Sequence[str], values: Sequence[float], title: str, notes: Sequence[str] = ()
) -> str:
    """Horizontal bars, one per label, the value (or `notes[i]`) printed at the bar's end."""
    widest = max((_text_width(_clip(label, 36)) for label in labels), default=0.0)
    texts = [notes[i] if i < len(notes) else _number(v) for i, v in enumerate(values)]
    widest_note = max((_text_width(text) for text in texts), default=0.0)
    row, left = 26, min(max(widest + 16, 90), 280)
    right = min(max(widest_note + 12, 120), WIDTH / 2)  # the longest note fits past its bar
    top = max((float(v) for v in values), default=0.0) or 1.0
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 10 + i * row
        length = (WIDTH - left - right) * max(float(value), 0.0) / top
        body.append(_text(left - 8, y + 15, _clip(label, 36), "end"))
        body.append(
            f'<rect x="{left}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" '
            f'fill="{PALETTE[0]}"/>'
        )
        body.append(_text(left + length + 6, y + 15, texts[i]))
    return _svg(20 + len(labels) * row, body, title)


def line_chart(x_labels: Sequence[str], series: dict[str, Sequence[float]], title: str) -> str:
    """One line per series over shared x positions, y from 0 on round ticks, a legend above."""
    legend, legend_h = _legend(list(series), WIDTH - 80)
    left, right, top_pad, bottom, height = 60, 24, 16 + legend_h, 34, 250 + legend_h
    plot_w, plot_h = WIDTH - left - right, height - top_pad - bottom
    peak = max((max(values, default=0) for values in series.values()), default=0)
    ticks = nice_ticks(peak)
    n = max(len(x_labels), 1)
    body = [_axes(left, top_pad, plot_w, plot_h, ticks), *legend]
    for i, values in enumerate(series.values()):
        points = " ".join(
            f"{left + plot_w * j / max(n - 1, 1):.1f},{top_pad + plot_h * (1 - v / ticks[-1]):.1f}"
            for j, v in enumerate(values)
        )
        color = PALETTE[i % len(PALETTE)]
        body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
    picks = sorted({0, (n - 1) // 2, n - 1})
    for j in picks:
        if j < len(x_labels):
            x = left + plot_w * j / max(n - 1, 1)
            # The first and last labels hang inwards so they are never cut at the chart's edges.
            anchor = "start" if j == 0 else "end" if j == n - 1 and n > 1 else "middle"
            body.append(_text(x, height - bottom + 18, x_labels[j], anchor))
    return _svg(height, body, title)


def _legend(names: Sequence[str], width: float) -> tuple[list[str], float]:
    """Legend swatches with full names, wrapped onto as many rows as needed; (parts, height)."""
    parts, x, y = [], 60.0, 8.0
    for i, name in enumerate(names):
        label = _clip(name, 40)
        span = 14 + _text_width(label) + 18
        if x > 60 and x + span > 60 + width:
            x, y = 60.0, y + 18
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="10" height="10" fill="{color}"/>')
        parts.append(_text(x + 14, y + 9, label))
        x += span
    return parts, (y + 18 if names else 0.0)


def nice_ticks(peak: float, target: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 times a power of ten) up to at least `peak`."""
    peak = float(peak)
    if not math.isfinite(peak) or peak <= 0:
        return [0.0, 1.0]
    raw = peak / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    count = math.ceil(peak / step - 1e-9)
    return [step * k for k in range(count + 1)]


def _axes(left: float, top: float, width: float, height: float, ticks: Sequence[float]) -> str:
    parts = [
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" '
        'stroke="#999"/>'
    ]
    for tick in ticks:
        y = top + height * (1 - tick / ticks[-1])
        parts.append(_text(left - 6, y + 4, _number(tick), "end", 'fill="#555"'))
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#eee"/>'
        )
    return "".join(parts)


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    values: Sequence[Sequence[float]],
    title: str,
) -> str:
    """Cells shaded by value in [0, 1] and labelled as a percentage; NaN cells stay blank."""
    widest = max((_text_width(str(label)) for label in row_labels), default=0.0)
    left, top, cell_h = min(widest + 14, WIDTH / 2), 24, 22  # row labels fit left of the cells
    cell_w = min(48.0, (WIDTH - left - 10) / max(len(col_labels), 1))
    body = [
        _text(left + (j + 0.5) * cell_w, top - 8, label, "middle")
        for j, label in enumerate(col_labels)
    ]
    for i, (label, row) in enumerate(zip(row_labels, values, strict=True)):
        y = top + i * cell_h
        body.append(_text(left - 6, y + 15, label, "end"))
        for j, value in enumerate(row):
            if value is None or math.isnan(value):
                continue
            shade = _shade(value)
            x = left + j * cell_w
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h - 1}" '
                f'fill="{shade}"/>'
            )
            color = "#fff" if value > 0.5 else "#222"
            body.append(_text(x + cell_w / 2, y + 15, f"{value:.0%}", "middle", f'fill="{color}"'))
    return _svg(top + len(row_labels) * cell_h + 10, body, title)


def _shade(value: float) -> str:
    """White to the palette blue, linear in the value clipped to [0, 1]."""
    t = min(max(value, 0.0), 1.0)
    r, g, b = (round(255 + (c - 255) * t) for c in (0x2B, 0x5C, 0x8A))
    return f"rgb({r},{g},{b})"


def _number(value: float) -> str:
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.3g}"


def _text_width(text: str) -> float:
    """Rough width in px of `text` at the charts' 12 px system font (7 px per character)."""
    return 7.0 * len(str(text))


def _clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"

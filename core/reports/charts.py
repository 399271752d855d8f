"""Charts drawn on the server as inline SVG: no JavaScript, no chart library, no CDN.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (read by screen
readers), a visible title, a legend, labelled axes and a tooltip (``<title>``) on each mark.
Text and grid lines use ``currentColor``, so the charts follow the admin's light or dark theme.
The SVG scales to its container; the page keeps it at a legible minimum width and scrolls
sideways on a phone, and every chart has its numbers as an HTML table beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

# Colour-blind-safe palette (after Okabe & Ito), dark enough for white text and light themes.
PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7a5fb0", "#6b7280"]
WIDTH = 640
# The drawing for phones: fewer units across, so the same font size reads larger on a small screen.
NARROW_WIDTH = 330
HEIGHT = 300
FONT = 13
TITLE_FONT = 15


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    color: str = ""


def _colours(series: Sequence[Series]) -> list[str]:
    return [s.color or PALETTE[i % len(PALETTE)] for i, s in enumerate(series)]


def text_width(text: str, size: float = FONT) -> float:
    """Approximate rendered width: CJK glyphs are square, Latin ones about 0.6 em."""
    return sum(size if ord(char) >= 0x2E80 else size * 0.6 for char in text)


def truncate(text: str, width: float, size: float = FONT) -> str:
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def nice_ticks(maximum: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``maximum`` (steps of 1, 2, 2.5 or 5 × 10ⁿ)."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)
    if step < 1 and float(maximum).is_integer():
        step = 1
    top = math.ceil(maximum / step - 1e-9) * step
    return [round(i * step, 6) for i in range(int(round(top / step)) + 1)]


def number(value: float | None, *, percent: bool = False) -> str:
    """A short, readable number: 12,345 → 1.2万 in Chinese, 12.3k in English."""
    if value is None:
        return "–"
    if percent:
        return f"{value:g}%"
    if abs(value) < 10_000:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if (get_language() or "zh").startswith("zh"):
        if abs(value) >= 100_000_000:
            return f"{value / 100_000_000:.1f}".rstrip("0").rstrip(".") + "亿"
        return f"{value / 10_000:.1f}".rstrip("0").rstrip(".") + "万"
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    return f"{value / 1_000:.1f}".rstrip("0").rstrip(".") + "k"


def _f(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


class _Canvas:
    """The frame every chart shares: title, legend, then the plot area."""

    def __init__(
        self, *, chart_id: str, title: str, desc: str, width: int = WIDTH, height: int = HEIGHT
    ) -> None:
        self.id = chart_id
        self.width = width
        self.title = title
        self.desc = desc
        self.height = height
        self.parts: list[str] = []
        self.y = 8

    def heading(self) -> None:
        self.y += TITLE_FONT + 2
        self.parts.append(
            f'<text x="4" y="{self.y}" font-size="{TITLE_FONT}" font-weight="600" '
            f'fill="currentColor">{escape(truncate(self.title, self.width - 8, TITLE_FONT))}</text>'
        )

    def legend(self, labels: Sequence[str], colours: Sequence[str], *, line: bool = False):
        """Legend items in rows, wrapped at the chart's width."""
        if not labels:
            return
        self.y += 10
        x, row_y = 4.0, self.y + FONT
        for label, colour in zip(labels, colours, strict=True):
            label = truncate(label, min(180, self.width - 40))
            item = 18 + text_width(label) + 16
            if x + item > self.width and x > 4:
                x, row_y = 4.0, row_y + FONT + 8
            swatch = (
                f'<line x1="{_f(x)}" y1="{_f(row_y - 4)}" x2="{_f(x + 12)}" y2="{_f(row_y - 4)}" '
                f'stroke="{colour}" stroke-width="3"/>'
                if line
                else f'<rect x="{_f(x)}" y="{_f(row_y - 10)}" width="12" height="12" rx="2" '
                f'fill="{colour}"/>'
            )
            self.parts.append(
                f'{swatch}<text x="{_f(x + 18)}" y="{_f(row_y)}" font-size="{FONT}" '
                f'fill="currentColor">{escape(label)}</text>'
            )
            x += item
        self.y = row_y + 4

    def render(self, body: str = "") -> SafeString:
        title_id, desc_id = f"{self.id}-title", f"{self.id}-desc"
        variant = "wide" if self.width >= WIDTH else "narrow"
        return mark_safe(
            f'<svg class="report-chart report-chart--{variant}" '
            f'id="{escape(self.id)}" role="img" '
            f'aria-labelledby="{escape(title_id)} {escape(desc_id)}" '
            f'viewBox="0 0 {self.width} {self.height}" xmlns="http://www.w3.org/2000/svg" '
            f'font-family="inherit">'
            f'<title id="{escape(title_id)}">{escape(self.title)}</title>'
            f'<desc id="{escape(desc_id)}">{escape(self.desc)}</desc>'
            + "".join(self.parts)
            + body
            + "</svg>"
        )


def _y_axis(canvas: _Canvas, ticks: list[float], top: float, bottom: float, *, percent: bool,
            y_label: str) -> tuple[float, Callable[[float], float]]:  # fmt: skip
    """Grid lines and tick labels; returns the plot's left edge and the value → y function."""
    labels = [number(tick, percent=percent) for tick in ticks]
    left = max(text_width(label) for label in labels) + 12
    scale = (bottom - top) / (ticks[-1] or 1)

    def y_of(value: float) -> float:
        return bottom - value * scale

    for tick, label in zip(ticks, labels, strict=True):
        y = y_of(tick)
        canvas.parts.append(
            f'<line x1="{_f(left)}" x2="{canvas.width - 8}" y1="{_f(y)}" y2="{_f(y)}" '
            f'stroke="currentColor" stroke-opacity="{0.35 if tick == 0 else 0.12}"/>'
            f'<text x="{_f(left - 6)}" y="{_f(y + 4)}" font-size="{FONT}" text-anchor="end" '
            f'fill="currentColor">{escape(label)}</text>'
        )
    if y_label:
        canvas.parts.append(
            f'<text x="{_f(left)}" y="{_f(top - 8)}" font-size="{FONT - 1}" '
            f'fill="currentColor" fill-opacity="0.75">{escape(y_label)}</text>'
        )
    return left, y_of


def _x_labels(canvas: _Canvas, labels: Sequence[str], xs: Sequence[float], y: float) -> None:
    """At most about seven labels, evenly spaced, the last one always shown."""
    if not labels:
        return
    widest = max(text_width(label) for label in labels) + 10
    room = (xs[-1] - xs[0]) if len(xs) > 1 else canvas.width
    fit = max(1, min(7, int(room // widest) + 1))
    step = max(1, math.ceil((len(labels) - 1) / max(fit - 1, 1))) if len(labels) > 1 else 1
    shown = list(range(0, len(labels), step))
    if shown[-1] != len(labels) - 1:
        if len(shown) > 1 and xs[-1] - xs[shown[-1]] < widest:
            shown.pop()
        shown.append(len(labels) - 1)
    for index in shown:
        anchor, x = "middle", xs[index]
        half = text_width(labels[index]) / 2
        if x + half > canvas.width - 2:
            anchor, x = "end", min(x + half, canvas.width - 2)
        elif x - half < 2:
            anchor, x = "start", max(x - half, 2)
        canvas.parts.append(
            f'<text x="{_f(x)}" y="{_f(y)}" font-size="{FONT}" text-anchor="{anchor}" '
            f'fill="currentColor">{escape(labels[index])}</text>'
        )


def line_chart(
    *,
    width: int = WIDTH,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    percent: bool = False,
    y_label: str = "",
) -> SafeString:
    """Lines over time; ``stacked`` draws them as stacked areas (parts of a whole)."""
    canvas = _Canvas(chart_id=chart_id, title=title, desc=desc, width=width)
    colours = _colours(series)
    canvas.heading()
    canvas.legend([s.label for s in series], colours, line=not stacked)
    n = len(labels)
    if not n or not series:
        return canvas.render()
    tops: list[list[float | None]] = []
    base = [0.0] * n
    for s in series:
        if stacked:
            base = [b + (v or 0) for b, v in zip(base, s.values, strict=True)]
            tops.append(list(base))
        else:
            tops.append(list(s.values))
    highest = max((v for values in tops for v in values if v is not None), default=0)
    top, bottom = canvas.y + 22, HEIGHT - 28
    left, y_of = _y_axis(canvas, nice_ticks(highest), top, bottom, percent=percent,
                         y_label=y_label)  # fmt: skip
    right = width - 12
    xs = [left + 8 + (right - left - 8) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    marks = []
    if stacked:
        lower = [0.0] * n
        for s, upper, colour in zip(series, tops, colours, strict=True):
            xs_all = xs if n > 1 else [left + 8, right]
            up = upper if n > 1 else upper * 2
            low = lower if n > 1 else lower * 2
            points = [f"{_f(x)},{_f(y_of(v))}" for x, v in zip(xs_all, up, strict=True)]
            points += [f"{_f(x)},{_f(y_of(v))}"
                       for x, v in reversed(list(zip(xs_all, low, strict=True)))]  # fmt: skip
            last = s.values[-1]
            marks.append(
                f'<polygon points="{" ".join(points)}" fill="{colour}" fill-opacity="0.85" '
                f'stroke="{colour}"><title>{escape(s.label)}: '
                f"{escape(labels[-1])} {escape(number(last, percent=percent))}</title></polygon>"
            )
            lower = upper
    else:
        for s, colour in zip(series, colours, strict=True):
            segment: list[str] = []
            segments = []
            for x, v in zip(xs, s.values, strict=True):
                if v is None:
                    if segment:
                        segments.append(segment)
                    segment = []
                else:
                    segment.append(f"{_f(x)},{_f(y_of(v))}")
            if segment:
                segments.append(segment)
            for points in segments:
                marks.append(
                    f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2.5" stroke-linejoin="round" stroke-linecap="round"/>'
                )
            if n <= 31:
                for x, v, label in zip(xs, s.values, labels, strict=True):
                    if v is not None:
                        marks.append(
                            f'<circle cx="{_f(x)}" cy="{_f(y_of(v))}" r="3" fill="{colour}">'
                            f"<title>{escape(s.label)} {escape(label)}: "
                            f"{escape(number(v, percent=percent))}</title></circle>"
                        )
    canvas.parts += marks
    _x_labels(canvas, labels, xs, HEIGHT - 8)
    return canvas.render()


def bar_chart(
    *,
    width: int = WIDTH,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    stacked: bool = False,
    y_label: str = "",
) -> SafeString:
    """Vertical bars per period: side by side, or ``stacked`` into one bar."""
    canvas = _Canvas(chart_id=chart_id, title=title, desc=desc, width=width)
    colours = _colours(series)
    canvas.heading()
    canvas.legend([s.label for s in series], colours)
    n = len(labels)
    if not n or not series:
        return canvas.render()
    if stacked:
        highest = max(sum(s.values[i] or 0 for s in series) for i in range(n))
    else:
        highest = max((v or 0 for s in series for v in s.values), default=0)
    top, bottom = canvas.y + 22, HEIGHT - 28
    left, y_of = _y_axis(canvas, nice_ticks(highest), top, bottom, percent=False,
                         y_label=y_label)  # fmt: skip
    slot = (width - 12 - left - 4) / n
    bar = slot * 0.72 / (1 if stacked else len(series))
    xs = []
    for i, label in enumerate(labels):
        x0 = left + 4 + slot * i + slot * 0.14
        xs.append(left + 4 + slot * (i + 0.5))
        base = 0.0
        for k, (s, colour) in enumerate(zip(series, colours, strict=True)):
            value = s.values[i] or 0
            x = x0 if stacked else x0 + bar * k
            low, high = (base, base + value) if stacked else (0, value)
            y_top, y_bottom = y_of(high), y_of(low)
            canvas.parts.append(
                f'<rect x="{_f(x)}" y="{_f(y_top)}" width="{_f(max(bar, 1))}" '
                f'height="{_f(max(y_bottom - y_top, 0))}" fill="{colour}">'
                f"<title>{escape(s.label)} {escape(label)}: {escape(number(value))}</title></rect>"
            )
            if stacked:
                base = high
    _x_labels(canvas, labels, xs, HEIGHT - 8)
    return canvas.render()


def hbar_chart(
    *,
    width: int = WIDTH,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    notes: Sequence[str] | None = None,
) -> SafeString:
    """Horizontal stacked bars, one per category, the total (or a note) at the end of each."""
    rows = len(labels)
    row_height = 28
    canvas = _Canvas(chart_id=chart_id, title=title, desc=desc, width=width)
    colours = _colours(series)
    canvas.heading()
    if len(series) > 1:
        canvas.legend([s.label for s in series], colours)
    top = canvas.y + 14
    canvas.height = int(top + max(rows, 1) * row_height + 8)
    if not rows or not series:
        return canvas.render()
    totals = [sum(s.values[i] or 0 for s in series) for i in range(rows)]
    ends = [notes[i] if notes else number(totals[i]) for i in range(rows)]
    label_width = min(max(text_width(label) for label in labels) + 10, width * 0.34)
    end_width = max(text_width(end) for end in ends) + 10
    left, right = label_width + 4, width - 8 - end_width
    scale = (right - left) / (max(totals) or 1)
    for i, label in enumerate(labels):
        y = top + i * row_height
        canvas.parts.append(
            f'<text x="{_f(left - 8)}" y="{_f(y + row_height / 2 + 4)}" font-size="{FONT}" '
            f'text-anchor="end" fill="currentColor"><title>{escape(label)}</title>'
            f"{escape(truncate(label, label_width - 10))}</text>"
        )
        x = left
        for s, colour in zip(series, colours, strict=True):
            value = s.values[i] or 0
            width = value * scale
            if width > 0:
                canvas.parts.append(
                    f'<rect x="{_f(x)}" y="{_f(y + 4)}" width="{_f(max(width, 1))}" '
                    f'height="{row_height - 8}" fill="{colour}"><title>{escape(label)} · '
                    f"{escape(s.label)}: {escape(number(value))}</title></rect>"
                )
            x += width
        canvas.parts.append(
            f'<text x="{_f(x + 6)}" y="{_f(y + row_height / 2 + 4)}" font-size="{FONT}" '
            f'fill="currentColor">{escape(ends[i])}</text>'
        )
    canvas.parts.append(
        f'<line x1="{_f(left)}" x2="{_f(left)}" y1="{_f(top)}" '
        f'y2="{_f(top + rows * row_height)}" stroke="currentColor" stroke-opacity="0.35"/>'
    )
    return canvas.render()


def sparkline(values: Sequence[float], *, chart_id: str, title: str) -> SafeString:
    """A small trend line with its area, for the admin home; no axes, the title says it all."""
    width, height, pad = 160, 40, 3
    n = len(values)
    if not n:
        return mark_safe("")
    highest = max(max(values), 1)
    xs = [pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5) for i in range(n)]
    ys = [height - pad - (height - 2 * pad) * (v / highest) for v in values]
    points = " ".join(f"{_f(x)},{_f(y)}" for x, y in zip(xs, ys, strict=True))
    area = f"{_f(xs[0])},{height - pad} {points} {_f(xs[-1])},{height - pad}"
    title_id = f"{chart_id}-title"
    return mark_safe(
        f'<svg class="report-sparkline" role="img" aria-labelledby="{escape(title_id)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title id="{escape(title_id)}">{escape(title)}'
        f'</title><polygon points="{area}" fill="{PALETTE[0]}" fill-opacity="0.18"/>'
        f'<polyline points="{points}" fill="none" stroke="{PALETTE[0]}" stroke-width="2" '
        f'stroke-linejoin="round"/><circle cx="{_f(xs[-1])}" cy="{_f(ys[-1])}" r="3" '
        f'fill="{PALETTE[0]}"/></svg>'
    )

"""Spend charts as PNG images of a fixed size, drawn with matplotlib's Agg canvas (no display needed)."""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from agent.replies import Attachment

WIDTH, HEIGHT, DPI = 960, 540, 100
MAX_LABEL = 28
_ACCENT = "#2b6cb0"


@dataclass(frozen=True)
class Chart:
    """A rendered chart: PNG bytes with the file name and title a channel uploads it under."""

    png: bytes
    filename: str
    title: str
    width: int = WIDTH
    height: int = HEIGHT

    def as_attachment(self) -> Attachment:
        return Attachment(filename=self.filename, content=self.png, title=self.title, mime_type="image/png")


def chart_filename(*parts: str, extension: str = "png") -> str:
    """`spend-category-q3-2026.png` from words that may hold spaces, dates and symbols."""
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(parts).lower()).strip("-")
    return f"{slug[:80] or 'chart'}.{extension}"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _figure(title: str) -> tuple[Figure, FigureCanvasAgg]:
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    canvas = FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=13, fontweight="bold")
    return figure, canvas


def _png(canvas: FigureCanvasAgg) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # A script the bundled font lacks (e.g. 東京) draws as boxes; a warning per chart only fills logs.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        # No bbox_inches="tight": it would change the size the channels rely on.
        canvas.print_png(buffer)
    return buffer.getvalue()


def _compact(value: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.{0 if value % size == 0 else 1}f}{suffix}"
    return f"{value:,.0f}"


def _amount_axis(axis: Axis, unit: str) -> None:
    axis.set_major_locator(MaxNLocator(nbins=6))
    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{_compact(value)} {unit}"))


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    values: Sequence[Decimal],
    unit: str,
    filename: str,
    horizontal: bool,
) -> Chart:
    """Bars of amounts in one currency (`unit`); horizontal bars suit long names such as destinations."""
    figure, canvas = _figure(title)
    axes = figure.add_subplot()
    names = [_short(label) for label in labels]
    heights = [float(value) for value in values]  # drawing only; the figures themselves stay Decimal
    if horizontal:
        bars = axes.barh(names[::-1], heights[::-1], color=_ACCENT)
        _amount_axis(axes.xaxis, unit)
    else:
        bars = axes.bar(names, heights, color=_ACCENT)
        _amount_axis(axes.yaxis, unit)
        axes.tick_params(axis="x", labelrotation=45 if len(names) > 6 else 0)
    amounts = [f"{value:,.0f}" for value in values]
    axes.bar_label(bars, labels=amounts[::-1] if horizontal else amounts, padding=3, fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.12 if horizontal else 0.02, y=0.02 if horizontal else 0.12)
    return Chart(png=_png(canvas), filename=filename, title=title)


def line_chart(
    *, title: str, labels: Sequence[str], values: Sequence[Decimal], unit: str, filename: str
) -> Chart:
    """A line of amounts over time (months or quarters, in order) in one currency."""
    figure, canvas = _figure(title)
    axes = figure.add_subplot()
    axes.plot(list(labels), [float(value) for value in values], marker="o", color=_ACCENT, linewidth=2)
    _amount_axis(axes.yaxis, unit)
    axes.set_ylim(bottom=min(0.0, *(float(value) for value in values)))
    axes.tick_params(axis="x", labelrotation=45 if len(labels) > 8 else 0)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    return Chart(png=_png(canvas), filename=filename, title=title)

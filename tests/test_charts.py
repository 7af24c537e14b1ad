"""Spend charts decode as PNG images of the promised size, whatever their labels and amounts."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from PIL import Image

from agent.charts import HEIGHT, WIDTH, Chart, bar_chart, chart_filename, line_chart


def decoded(chart: Chart) -> Image.Image:
    image = Image.open(io.BytesIO(chart.png))
    image.load()  # decodes every pixel, not just the header
    return image


@pytest.mark.parametrize("horizontal", [True, False])
def test_a_bar_chart_is_a_png_of_the_fixed_size(horizontal: bool) -> None:
    chart = bar_chart(
        title="Company travel spend by category, Q3 2026 (EUR)",
        labels=["hotel", "flight", "a destination with a very long name indeed, too long", "Zürich", "東京"],
        values=[Decimal("5123.45"), Decimal("3000"), Decimal("0.01"), Decimal("0"), Decimal("-12.50")],
        unit="EUR",
        filename="spend.png",
        horizontal=horizontal,
    )
    image = decoded(chart)
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT)) == ("PNG", (chart.width, chart.height))
    darkest, lightest = image.convert("L").getextrema()
    assert isinstance(darkest, int) and isinstance(lightest, int)
    assert darkest < 100 and lightest > 200  # something is drawn, not a blank canvas


def test_a_line_over_time_is_a_png_of_the_fixed_size() -> None:
    labels = [f"Q{q} {y}" for y in (2024, 2025, 2026) for q in (1, 2, 3, 4)]
    chart = line_chart(
        title="Your travel spend by quarter",
        labels=labels,
        values=[Decimal(n * 1000) for n in range(12)],
        unit="GBP",
        filename="q.png",
    )
    assert decoded(chart).size == (WIDTH, HEIGHT)


def test_one_bar_of_a_large_amount_still_fits() -> None:
    chart = bar_chart(
        title="t",
        labels=["London"],
        values=[Decimal("98765432.10")],
        unit="USD",
        filename="x.png",
        horizontal=True,
    )
    assert decoded(chart).size == (WIDTH, HEIGHT)


def test_a_chart_hands_over_as_an_attachment_with_a_safe_file_name() -> None:
    name = chart_filename("spend", "destination", " Q3 2026 (EUR) / ../etc")
    assert name == "spend-destination-q3-2026-eur-etc.png"
    chart = bar_chart(
        title="Spend",
        labels=["a", "b"],
        values=[Decimal(1), Decimal(2)],
        unit="EUR",
        filename=name,
        horizontal=False,
    )
    attachment = chart.as_attachment()
    assert (attachment.filename, attachment.title, attachment.mime_type) == (name, "Spend", "image/png")
    assert attachment.content == chart.png and chart.png.startswith(b"\x89PNG\r\n\x1a\n")

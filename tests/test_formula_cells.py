"""registry/exports.py: cells that a spreadsheet would read as formulas
are written as text (a leading apostrophe), in every export."""

import pytest

from registry.exports import inert_row, neutralise


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        "+358",
        "-1",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "\nx",
        "\uff1d1+1",
        "\uff0b358",
        "\uff0d1",
        "\uff20SUM(A1)",
        # Blanks first (a probe: a spreadsheet may skip them).
        " =1+1",
        "   @SUM(A1)",
        "\u00a0=1",
        "\u2003+358",
        "\u200b=1",
        "\ufeff-1",
        "\u3000\uff1d1",
        " \t=1",
    ],
)
def test_a_cell_that_could_be_read_as_a_formula_is_made_text(text):
    assert neutralise(text) == "'" + text
    assert inert_row([text, "Äijälä"]) == ["'" + text, "Äijälä"]


@pytest.mark.parametrize(
    "text", ["Äijälä", "040 123", "a=b", " x=1", "\u00a0Äijälä", "   ", "'=1", "", "x\n=1"]
)
def test_a_cell_that_is_not_a_formula_is_left_as_it_is(text):
    assert neutralise(text) == text

"""registry/exports.py: cells that a spreadsheet would read as formulas
are written as text (a leading apostrophe), in every export."""

import pytest
from django.db import connection

from registry.exports import BLANKS, FORMULA_STARTS, inert_row, inert_sql, neutralise


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


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the COPY export's SQL is PostgreSQL's"
)
def test_the_copy_exports_sql_makes_inert_what_python_makes_inert():
    """exports.inert_sql (the COPY export) and neutralise (every other
    export) over every blank before every formula start and before text."""
    starts = [*FORMULA_STARTS, "a", "1", "'", "Ä", "\u00e9"]
    texts = [
        "",
        *BLANKS,
        *(start + "1" for start in starts),
        *(blank + start + "1" for blank in BLANKS for start in starts),
        *(blank + other + "=1" for blank in BLANKS for other in BLANKS),
    ]
    sql, params = inert_sql("t.value")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sql} FROM unnest(%s::text[]) WITH ORDINALITY AS t(value, n) ORDER BY n",  # noqa: S608
            [*params, texts],
        )
        from_sql = [value for (value,) in cursor.fetchall()]
    assert len(BLANKS) >= 30 and len(texts) > 1700
    assert from_sql == [neutralise(text) for text in texts]

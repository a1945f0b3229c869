"""What the management commands print (registry.management.output)."""

import pytest

from registry.management.output import counted


@pytest.mark.parametrize(
    ("count", "words", "said"),
    [
        (0, ("customer",), "0 customers"),
        (1, ("customer",), "1 customer"),
        (2, ("customer",), "2 customers"),
        (1, ("entry", "entries"), "1 entry"),
        (7, ("entry", "entries"), "7 entries"),
    ],
)
def test_a_count_takes_the_word_for_one_or_for_several(count, words, said):
    assert counted(count, *words) == said

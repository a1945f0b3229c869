"""The marketing journal's kinds of entries (registry.journal): each owner
registers its own, and a restore re-applies every registered kind, in a
fixed order, so that a kind added later cannot be left out."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from registry import journal
from registry.backups import JOURNAL_ORDER


@pytest.mark.django_db
def test_the_restore_reapplies_every_registered_kind_in_its_order():
    assert JOURNAL_ORDER == ("consent", "restriction", "case")
    assert journal.journal_reapply([], order=JOURNAL_ORDER) == {
        "consent": [],
        "restriction": [],
        "case": ([], []),
    }


def test_an_order_that_leaves_a_kind_out_is_refused():
    with pytest.raises(ImproperlyConfigured, match="restriction"):
        journal.journal_reapply([], order=("consent", "case"))


def test_an_entry_of_no_registered_kind_is_not_read():
    with pytest.raises(ValueError, match="not a kind"):
        journal.check_entry({"kind": "letter"})
    with pytest.raises(ValueError, match="not a kind"):
        journal.check_entry({"kind": ["case"]})

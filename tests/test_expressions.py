"""OneOf: one parameter for a list of values, on SQLite and PostgreSQL alike."""

import pytest
from django.db.models import F
from django.db.models.functions import Upper

from registry.expressions import OneOf
from registry.models import Customer

from .factories import CustomerFactory

NAMES = ["O'Brien", 'Sanoi "ei"', "{a,b}", "Back\\slash", "Äijälä", "NULL", ""]


@pytest.mark.django_db
def test_one_of_finds_exactly_the_values_given_whatever_they_hold():
    for name in [*NAMES[:-1], "Muu"]:
        CustomerFactory(last_name=name)
    found = Customer.objects.filter(OneOf(F("last_name"), NAMES)).values_list(
        "last_name", flat=True
    )
    assert sorted(found) == sorted(NAMES[:-1])
    assert not Customer.objects.filter(OneOf(F("last_name"), [])).exists()


@pytest.mark.django_db
def test_one_of_compares_with_an_expression():
    CustomerFactory(email="Aino.Aijala@example.invalid")
    matched = Customer.objects.filter(OneOf(Upper("email"), ["AINO.AIJALA@EXAMPLE.INVALID"]))
    assert matched.count() == 1

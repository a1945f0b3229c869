"""Validation of the customer form: clear messages, normalised values."""

import random

import phonenumbers
import pytest
from phonenumber_field.phonenumber import PhoneNumber

from registry.forms import CustomerForm
from registry.phones import e164_text, format_phone, national_digits

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db


def form_data(**overrides):
    data = {
        "first_name": "Aino",
        "last_name": "Esimerkki",
        "email": "aino.esimerkki@example.invalid",
        "phone": "040 123 4567",
        "street_address": "Koekatu 3",
        "postal_code": "80100",
        "city": "Joensuu",
        "country": "FI",
        "source": "information_request",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "typed",
    ["040 123 4567", "0401234567", "040-123 4567", "+358 40 123 4567", "00358401234567"],
)
def test_phone_typed_in_any_format_is_stored_as_e164(typed):
    form = CustomerForm(data=form_data(phone=typed))
    assert form.is_valid(), form.errors
    assert str(form.cleaned_data["phone"]) == "+358401234567"


@pytest.mark.parametrize("typed", ["123", "puhelin", "040 12"])
def test_an_invalid_phone_is_refused_beside_the_field(typed):
    form = CustomerForm(data=form_data(phone=typed))
    assert not form.is_valid()
    assert "040 123 4567" in form.errors["phone"][0]


@pytest.mark.parametrize(
    ("first", "last"),
    [("Äijälä", "Mäki-Petäjä"), ("Sean", "O'Neill"), ("Anna-Liisa", "Öhman"), ("Zoë", "Ångström")],
)
def test_unicode_names_hyphens_and_apostrophes_are_accepted(first, last):
    form = CustomerForm(data=form_data(first_name=f"  {first} ", last_name=last))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["first_name"] == first
    assert form.cleaned_data["last_name"] == last


@pytest.mark.parametrize("name", ["R2D2", "<script>", "Aino!", "-", "Mari__"])
def test_names_with_digits_or_symbols_are_refused(name):
    form = CustomerForm(data=form_data(first_name=name))
    assert not form.is_valid()
    assert "first_name" in form.errors


def test_a_finnish_postal_code_has_five_digits():
    form = CustomerForm(data=form_data(postal_code="8010"))
    assert not form.is_valid()
    assert "viisi numeroa" in form.errors["postal_code"][0]


def test_a_foreign_postal_code_may_have_another_shape():
    form = CustomerForm(data=form_data(postal_code="114 55", city="Stockholm", country="SE"))
    assert form.is_valid(), form.errors


def test_an_invalid_email_is_refused():
    form = CustomerForm(data=form_data(email="aino@"))
    assert not form.is_valid()
    assert "email" in form.errors


def test_at_least_one_way_to_reach_the_customer_is_required():
    form = CustomerForm(
        data=form_data(email="", phone="", street_address="", postal_code="", city="")
    )
    assert not form.is_valid()
    assert "vähintään yksi tapa tavoittaa" in str(form.non_field_errors())


@pytest.mark.parametrize(
    "contact",
    [
        {"phone": "", "street_address": "", "postal_code": "", "city": ""},
        {"email": "", "street_address": "", "postal_code": "", "city": ""},
        {"email": "", "phone": ""},
    ],
)
def test_any_one_way_to_reach_is_enough(contact):
    assert CustomerForm(data=form_data(**contact)).is_valid()


def test_same_email_in_other_case_is_a_possible_duplicate_and_needs_confirmation():
    existing = CustomerFactory(email="Aino.Esimerkki@Example.invalid")
    form = CustomerForm(data=form_data())
    assert not form.is_valid()
    assert form.duplicates == [existing]
    assert "confirm_duplicate" in form.errors
    confirmed = CustomerForm(data=form_data(confirm_duplicate="on"))
    assert confirmed.is_valid(), confirmed.errors


@pytest.mark.parametrize(
    "same",
    [
        {"phone": "+358401234567", "email": "toinen@example.invalid"},
        {"first_name": "aino", "last_name": "ESIMERKKI", "postal_code": "80100"},
    ],
)
def test_same_phone_or_same_name_and_postal_code_is_a_possible_duplicate(same):
    CustomerFactory(**same)
    form = CustomerForm(data=form_data())
    form.is_valid()
    assert len(form.duplicates) == 1


def test_a_different_person_is_not_a_duplicate():
    CustomerFactory(first_name="Aino", last_name="Esimerkki", postal_code="00100")
    form = CustomerForm(data=form_data())
    assert form.is_valid(), form.errors
    assert form.duplicates == []


def test_how_the_relationship_began_offers_exactly_the_three_sources_of_the_notice():
    assert [value for value, _ in CustomerForm().fields["source"].choices] == [
        "information_request",
        "web_registration",
        "enrolment_or_purchase",
    ]


@pytest.mark.parametrize(
    "typed",
    ["+358401234567", "+35813123456", "+46701234567", "+390612345678", "+442079460000", ""],
)
def test_the_e164_text_of_a_stored_number_equals_the_librarys(typed):
    """The page's shortcut past PhoneNumber's validating str(), checked
    against it, also for an Italian number whose leading zero matters."""
    number = PhoneNumber.from_string(typed) if typed else PhoneNumber()
    assert e164_text(number) == (str(number) if typed else "")
    assert format_phone(number) == format_phone(typed)


def test_the_fast_format_of_finnish_mobiles_equals_the_librarys():
    rng = random.Random(7)
    for prefix in ("40", "41", "44", "45", "46", "50"):
        for length in (6, 7, 8):
            for _ in range(20):
                e164 = f"+358{prefix}{rng.randrange(10 ** (length - 1), 10**length)}"
                number = phonenumbers.parse(e164)
                if not phonenumbers.is_valid_number(number):
                    continue
                expected = phonenumbers.format_number(
                    number, phonenumbers.PhoneNumberFormat.NATIONAL
                )
                assert format_phone(e164) == expected, e164


@pytest.mark.parametrize(
    "e164",
    [
        "+358401234567",
        "+358501234567",
        "+358131234567",
        "+35891234567",
        "+358181234567",
        "+358800123456",
        "+358291234567",
        "+358457123456",
    ],
)
def test_the_fast_national_digits_of_finnish_numbers_equal_the_librarys(e164):
    number = phonenumbers.parse(e164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert national_digits(e164) == "".join(ch for ch in national if ch.isdigit())

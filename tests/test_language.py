"""One language at a time, and one date and time format per language."""

import datetime

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.template import Context, Template
from django.utils import timezone, translation

pytestmark = pytest.mark.django_db

MOMENT = datetime.datetime(2026, 12, 5, 18, 0, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("language", "short_date", "short_datetime", "time"),
    [
        ("fi", "5.12.2026", "5.12.2026 klo 20.00", "20.00"),
        ("en", "5 Dec 2026", "5 Dec 2026, 20:00", "20:00"),
    ],
)
def test_one_date_and_time_format_per_language(language, short_date, short_datetime, time):
    template = Template(
        '{{ t|date:"SHORT_DATE_FORMAT" }}|{{ t|date:"SHORT_DATETIME_FORMAT" }}'
        '|{{ t|date:"DATETIME_FORMAT" }}|{{ t|time:"TIME_FORMAT" }}'
    )
    with translation.override(language), timezone.override("Europe/Helsinki"):
        shown = template.render(Context({"t": MOMENT})).split("|")
    assert shown == [short_date, short_datetime, short_datetime, time]


def test_the_notice_says_when_it_was_updated_in_the_languages_format(client, settings):
    settings.PRIVACY_NOTICE_UPDATED = datetime.date(2026, 11, 25)
    assert "25.11.2026" in client.get("/privacy/").content.decode()
    english = client.get("/privacy/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "25 Nov 2026" in english and "2026-11-25" not in english


def test_admin_speaks_finnish_where_django_does_not(client, register_manager, staff_member):
    """Permission names, the group selector's texts, django-axes' section and
    the password length rule: English in Django's own Finnish, ours here."""
    client.force_login(register_manager)
    page = client.get(f"/admin/auth/user/{staff_member.pk}/change/").content.decode()
    assert "Voi katsella: asiakas" in page and "Can view customer" not in page
    assert "Kirjautumisyritykset" in client.get("/admin/").content.decode()
    script = client.get("/admin/jsi18n/").content.decode()
    assert '"Choose all %s": "Valitse kaikki: %s"' in script


def test_password_rules_speak_finnish():

    with translation.override("fi"), pytest.raises(ValidationError) as error:
        validate_password("lyhyt")
    assert "Salasana on liian lyhyt" in " ".join(error.value.messages)

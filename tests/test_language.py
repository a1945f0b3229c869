"""One language at a time, and one date and time format per language."""

import datetime

import pytest
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

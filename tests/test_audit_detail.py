# ruff: noqa: E501  (the oracle is the replaced include, its lines as they were)
"""An audit event's details as the customer page, the audit trail and a
request's page show them (registry_tags.audit_detail): the same HTML as the
include it replaced (but for the names of the fields filled in, and the
pages a customer was read on, now in words), every value escaped."""

import re
from pathlib import Path

import pytest
from django.template import Context, Template
from django.utils import translation

from registry.audit.models import VIA_WORDS
from registry.templatetags.registry_tags import audit_detail

#: The include the filter replaced, word for word: the oracle.
INCLUDE = Template(
    "{% load i18n registry_tags %}"
    '{% if detail.changes %}<ul class="list-unstyled mb-0 small">{% for field, values in detail.changes.items %}<li>{{ field|field_label }}: {{ values.0|default:"\u2013" }} → {{ values.1|default:"\u2013" }}</li>{% endfor %}</ul>{% endif %}'
    '{% if detail.reference %}<span class="small">{{ detail.reference }}</span>{% endif %}'
    '{% if detail.removed_id %}<span class="small">{% blocktranslate with id=detail.removed_id %}merged record #{{ id }}{% endblocktranslate %}</span>{% endif %}'
    '{% if detail.via %}<span class="small">{{ detail.via }}</span>{% endif %}'
    '{% if detail.fields %}<span class="small">{% for name in detail.fields %}{% if not forloop.first %}, {% endif %}{{ name|field_label }}{% endfor %}</span>{% endif %}'
    '{% if detail.file %}<span class="small">{{ detail.file }}'
    "{% if detail.added is not None %} · {% blocktranslate count rows=detail.rows with added=detail.added matched=detail.matched rejected=detail.rejected %}{{ rows }} row: {{ added }} added, {{ matched }} already in the register, {{ rejected }} rejected{% plural %}{{ rows }} rows: {{ added }} added, {{ matched }} already in the register, {{ rejected }} rejected{% endblocktranslate %}{% elif detail.removed is not None %} · {% blocktranslate with removed=detail.removed kept=detail.kept|length %}{{ removed }} removed, {{ kept }} kept{% endblocktranslate %}{% elif detail.rows %} · {% blocktranslate count counter=detail.rows %}{{ counter }} row{% plural %}{{ counter }} rows{% endblocktranslate %}{% endif %}</span>{% endif %}"
    '{% if detail.page %}<span class="small">{% blocktranslate with number=detail.page %}page {{ number }}{% endblocktranslate %}</span>{% endif %}'
    '{% if detail.scrubbed_at %}<span class="small fst-italic">{% translate "personal values erased" %}</span>{% endif %}'
)

HOSTILE = '<script>alert("x")</script>\x00&'

DETAILS = [
    None,
    {},
    {"changes": {"first_name": ["Maija", "Maija-Liisa"], "email": ["", "m@example.fi"]}},
    {"changes": {"city": [HOSTILE, None]}, "via": HOSTILE},
    {"changes": {"unknown_field": ["a"]}},
    {"reference": HOSTILE},
    {"removed_id": 42},
    {"via": "access report"},
    {"fields": ["email", HOSTILE]},
    {"file": "asiakkaat.csv", "rows": 3, "added": 1, "matched": 1, "rejected": 1},
    {"file": "yksi.csv", "rows": 1, "added": 1, "matched": 0, "rejected": 0},
    {"file": HOSTILE, "removed": 5, "kept": [1, 2]},
    {"file": "poisto.csv", "rows": 1},
    {"file": "poisto.csv", "rows": 12},
    {"file": "poisto.csv"},
    {"page": 3},
    {"scrubbed_at": "2026-11-28T12:00:00+00:00", "changes": {"phone": ["[poistettu]", ""]}},
    {"query": "Virtanen", "results": 3},
]


@pytest.mark.parametrize("language", ["fi", "en"])
@pytest.mark.parametrize("detail", DETAILS)
def test_the_filter_renders_what_the_include_did(detail, language):
    with translation.override(language):
        assert str(audit_detail(detail)) == INCLUDE.render(Context({"detail": detail}))


@pytest.mark.parametrize(
    ("language", "one", "two"),
    [
        ("fi", "1 rivi: 1 lisätty", "2 riviä: 2 lisätty"),
        ("en", "1 row: 1 added", "2 rows: 2 added"),
    ],
)
def test_the_rows_of_an_import_are_counted_in_singular_and_plural(language, one, two):
    """Not "1 rows" ("1 riviä")."""
    with translation.override(language):
        for rows, words in ((1, one), (2, two)):
            detail = {"file": "a.csv", "rows": rows, "added": rows, "matched": 0, "rejected": 0}
            assert words in str(audit_detail(detail))


def test_values_are_escaped():
    html = str(audit_detail({"reference": HOSTILE, "changes": {"city": [HOSTILE, "x"]}}))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_the_fields_changed_are_named_in_finnish():
    with translation.override("fi"):
        html = str(audit_detail({"changes": {"first_name": ["Maija", "Liisa"]}}))
    assert html == '<ul class="list-unstyled mb-0 small"><li>Etunimi: Maija → Liisa</li></ul>'


@pytest.mark.parametrize(
    ("language", "changes", "shown"),
    [
        # Review: codes and flags showed as stored (information_request,
        # False -> True, FI -> SE) in the Finnish interface.
        ("fi", {"country": ["FI", "SE"]}, "Maa: Suomi → Ruotsi"),
        ("en", {"country": ["FI", "SE"]}, "Country: Finland → Sweden"),
        ("fi", {"is_cancelled": ["False", "True"]}, "Peruttu: ei → kyllä"),
        ("en", {"is_cancelled": ["False", "True"]}, "Cancelled: no → yes"),
        (
            "fi",
            {"source": ["", "web_registration"]},
            "Asiakassuhteen synty: \u2013 → Rekisteröityminen verkkopalveluun",
        ),
        # A code no choice has any more is shown as it was stored.
        ("fi", {"country": ["XX", HOSTILE]}, "Maa: XX → &lt;script&gt;"),
    ],
)
def test_choices_countries_and_flags_are_shown_by_their_words(language, changes, shown):
    with translation.override(language):
        assert shown in str(audit_detail({"changes": changes}))


@pytest.mark.parametrize(
    ("language", "detail", "shown"),
    [
        # Review: the trail's details showed the code of the page ("edit",
        # "requests") and the fields' names (email, first_name) as stored.
        ("fi", {"via": "edit"}, '<span class="small">muokkauslomake</span>'),
        ("en", {"via": "edit"}, '<span class="small">edit form</span>'),
        ("fi", {"via": "requests"}, '<span class="small">rekisteröityjen pyynnöt</span>'),
        (
            "fi",
            {"fields": ["email", "first_name"]},
            '<span class="small">Sähköposti, Etunimi</span>',
        ),
        (
            "en",
            {"fields": ["email", "first_name"]},
            '<span class="small">Email, First name</span>',
        ),
        # An unknown code or name is shown as stored, escaped.
        ("fi", {"via": "access report"}, '<span class="small">access report</span>'),
        ("fi", {"via": HOSTILE}, "&lt;script&gt;"),
        ("fi", {"fields": [HOSTILE]}, "&lt;script&gt;"),
    ],
)
def test_the_page_and_the_fields_are_said_in_words(language, detail, shown):
    with translation.override(language):
        assert shown in str(audit_detail(detail))


def test_every_page_that_records_a_read_has_words():
    """A new `via="..."` in the code without words in VIA_WORDS would show its
    code in the trail."""
    root = Path(__file__).resolve().parent.parent
    used = set()
    for package in ("registry", "courses", "balansia"):
        for path in (root / package).rglob("*.py"):
            used |= set(re.findall(r'via(?:=|": )"([a-z_]+)"', path.read_text()))
    assert len(used) >= 15
    assert used - set(VIA_WORDS) == set()


@pytest.mark.parametrize(
    ("language", "changes", "shown"),
    [
        # Journeys: a request closed showed "Valmistunut: - → 2026-11-30", a
        # session moved its times in UTC ("Alkaa: 2026-12-13 22:01:00+00:00"),
        # on a Finnish page. Dates and moments as the rest of the page shows
        # them, in the interface's time zone.
        ("fi", {"completed_on": ["", "2026-11-30"]}, "Valmistunut: \u2013 → 30.11.2026"),
        ("en", {"completed_on": ["", "2026-11-30"]}, "Completed: \u2013 → 30 Nov 2026"),
        (
            "fi",
            {"starts_at": ["2026-12-13 22:01:00+00:00", "2026-12-14 16:00:00+00:00"]},
            "Alkaa: 14.12.2026 klo 0.01 → 14.12.2026 klo 18.00",
        ),
        (
            "en",
            {"starts_at": ["2026-12-13 22:01:00+00:00", "2026-12-14 16:00:00+00:00"]},
            "Starts: 14 Dec 2026, 00:01 → 14 Dec 2026, 18:00",
        ),
        # A value that is no date is shown as it was stored.
        ("fi", {"completed_on": ["", HOSTILE]}, "Valmistunut: \u2013 → &lt;script&gt;"),
    ],
)
def test_dates_and_moments_are_shown_as_the_interface_writes_them(language, changes, shown):
    with translation.override(language):
        assert shown in str(audit_detail({"changes": changes}))


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("fi", "ilmoittautuminen 1004: \u2013 → Poissa"),
        ("en", "enrolment 1004: \u2013 → Didn&#x27;t come"),
    ],
)
def test_a_roll_call_is_said_in_words(language, shown):
    """Journeys: a roll call showed "1004: - → absent" on a Finnish page."""
    detail = {
        "session_id": 150,
        "session_starts_at": "2026-11-29T22:01:00+00:00",
        "changes": {"1004": ["", "absent"], "1005": ["came", "excused"]},
    }
    with translation.override(language):
        html = str(audit_detail(detail))
    assert shown in html
    assert "absent" not in html.replace("Didn&#x27;t come", "")

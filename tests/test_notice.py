"""The privacy notice and the record of processing tell the truth: who
processes the data and where, what the register keeps, how long backups stay;
and the deployment checks warn while the notice would not be true."""

import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import override

from balansia.settings import envprocessors
from registry.backups import SUFFIX, prune
from registry.checks import (
    controller_check,
    is_business_id,
    mail_files_check,
    processors_check,
)
from registry.models import Customer
from registry.notice import NOT_PERSONAL, REGISTER_CONTENT, register_content
from registry.reports.processing import processing_record, processing_record_markdown

from .test_reports import _pdf_text

ROOT = Path(__file__).resolve().parent.parent

HOSTING = {"name": "Esimerkki Hosting Oy", "purpose": "palvelin ja tietokanta", "country": "FI"}
NEWSLETTER = {
    "name": "Example Newsletters Inc.",
    "purpose": "uutiskirjeiden lähetys",
    "country": "US",
    "safeguard": "EU-Yhdysvallat-tietosuojakehys",
}


def notice(client, language="fi", url="privacy-notice"):
    client.cookies["django_language"] = language
    return client.get(reverse(url)).content.decode()


# --- Processors on the notice ---------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "fi",
            [
                "Henkilötietojen käsittelijät",
                "Esimerkki Hosting Oy (Suomi): palvelin ja tietokanta",
                "Example Newsletters Inc. (Yhdysvallat): uutiskirjeiden lähetys",
                "henkilötietojen käsittelysopimuksen",
                "Example Newsletters Inc. (Yhdysvallat): EU-Yhdysvallat-tietosuojakehys",
            ],
        ),
        (
            "en",
            [
                "Processors of personal data",
                "Esimerkki Hosting Oy (Finland): palvelin ja tietokanta",
                "Example Newsletters Inc. (United States of America): uutiskirjeiden lähetys",
                "under a data processing agreement",
                "The data is not disclosed to anyone else.",
                "Example Newsletters Inc. (United States of America): EU-Yhdysvallat-",
            ],
        ),
    ],
)
def test_the_notice_names_the_processors_and_the_transfers(client, settings, language, words):
    settings.REGISTER_PROCESSORS = [HOSTING, NEWSLETTER]
    body = notice(client, language)
    for word in words:
        assert word in body, word


@pytest.mark.django_db
def test_only_processors_outside_the_eu_eea_are_transfers(client, settings):
    settings.REGISTER_PROCESSORS = [HOSTING, NEWSLETTER]
    body = notice(client, "en")
    transfers = body[body.index("Transfers outside the EU and the EEA") :]
    assert "Example Newsletters Inc." in transfers
    assert "Esimerkki Hosting Oy" not in transfers
    assert "ask the person responsible for the register for a copy" in transfers


@pytest.mark.django_db
def test_without_a_processor_outside_the_eu_eea_nothing_is_transferred(client, settings):
    settings.REGISTER_PROCESSORS = [HOSTING]
    body = notice(client, "en")
    assert "The data is not transferred outside the European Union" in body
    assert "safeguard" not in body
    settings.REGISTER_PROCESSORS = [HOSTING, NEWSLETTER]
    assert "The data is not transferred outside" not in notice(client, "en")


@pytest.mark.django_db
def test_the_front_page_shows_the_processors_too(client, settings):
    settings.REGISTER_PROCESSORS = [HOSTING]
    body = notice(client, "fi", url="home")
    assert "Esimerkki Hosting Oy (Suomi)" in body
    assert 'name="password"' in body


PAYLOAD = '<a href="https://evil.example">x</a><script>alert(1)</script>"\'&'


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["privacy-notice", "home"])
def test_processor_values_are_shown_as_text(client, settings, url):
    """They come from the environment: whoever writes it must not write markup."""
    settings.REGISTER_PROCESSORS = [
        {"name": PAYLOAD, "purpose": PAYLOAD, "country": "US", "safeguard": PAYLOAD}
    ]
    body = notice(client, "fi", url=url)
    # Processors: name and purpose; transfers: name and safeguard.
    assert body.count(escape(PAYLOAD)) == 4
    assert 'evil.example">' not in body and "<script>alert" not in body


# --- What the register holds ----------------------------------------------


def test_every_field_of_customer_is_named_by_the_notice():
    """A new field of Customer fails here until a line of the notice's content
    (registry/notice.py) names it, or it is shown to say nothing of the person."""
    named = [field for line in REGISTER_CONTENT for field in line.fields]
    assert len(named) == len(set(named)), "a field named twice"
    concrete = {field.name for field in Customer._meta.concrete_fields}
    assert set(named) | set(NOT_PERSONAL) == concrete
    assert not set(named) & set(NOT_PERSONAL)


def test_every_model_pointing_at_a_customer_is_named_by_the_notice():
    pointing = {
        model._meta.label
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.is_relation
        and not field.auto_created
        and field.related_model is Customer
        and model is not Customer
    }
    named = {label for line in REGISTER_CONTENT for label in line.models}
    assert pointing == named


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fi", "en"])
def test_the_notice_shows_every_line_of_the_content(client, settings, language):
    settings.MESSAGE_BODY_DAYS = 45
    body = notice(client, language)
    with override(language):
        lines = register_content()
    assert len(lines) == len(REGISTER_CONTENT)
    for line in lines:
        assert f"<li>{escape(line)}</li>" in body, line
    assert any("45" in line for line in lines)


@pytest.mark.django_db
def test_the_content_is_said_in_plain_finnish(client):
    body = notice(client, "fi")
    for words in ("kurssi", "jonossa", "suostumu", "markkinointilist", "tapahtumaloki"):
        assert words in body.lower(), words


# --- Backups ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"),
    [("fi", ["7 päivän", "6 kuukauden", "toisessa paikassa"]), ("en", ["7 days", "6 months"])],
)
def test_the_notice_says_how_long_backups_are_kept(client, settings, language, words):
    settings.BACKUP_KEEP_DAILY, settings.BACKUP_KEEP_MONTHLY = 7, 6
    body = notice(client, language)
    for word in words:
        assert word in body, word


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fi", ["käsittelyä on rajoitettu (tietosuoja-asetuksen 18 artikla)", "kunnes rajoitus"]),
        ("en", ["restricted (GDPR art. 18)", "kept until the restriction is lifted"]),
    ],
)
def test_the_notice_says_a_restricted_customer_is_kept_past_the_retention(client, language, words):
    """Retention skips a customer whose processing is restricted
    (rights.selectors.retention_candidates): the notice says so."""
    body = notice(client, language)
    for word in words:
        assert word in body, word


def readme_offsite_copy():
    """The README's cron line that copies the backups off the server."""
    lines = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if re.match(r"[\d*]+ [\d*]+ \* \* \* rsync ", line)
    ]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])[5:]


def command_of(server, offsite):
    """The README's off-site copy, from and to these folders."""
    return [
        word.replace("/srv/balansia/var/", f"{server}/").replace(
            "backup@offsite.example.fi:balansia/", f"{offsite}/"
        )
        for word in readme_offsite_copy()
    ]


@pytest.mark.skipif(not Path("/usr/bin/rsync").exists(), reason="rsync is not installed")
def test_the_offsite_copy_of_the_readme_keeps_no_more_than_the_server(tmp_path, settings):
    """The off-site copy must drop what `backup --prune` drops (the notice says
    no backup is kept longer than BACKUP_KEEP_MONTHLY months, at both sites)."""
    server, offsite = tmp_path / "srv" / "balansia" / "var", tmp_path / "offsite"
    (server / "backups").mkdir(parents=True)
    offsite.mkdir()
    (server / "erasure-journal.jsonl").write_text("{}\n")
    # Before the first objection there is no marketing journal: the copy runs anyway.
    subprocess.run(command_of(server, offsite), check=True)
    (server / "marketing-journal.jsonl").write_text("{}\n")
    command = command_of(server, offsite)
    settings.BACKUP_KEEP_DAILY, settings.BACKUP_KEEP_MONTHLY = 7, 12
    day = datetime(2025, 1, 1, 2, 15)
    # A year of nightly backups, then 40 nights copied off-site each night:
    # the daily and the monthly windows both move on meanwhile.
    for night in range(400):
        name = f"balansia-{day:%Y%m%d-%H%M%S}-sqlite{SUFFIX}"
        (server / "backups" / name).write_bytes(b"encrypted")
        prune(server / "backups")
        if night >= 360:
            subprocess.run(command, check=True)
        day += timedelta(days=1)
    kept = sorted(path.name for path in (server / "backups").iterdir())
    copied = sorted(path.name for path in offsite.iterdir())
    assert copied == sorted([*kept, "erasure-journal.jsonl", "marketing-journal.jsonl"])
    assert len(kept) < 7 + 12
    oldest = datetime.strptime(kept[0].split("-")[1], "%Y%m%d")
    assert day - oldest < timedelta(days=366)


# --- The record of processing activities --------------------------------------


def sections(language="en"):
    with override(language):
        return {
            str(heading): [str(line) for line in lines] for heading, lines in processing_record()
        }


@pytest.mark.django_db
def test_the_record_names_the_processors_and_the_transfers(settings):
    settings.REGISTER_PROCESSORS = [HOSTING, NEWSLETTER]
    record = sections()
    recipients = record["Recipients"]
    assert any(
        "Esimerkki Hosting Oy, Finland: palvelin ja tietokanta" in line for line in recipients
    )
    assert any("Example Newsletters Inc., United States of America" in line for line in recipients)
    assert "Nobody else outside" in recipients[-1]
    assert record["Transfers outside the EU/EEA"] == [
        "Example Newsletters Inc., United States of America: EU-Yhdysvallat-tietosuojakehys."
    ]


@pytest.mark.django_db
def test_the_record_says_when_no_processor_is_listed(settings):
    settings.REGISTER_PROCESSORS = []
    record = sections()
    assert record["Recipients"][0] == "No processors are listed (REGISTER_PROCESSORS)."
    assert record["Transfers outside the EU/EEA"] == ["None."]


@pytest.mark.django_db
def test_the_record_lists_the_content_of_the_notice_and_its_retention(settings):
    settings.MESSAGE_BODY_DAYS, settings.BACKUP_KEEP_MONTHLY = 45, 6
    record = sections()
    with override("en"):
        assert record["Categories of personal data"] == register_content()
    retention = " ".join(record["Retention periods"])
    assert "the last 6 months, none for longer" in retention
    assert "off-site copy" in retention
    assert "The texts of messages to customers: 45 days" in retention


@pytest.mark.django_db
def test_the_record_names_the_restriction_as_an_exception_to_the_retention():
    """The notice tells the customer that a restriction keeps the data past
    the retention period; the record of processing says the same."""
    retention = " ".join(sections()["Retention periods"])
    assert "processing is restricted (GDPR art. 18) is not erased" in retention
    assert "until the restriction is lifted" in retention


@pytest.mark.django_db
def test_the_record_as_markdown_and_pdf_carries_the_processors(client, register_manager, settings):
    settings.REGISTER_PROCESSORS = [HOSTING, NEWSLETTER]
    with override("fi"):
        markdown = processing_record_markdown()
    assert "Esimerkki Hosting Oy, Suomi: palvelin ja tietokanta" in markdown
    client.force_login(register_manager)
    pdf = client.get(reverse("registry:processing-record-pdf"), {"language": "en"})
    text = _pdf_text(pdf.content)
    assert "Example Newsletters Inc." in text and "EU-Yhdysvallat" in text


# --- REGISTER_PROCESSORS from the environment -------------------------------


def test_processors_are_read_from_json(monkeypatch):
    monkeypatch.setenv(
        "REGISTER_PROCESSORS",
        json.dumps([{**HOSTING, "country": " fi "}, NEWSLETTER]),
    )
    assert envprocessors("REGISTER_PROCESSORS") == [
        {**HOSTING, "safeguard": ""},
        NEWSLETTER,
    ]
    monkeypatch.setenv("REGISTER_PROCESSORS", "")
    assert envprocessors("REGISTER_PROCESSORS") == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not json", "not valid JSON"),
        ("'[]'", "not valid JSON"),
        ("[" * 100_000, "not valid JSON"),
        ('{"name": "A"}', "not a list"),
        ("[1]", "processor 1 is not an object"),
        (json.dumps([HOSTING, {**HOSTING, "safegaurd": "x"}]), "processor 2 has unknown keys"),
        (json.dumps([{**HOSTING, "name": 5}]), "the name of processor 1 is not text"),
        (json.dumps([{**HOSTING, "country": -1}]), "the country of processor 1 is not text"),
        (json.dumps([{**HOSTING, "purpose": None}]), "the purpose of processor 1 is not text"),
        (json.dumps([{**HOSTING, "name": "A\u0000B"}]), "control characters"),
        (json.dumps([{**HOSTING, "name": "A\nB"}]), "control characters"),
        (json.dumps([{**HOSTING, "name": "A\u202eB"}]), "control characters"),
        (json.dumps([{**HOSTING, "purpose": "x" * 10_000}]), "longer than 300"),
        (json.dumps([{**HOSTING, "name": "  "}]), "processor 1 has no name"),
        (json.dumps([{"name": "A", "purpose": "b"}]), "processor 1 has no country"),
        (json.dumps([{**HOSTING, "country": "Suomi"}]), "not an ISO 3166-1 code"),
        (json.dumps([{**HOSTING, "country": "ZZ"}]), "not an ISO 3166-1 code"),
        (json.dumps([{**NEWSLETTER, "safeguard": ""}]), "outside the EU/EEA (US)"),
    ],
)
def test_hostile_processors_stop_the_start_with_the_reason(monkeypatch, value, reason):
    monkeypatch.setenv("REGISTER_PROCESSORS", value)
    with pytest.raises(ImproperlyConfigured, match="REGISTER_PROCESSORS") as refused:
        envprocessors("REGISTER_PROCESSORS")
    assert reason in str(refused.value)
    assert "README, Processors" in str(refused.value)


def test_the_app_does_not_start_with_a_transfer_without_safeguard():
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_KEY": "x" * 50,
        "REGISTER_PROCESSORS": json.dumps([{**NEWSLETTER, "safeguard": ""}]),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import balansia.settings"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "REGISTER_PROCESSORS: processor 1 is outside the EU/EEA (US)" in result.stderr


# --- The deployment checks ----------------------------------------------------

REAL_CONTROLLER = {
    "name": "Viva Balansia Oy",
    "street": "Rantakatu 12",
    "postal_code": "80100",
    "city": "Joensuu",
    "business_id": "1234567-1",
    "email": "info@balansia.example",
}
REAL_CONTACT = {
    "name": "Maija Esimerkki",
    "phone": "+358 13 000 0100",
    "email": "tietosuoja@balansia.example",
}


def test_no_processors_warn_when_debug_is_off(settings):
    settings.DEBUG, settings.REGISTER_PROCESSORS = False, []
    assert [w.id for w in processors_check(None)] == ["registry.W002"]
    settings.REGISTER_PROCESSORS = [HOSTING]
    assert processors_check(None) == []
    settings.DEBUG, settings.REGISTER_PROCESSORS = True, []
    assert processors_check(None) == []


def test_the_placeholders_of_the_controller_warn(settings):
    settings.DEBUG = False
    # The test settings are the defaults: every placeholder is named.
    (warning,) = controller_check(None)
    assert warning.id == "registry.W003"
    for name in (
        "CONTROLLER_BUSINESS_ID",
        "CONTROLLER_EMAIL",
        "CONTROLLER_STREET",
        "REGISTER_CONTACT_EMAIL",
        "REGISTER_CONTACT_NAME",
        "REGISTER_CONTACT_PHONE",
    ):
        assert name in warning.msg
    settings.REGISTER_CONTROLLER, settings.REGISTER_CONTACT_PERSON = REAL_CONTROLLER, REAL_CONTACT
    assert controller_check(None) == []
    settings.DEBUG = True
    settings.REGISTER_CONTROLLER = {**REAL_CONTROLLER, "business_id": "0000000-0"}
    assert controller_check(None) == []


@pytest.mark.parametrize(
    ("controller", "contact", "named"),
    [
        ({"business_id": "1234567-2"}, {}, "CONTROLLER_BUSINESS_ID"),
        ({"business_id": "1234567"}, {}, "CONTROLLER_BUSINESS_ID"),
        ({"email": "info@balansia.INVALID."}, {}, "CONTROLLER_EMAIL"),
        ({}, {"email": "rekisteri@example.invalid"}, "REGISTER_CONTACT_EMAIL"),
    ],
)
def test_one_placeholder_or_invalid_value_warns(settings, controller, contact, named):
    settings.DEBUG = False
    settings.REGISTER_CONTROLLER = {**REAL_CONTROLLER, **controller}
    settings.REGISTER_CONTACT_PERSON = {**REAL_CONTACT, **contact}
    (warning,) = controller_check(None)
    assert warning.msg.endswith(f"contact person: {named}.")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2281001-2", True),
        ("1234567-1", True),
        ("0737546-2", True),
        ("2281001-3", False),
        ("1234567-", False),
        ("12345678", False),
        # Digits of another script (full-width) are no digits of a business ID.
        ("2281001-2".translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"}), False),
        ("", False),
    ],
)
def test_a_business_id_has_its_check_digit(value, valid):
    assert is_business_id(value) is valid


def test_check_deploy_warns_about_the_notice(settings):
    settings.DEBUG, settings.REGISTER_PROCESSORS = False, []
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", "--deploy", "--fail-level", "WARNING")
    assert "registry.W002" in str(failed.value)
    assert "registry.W003" in str(failed.value)


def test_check_deploy_warns_when_mail_is_written_to_files(settings):
    """Without EMAIL_HOST settings.py writes every message to an .eml file:
    right on a laptop, not on a server (no customer gets the mail, and the
    files hold personal data)."""
    settings.DEBUG, settings.EMAIL_BACKEND = False, "courses.mail.EmlFileBackend"
    assert [w.id for w in mail_files_check(None)] == ["registry.W004"]
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", "--deploy", "--fail-level", "WARNING")
    assert "registry.W004" in str(failed.value)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert mail_files_check(None) == []
    settings.DEBUG, settings.EMAIL_BACKEND = True, "courses.mail.EmlFileBackend"
    assert mail_files_check(None) == []


def test_ci_deployment_checks_pass_with_the_production_like_settings(tmp_path):
    """The step of .ci/run and `make check-deploy`, in a fresh interpreter
    that reads the settings from the environment as a server does."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    env.update(
        line.split("=", 1)
        for line in (ROOT / ".ci" / "production-like.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SUPPRESSION_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="rekisteri.example.fi",
        CSRF_TRUSTED_ORIGINS="https://rekisteri.example.fi",
        VAR_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_production_like_settings_of_ci_pass_the_notice_checks(monkeypatch, settings):
    """.ci/run and `make check-deploy` give these: CI stays green only if they
    are valid and are no placeholders."""
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".ci" / "production-like.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    monkeypatch.setenv("REGISTER_PROCESSORS", values["REGISTER_PROCESSORS"])
    settings.DEBUG = False
    settings.REGISTER_PROCESSORS = envprocessors("REGISTER_PROCESSORS")
    settings.REGISTER_CONTROLLER = {
        key: values[f"CONTROLLER_{key.upper()}"] for key in REAL_CONTROLLER
    }
    settings.REGISTER_CONTACT_PERSON = {
        key: values[f"REGISTER_CONTACT_{key.upper()}"] for key in REAL_CONTACT
    }
    assert processors_check(None) == []
    assert controller_check(None) == []
    assert any(p["country"] not in settings.EU_EEA_COUNTRIES for p in settings.REGISTER_PROCESSORS)

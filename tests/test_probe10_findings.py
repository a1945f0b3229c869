"""What the tenth outside probe found (of the unusual-activity alert, the
journals read at a restore, the names of accounts and the objections an
import records for customers already in the register), each test failing on
the code before its fix."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from registry import backups
from registry.accounts.selectors import unusual_activity
from registry.audit.models import AuditEvent
from registry.audit.services import customers_listed
from registry.imports import services as import_services
from registry.imports.services import import_apply
from registry.journal import MarketingJournalError, read_marketing_journal
from registry.models import Consent, Customer
from registry.rights.erasure import ErasureJournalError, customer_erase, read_journal
from registry.rights.restriction import customer_restrict
from registry.services import consent_record, customer_merge

from .factories import CustomerFactory, UserFactory
from .htmlforms import form_data
from .test_confidentiality import add_account
from .test_import_ledger import FILE_DAY, OBJECTION, eero, eero_row, ledger  # noqa: F401
from .test_imports import HEADER, upload

User = get_user_model()


# --- The alert counted clock hours -------------------------------------------------


@pytest.mark.django_db
def test_reads_either_side_of_the_hour_raise_the_alert(staff_member, settings):
    """The alert summed each clock hour apart: a user who read the limit's
    worth at 10:50 and again at 11:10 (twice the limit in twenty minutes)
    raised none, and one who read steadily just under the limit every clock
    hour neither. Any 60 minutes count now."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 5
    # A clock hour that began at least an hour ago: both reads are past.
    boundary = timezone.localtime().replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    customers = [c.pk for c in CustomerFactory.create_batch(5)]
    for moment in (boundary - timedelta(minutes=10), boundary + timedelta(minutes=10)):
        event = customers_listed(ids=customers, via="outbox", by=staff_member, request=None)
        QuerySet.update(AuditEvent.objects.filter(pk=event.pk), at=moment)
    (alert,) = unusual_activity()
    assert (alert["username"], alert["records"]) == ("toimisto", 10)
    assert alert["hour"] == boundary - timedelta(minutes=10)


@pytest.mark.django_db
def test_one_burst_is_one_alert_and_reads_an_hour_apart_are_none(staff_member, settings):
    """A burst is told once, from its first read (not once per read in it);
    the same reads spread wider than an hour raise nothing."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 5
    start = timezone.now() - timedelta(hours=5)
    customers = [c.pk for c in CustomerFactory.create_batch(3)]

    def read_at(moment):
        event = customers_listed(ids=customers, via="outbox", by=staff_member, request=None)
        QuerySet.update(AuditEvent.objects.filter(pk=event.pk), at=moment)

    for minutes in (0, 20, 40):
        read_at(start + timedelta(minutes=minutes))
    assert [(a["records"], a["hour"]) for a in unusual_activity()] == [(9, start)]
    later = start + timedelta(hours=2)
    for minutes in (0, 61, 122):
        read_at(later + timedelta(minutes=minutes))
    assert [(a["records"], a["hour"]) for a in unusual_activity()] == [(9, start)]


# --- The erasure journal was read only after the backup was loaded ----------------


@pytest.mark.django_db(transaction=True)
def test_a_damaged_erasure_journal_stops_the_restore_before_it_brings_anyone_back(
    backup_key, settings
):
    """A line of the erasure journal torn by a crash (or edited by hand) was
    found only after the backup had been loaded: the restore stopped with a
    traceback, and everybody erased since the backup was back in the
    register. Both journals are read, and checked, before anything is
    restored; the error names the line."""
    by = UserFactory(username="varmistaja")
    erased = CustomerFactory(first_name="Poistettu", last_name="Palaamaton")
    path, _ = backups.create_backup()
    customer_erase(customer=erased, by=by)
    with settings.ERASURE_JOURNAL_PATH.open("a") as journal:
        journal.write('{"customer_id": 99, "created_at": "2026-')
    with pytest.raises(CommandError, match="Line 2 of the erasure journal"):
        call_command("restore", str(path), "--force")
    assert not Customer.objects.filter(last_name="Palaamaton").exists()


@pytest.mark.parametrize(
    "line",
    [
        "[1, 2]",
        "null",
        '{"customer_id": "7"}',
        '{"customer_id": 7, "created_at": "yesterday"}',
        '{"customer_id": 7, "identities": [[7]]}',
        '{"customer_id": 7, "suppressed": ["abc"]}',
    ],
)
def test_an_erasure_journal_entry_of_the_wrong_shape_is_named(settings, line):
    settings.ERASURE_JOURNAL_PATH.write_text(
        '{"customer_id": 3, "created_at": "2026-01-01T10:00:00+00:00"}\n' + line + "\n"
    )
    with pytest.raises(ErasureJournalError, match="Line 2 of the erasure journal"):
        read_journal()


# --- The marketing journal was checked for JSON only -------------------------------


def journalled_objection(customer):
    consent_record(
        customer=customer,
        channel=Consent.Channel.DIRECT_MARKETING,
        event=Consent.Event.OBJECTION,
        method=Consent.Method.PHONE,
        by=UserFactory(),
    )
    (entry,) = read_marketing_journal()
    return entry


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"event": Consent.Event.CONSENT_GIVEN},  # would give a consent at the restore
        {"channel": "fax"},
        {"occurred_at": "eilen"},
        {"customer_id": None},
        {"identities": "7"},
        {"method": 3},
    ],
)
def test_a_marketing_journal_entry_of_the_wrong_shape_stops_the_restore_first(settings, change):
    """Any line that was JSON passed the check made before the restore: an
    entry without a key, or with a moment that is no moment, stopped the
    restore after the backup was loaded (the objections since it lost), and
    an entry with the event "consent given" was recorded as a consent. Each
    entry is checked for what the restore reads of it."""
    entry = journalled_objection(CustomerFactory())
    settings.MARKETING_JOURNAL_PATH.write_text(json.dumps({**entry, **change}) + "\n")
    with pytest.raises(MarketingJournalError, match="Line 1 of the marketing journal"):
        read_marketing_journal()


@pytest.mark.django_db
def test_a_marketing_journal_line_that_is_not_an_entry_is_named(settings):
    entry = journalled_objection(CustomerFactory())
    settings.MARKETING_JOURNAL_PATH.write_text(json.dumps(entry) + "\n" + "[]\n")
    with pytest.raises(MarketingJournalError, match="Line 2 of the marketing journal"):
        read_marketing_journal()
    settings.MARKETING_JOURNAL_PATH.write_text(json.dumps(entry) + "\n")
    assert read_marketing_journal() == [entry]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [{"restricted_since": "eilen"}, {"recorded_at": None}, {"kind": "lift"}, {"customer_id": 0}],
)
def test_a_restriction_entry_of_the_wrong_shape_stops_the_restore_first(
    settings, register_manager, change
):
    """The journal holds restrictions of processing too (kind "restriction"):
    they are checked for what the restore reads of them, and a kind the
    restore does not know is refused, not read as the ledger's."""
    customer_restrict(customer=CustomerFactory(), by=register_manager)
    (entry,) = read_marketing_journal()
    assert entry["kind"] == "restriction"
    settings.MARKETING_JOURNAL_PATH.write_text(json.dumps({**entry, **change}) + "\n")
    with pytest.raises(MarketingJournalError, match="Line 1 of the marketing journal"):
        read_marketing_journal()


# --- An account renamed in admin to another's name in other letter case ---------


@pytest.mark.django_db
def test_admin_refuses_renaming_an_account_to_anothers_name_in_other_case(
    client, register_manager
):
    """The first login refuses a name that differs from another user's only
    in letter case (the ninth probe); admin's rename did not: "Aino.Ahola"
    beside "aino.ahola", two accounts the audit trail names alike."""
    UserFactory(username="aino.ahola")
    UserFactory(username="äijä.virtanen")
    person = UserFactory(username="eino.ehola")
    url = reverse("admin:auth_user_change", args=[person.pk])
    client.force_login(register_manager)
    for clash in ("Aino.Ahola", "ÄIJÄ.Virtanen"):
        data = form_data(client.get(url).content.decode(), "user_form", username=clash)
        response = client.post(url, data)
        assert response.status_code == 200, clash
        assert response.context["adminform"].form.has_error("username", "unique")
    person.refresh_from_db()
    assert person.username == "eino.ehola"
    data = form_data(client.get(url).content.decode(), "user_form", username="Eino.Ehola")
    assert client.post(url, data).status_code == 302  # its own name in other case


@pytest.mark.django_db
def test_a_new_account_may_not_take_anothers_name_in_other_case(client, register_manager):
    UserFactory(username="äijä.virtanen")
    client.force_login(register_manager)
    response = add_account(
        client, username="ÄIJÄ.virtanen", confidentiality_signed_on="2026-01-05"
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.has_error("username", "unique")


# --- An import recorded an objection for a customer erased meanwhile ---------------


@pytest.mark.django_db
def test_a_customer_merged_away_while_the_file_was_checked_is_matched_to_the_kept_one(
    eero,  # noqa: F811
    staff_member,
    register_manager,
    monkeypatch,
):
    """Without a kept preview (import_customers, or choices changed since),
    the rows are checked outside the import's transaction, and the rows
    matched then kept their match: a customer merged into another record in
    the meantime got an objection written to an id no longer in the
    register, and the whole import failed. (An erasure meanwhile discards
    the waiting imports that name the person.) The transaction matches every
    row again."""
    # The same person, found by the phone once the other record is gone.
    kept = CustomerFactory(first_name="Eero", email="eero.uusi@example.invalid", phone=eero.phone)
    check = import_services._read_and_check

    def merged_while_checked(*args, **kwargs):
        analysis = check(*args, **kwargs)
        customer_merge(
            keep=Customer.objects.get(pk=kept.pk),
            remove=Customer.objects.get(pk=eero.pk),
            values={},
            by=register_manager,
        )
        return analysis

    monkeypatch.setattr(import_services, "_read_and_check", merged_while_checked)
    customer_import = upload(
        [eero_row("kyllä")],
        staff_member,
        header=[*HEADER, OBJECTION],
        consent_date=FILE_DAY,
        consent_method="letter",
    )
    done = import_apply(customer_import=customer_import, by=staff_member)
    assert done.recorded_count == 1
    assert ledger(kept) == [("direct_marketing", "objection", "letter")]
    assert Consent.objects.count() == 1

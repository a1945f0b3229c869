"""Data subject requests outlive a restore (GDPR art. 12(3): each is answered
within its deadline). Restoring last night's backup lost every case logged or
changed since: a request could go unanswered past its deadline, and the proof
that an erasure made after the backup was asked for was gone. Each case is
journalled without personal data (the marketing journal, entries of the kind
"case"); `restore` re-creates the cases the backup lacks and brings the state
of those it holds up to date."""

import datetime
import html
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from registry import backups
from registry.audit.models import AuditEvent
from registry.forms import VersionField
from registry.journal import MarketingJournalError, read_marketing_journal
from registry.models import Customer
from registry.rights.erasure import customer_erase
from registry.rights.models import DataSubjectRequest
from registry.rights.services import case_link, case_log, case_update

from .factories import CustomerFactory
from .restores import restore

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backup_key")]

RECEIVED = datetime.date(2026, 11, 2)
#: What the restored case says in place of the details the journal never holds.
LOST = "the request's details were not kept"


@pytest.fixture(autouse=True)
def english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def customer():
    return CustomerFactory(
        first_name="Kerttu", last_name="Kysyjä", email="kerttu.kysyja@example.invalid"
    )


def log(customer, by, kind="access", **requester):
    return case_log(
        customer=customer,
        kind=kind,
        received_on=RECEIVED,
        identity_verification="Ajokortti nähty toimistolla, Kerttu",
        by=by,
        **requester,
    )


def case_of(reference):
    return DataSubjectRequest.objects.get(reference=reference)


def restored_events():
    return AuditEvent.objects.filter(action=AuditEvent.Action.CASE_RESTORED)


def test_a_case_logged_after_the_backup_comes_back_marked_incomplete(
    customer, register_manager, capsys
):
    path, _ = backups.create_backup()
    case = log(customer, register_manager, kind="erasure")
    out = restore(path, capsys)
    restored = case_of(case.reference)
    assert (restored.kind, restored.received_on, restored.deadline) == (
        "erasure",
        RECEIVED,
        datetime.date(2026, 12, 2),
    )
    assert restored.status == "open"
    assert restored.customer_id == customer.pk
    assert restored.handled_by == register_manager
    # The note says what is missing; the typed text is not brought back.
    assert LOST in restored.identity_verification
    assert "Ajokortti" not in restored.identity_verification
    assert f"1 data subject request re-created ({case.reference})" in out
    # Audited as the journal's doing, by nobody, with codes and dates only.
    (event,) = restored_events()
    assert event.actor is None and event.target_id == str(restored.pk)
    assert event.detail["via"] == "marketing_journal"
    assert event.detail["reference"] == case.reference
    assert event.detail["created"] is True


def test_a_case_closed_after_the_backup_is_closed_after_the_restore(
    customer, register_manager, capsys
):
    case = log(customer, register_manager)
    path, _ = backups.create_backup()
    extended = datetime.date(2027, 1, 15)
    case = case_update(
        case=case,
        data={"deadline": extended, "extension_reason": "Paljon aineistoa"},
        by=register_manager,
    )
    case_update(
        case=case, data={"status": "done", "outcome": "Vastattu Kerttu"}, by=register_manager
    )
    out = restore(path, capsys)
    restored = case_of(case.reference)
    assert restored.status == "done"
    assert restored.completed_on == timezone.localdate()
    assert restored.deadline == extended
    assert f"1 data subject request brought up to date ({case.reference})" in out
    (event,) = restored_events()
    assert event.detail["created"] is False
    assert event.detail["changes"]["status"] == ["open", "done"]


def test_a_case_without_a_customer_comes_back_without_the_requester(register_manager, settings):
    path, _ = backups.create_backup()
    case = log(
        None,
        register_manager,
        requester_name="Pekka Pyytäjä",
        requester_contact="pekka.pyytaja@example.invalid",
    )
    restore(path)
    restored = case_of(case.reference)
    assert restored.customer is None
    # The journal keeps no names: the requester is said not kept, so that
    # the case is still one without a customer, linkable and answerable...
    assert "Pekka" not in restored.requester_name
    assert "not kept" in restored.requester_name
    assert restored.requester_contact == ""
    assert restored.without_customer and restored.linkable
    assert LOST in restored.identity_verification
    # ...and open: nothing for the customer to read as its outcome yet.
    assert restored.outcome == ""


def test_the_requester_of_a_restored_case_is_typed_on_its_page(client, register_manager):
    """The review of 2026-11-29: a re-created request of someone who was no
    customer showed "(erased)", could not be linked, answered or given its
    requester; its update form asks who asked."""
    path, _ = backups.create_backup()
    case = log(None, register_manager, requester_name="Pekka Pyytäjä", requester_contact="p@x.fi")
    restore(path)
    restored = case_of(case.reference)
    client.force_login(register_manager)
    url = reverse("registry:request-detail", args=[restored.pk])
    page = client.get(url).content.decode()
    assert "(erased)" not in page and "(poistettu)" not in page
    assert 'name="requester_name"' in page
    response = client.post(
        url,
        {
            "requester_name": "Pekka Pyytäjä",
            "requester_contact": "pekka.pyytaja@example.invalid",
            "status": "open",
            "identity_verification": "Henkilökortti nähty",
            "outcome": "",
            "deadline": restored.deadline.isoformat(),
            "extension_reason": "",
            "version": VersionField.token(restored),
        },
    )
    assert response.status_code == 302
    restored.refresh_from_db()
    assert (restored.requester_name, restored.requester_contact) == (
        "Pekka Pyytäjä",
        "pekka.pyytaja@example.invalid",
    )
    assert restored.linkable


def test_a_customers_case_has_no_requester_to_type(client, customer, register_manager):
    case = log(customer, register_manager)
    client.force_login(register_manager)
    url = reverse("registry:request-detail", args=[case.pk])
    assert 'name="requester_name"' not in client.get(url).content.decode()
    client.post(
        url,
        {
            "requester_name": "Joku Muu",
            "status": "open",
            "identity_verification": case.identity_verification,
            "outcome": "",
            "deadline": case.deadline.isoformat(),
            "extension_reason": "",
            "version": VersionField.token(case),
        },
    )
    case.refresh_from_db()
    assert case.requester_name == ""
    assert case.customer_id == customer.pk


def test_a_case_linked_after_the_backup_is_linked_after_the_restore(customer, register_manager):
    case = log(None, register_manager, requester_name="Kerttu Kysyjä", requester_contact="x@y.fi")
    path, _ = backups.create_backup()
    case_link(case=case, customer=customer, by=register_manager)
    restore(path)
    restored = case_of(case.reference)
    assert restored.customer_id == customer.pk
    assert (restored.requester_name, restored.requester_contact) == ("", "")


def test_restoring_twice_adds_nothing_twice(customer, register_manager, capsys):
    path, _ = backups.create_backup()
    case = log(customer, register_manager)
    restore(path)
    out = restore(path, capsys)
    assert DataSubjectRequest.objects.filter(reference=case.reference).count() == 1
    assert f"1 data subject request re-created ({case.reference})" in out
    # A backup that holds the case as journalled gets nothing.
    newer, _ = backups.create_backup()
    out = restore(newer, capsys)
    assert DataSubjectRequest.objects.count() == 1
    assert "Data subject requests: nothing to re-create." in out


def test_a_customer_erased_since_leaves_the_case_without_a_customer(customer, register_manager):
    path, _ = backups.create_backup()
    case = log(customer, register_manager, kind="erasure")
    customer_erase(customer=customer, by=register_manager, case=case)
    restore(path)
    assert not Customer.objects.filter(pk=customer.pk).exists()
    restored = case_of(case.reference)
    assert restored.customer is None
    assert restored.status == "done"


def test_a_case_is_not_linked_to_another_person_holding_the_id(customer, register_manager):
    older, _ = backups.create_backup()
    newcomer = CustomerFactory(last_name="Uusi")
    case = log(newcomer, register_manager)
    restore(older)
    # The newcomer is not in the older backup; whoever is added next may get
    # their id (the restored id counter is the backup's).
    other = CustomerFactory(last_name="Toinen")
    Customer.objects.filter(pk=other.pk).update(id=newcomer.pk)
    DataSubjectRequest.objects.all().delete()
    newer, _ = backups.create_backup()
    restore(newer)
    assert Customer.objects.get(pk=newcomer.pk).last_name == "Toinen"
    assert case_of(case.reference).customer is None


def test_the_journal_holds_no_name_contact_nor_free_text(customer, register_manager, settings):
    case = log(customer, register_manager)
    case_update(
        case=case,
        data={"deadline": datetime.date(2027, 1, 2), "extension_reason": "Kerttu sairastui"},
        by=register_manager,
    )
    other = log(
        None, register_manager, requester_name="Pekka Pyytäjä", requester_contact="040 123 4567"
    )
    case_update(case=other, data={"status": "refused", "outcome": "Pekka ei"}, by=register_manager)
    text = settings.MARKETING_JOURNAL_PATH.read_text()
    for personal in (
        "Kerttu",
        "Kysyjä",
        "kerttu.kysyja",
        "Pekka",
        "Pyytäjä",
        "040 123 4567",
        "Ajokortti",
        "sairastui",
        "vastaava",
    ):
        assert personal not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [entry["kind"] for entry in entries] == ["case"] * 4
    assert [entry["reference"] for entry in entries] == [case.reference] * 2 + [
        other.reference
    ] * 2
    assert entries[1]["deadline"] == "2027-01-02"
    assert entries[0]["customer_id"] == customer.pk
    assert entries[3]["customer_id"] is None and entries[3]["status"] == "refused"


def test_an_outcome_alone_is_not_journalled(customer, register_manager, settings):
    case = log(customer, register_manager)
    before = settings.MARKETING_JOURNAL_PATH.read_text()
    case_update(case=case, data={"outcome": "Kirje lähetetty"}, by=register_manager)
    assert settings.MARKETING_JOURNAL_PATH.read_text() == before


def test_backup_prune_drops_cases_every_kept_backup_holds(customer, register_manager, settings):
    log(customer, register_manager)
    erased = CustomerFactory()
    kept = log(erased, register_manager)
    customer_erase(customer=erased, by=register_manager)
    journal = settings.MARKETING_JOURNAL_PATH
    lines = journal.read_text().splitlines(keepends=True)
    old = json.loads(lines[0])
    old["recorded_at"] = (timezone.now() - datetime.timedelta(days=40)).isoformat()
    journal.write_text(json.dumps(old) + "\n" + "".join(lines[1:]))
    directory = settings.BACKUP_DIR
    directory.mkdir(parents=True)
    taken = timezone.localtime() - datetime.timedelta(days=10)
    (directory / f"balansia-{taken:%Y%m%d-%H%M%S}-sqlite{backups.SUFFIX}").write_bytes(b"x")
    call_command("backup", "--prune")
    # The old one went; the case of the customer erased since stays (the
    # request is kept, without the person).
    assert journal.read_text() == "".join(lines[1:])
    assert json.loads(lines[1])["reference"] == kept.reference


@pytest.mark.parametrize(
    "change",
    [
        {"status": "lost"},
        {"request": "everything"},
        {"deadline": "huomenna"},
        {"received_on": None},
        {"reference": ""},
        {"customer_id": "7"},
        {"handled_by": True},
        {"kind": "cases"},
    ],
)
def test_a_damaged_case_entry_stops_the_restore_first(
    customer, register_manager, settings, change
):
    log(customer, register_manager)
    (entry,) = read_marketing_journal()
    assert entry["kind"] == "case"
    settings.MARKETING_JOURNAL_PATH.write_text(json.dumps({**entry, **change}) + "\n")
    with pytest.raises(MarketingJournalError, match="Line 1 of the marketing journal"):
        read_marketing_journal()
    # The restore stops before it loads the backup: the case is still here.
    path = settings.BACKUP_DIR / "none.balansia-backup"
    with pytest.raises(CommandError, match="Line 1 of the marketing journal"):
        restore(path)
    assert DataSubjectRequest.objects.count() == 1


def test_the_restored_case_page_shows_the_note_and_the_event(customer, register_manager, client):
    path, _ = backups.create_backup()
    case = log(customer, register_manager)
    restore(path)
    restored = case_of(case.reference)
    client.force_login(register_manager)
    page = client.get(reverse("registry:request-detail", args=[restored.pk]))
    assert page.status_code == 200
    text = html.unescape(page.content.decode())
    assert LOST in text
    assert "Restored a data subject request from the journal after a restore" in text

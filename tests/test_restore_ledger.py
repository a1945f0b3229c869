"""A restore keeps the objections and withdrawals recorded after the backup
(a data protection audit: a restore of last night's backup marketed again to
a customer who had objected that morning). Each narrowing event of the
consent ledger is journalled outside the database; `restore` records again
those the backup lacks."""

import datetime
import json
import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry import backups
from registry.audit.models import AuditEvent
from registry.imports.unsubscribes import unsubscribes_apply, unsubscribes_upload
from registry.models import Consent, ConsentText, Customer, MarketingChannel
from registry.rights.erasure import customer_erase
from registry.services import consent_record, marketing_list

from .factories import ConsentFactory, CustomerFactory, UserFactory
from .restores import restore

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backup_key")]

UNSUBSCRIBES = Path(__file__).parent / "fixtures" / "unsubscribes" / "plain_list.txt"
OBJECTION = {"channel": Consent.Channel.DIRECT_MARKETING, "event": Consent.Event.OBJECTION}
WITHDRAWAL = {"channel": Consent.Channel.EMAIL, "event": Consent.Event.CONSENT_WITHDRAWN}
LAST_WEEK = timezone.now() - datetime.timedelta(days=7)


@pytest.fixture
def staff():
    return UserFactory(username="toimisto", roles=["Toimisto"])


@pytest.fixture
def customer():
    """On every marketing list: an email consent given last week."""
    customer = CustomerFactory(
        first_name="Marja", last_name="Kieltäjä", email="marja.kieltaja@example.invalid"
    )
    ConsentFactory(customer=customer, occurred_at=LAST_WEEK)
    return customer


def ledger(customer, channel):
    return list(
        Consent.objects.filter(customer_id=customer.pk, channel=channel)
        .order_by("occurred_at", "id")
        .values_list("event", flat=True)
    )


def marketed(channel):
    return set(marketing_list(channel=channel).values_list("pk", flat=True))


def test_an_objection_recorded_after_the_backup_outlives_a_restore(customer, staff, capsys):
    path, _ = backups.create_backup()
    consent_record(customer=customer, method="phone", by=staff, **OBJECTION)
    out = restore(path, capsys)
    assert ledger(customer, "direct_marketing") == ["objection"]
    assert customer.pk not in marketed(MarketingChannel.POST)
    assert customer.pk not in marketed(MarketingChannel.EMAIL)
    assert "Re-applied the marketing journal: 1 objection or withdrawal" in out
    # Recorded again as it was: when, how, by whom, and audited as re-applied.
    event = Consent.objects.get(customer_id=customer.pk, event="objection")
    assert (event.method, event.recorded_by, event.recorded_by_role) == ("phone", staff, "staff")
    audit = AuditEvent.objects.get(action=AuditEvent.Action.CONSENT_RECORDED)
    assert audit.target_id == str(customer.pk) and audit.actor is None
    assert audit.detail["event"] == "objection"
    assert audit.detail["via"] == "marketing_journal"


def test_a_withdrawal_and_an_unsubscribe_outlive_a_restore(staff, register_manager):
    aino = CustomerFactory(email="aino.virtanen@example.invalid")
    eero = CustomerFactory(email="Eero.Korhonen@example.invalid")
    ConsentFactory(customer=aino, occurred_at=LAST_WEEK)
    ConsentFactory(customer=eero, occurred_at=LAST_WEEK)
    sms_text = ConsentText.objects.filter(channel="sms").first()
    consent_record(
        customer=aino, channel="sms", event="given", text=sms_text, method="phone", by=staff
    )
    path, _ = backups.create_backup()
    consent_record(customer=aino, channel="sms", event="withdrawn", method="phone", by=staff)
    content = UNSUBSCRIBES.read_bytes()
    upload = unsubscribes_upload(file_name="list.txt", content=content, by=register_manager)
    unsubscribes_apply(upload=upload, by=register_manager)
    restore(path)
    assert ledger(aino, "sms") == ["given", "withdrawn"]
    assert ledger(aino, "email") == ledger(eero, "email") == ["given", "withdrawn"]
    assert marketed(MarketingChannel.EMAIL) & {aino.pk, eero.pk} == set()
    assert aino.pk not in marketed(MarketingChannel.SMS)
    unsubscribed = Consent.objects.get(customer_id=eero.pk, event="withdrawn")
    assert unsubscribed.method == Consent.Method.NEWSLETTER_SERVICE


def test_restoring_twice_records_each_event_once(customer, staff, capsys):
    path, _ = backups.create_backup()
    consent_record(customer=customer, method="phone", by=staff, **OBJECTION)
    restore(path)
    out = restore(path, capsys)
    assert ledger(customer, "direct_marketing") == ["objection"]
    assert "Re-applied the marketing journal: 1 objection or withdrawal" in out
    # A backup that already holds the event gets nothing more.
    newer, _ = backups.create_backup()
    out = restore(newer, capsys)
    assert ledger(customer, "direct_marketing") == ["objection"]
    assert "Marketing journal: nothing to re-apply." in out


def test_an_event_of_a_customer_erased_since_is_skipped(customer, staff):
    path, _ = backups.create_backup()
    consent_record(customer=customer, method="phone", by=staff, **OBJECTION)
    customer_erase(customer=customer, by=staff)
    restore(path)
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not Consent.objects.filter(customer_id=customer.pk).exists()


def test_an_id_held_by_another_customer_gets_nothing(customer, staff):
    older, _ = backups.create_backup()
    objector = CustomerFactory(last_name="Vastustaja")
    consent_record(customer=objector, method="phone", by=staff, **OBJECTION)
    restore(older)
    # The objector is not in the older backup; whoever is added next may get
    # their id (the restored id counter is the backup's).
    other = CustomerFactory(last_name="Toinen")
    Customer.objects.filter(pk=other.pk).update(id=objector.pk)
    newer, _ = backups.create_backup()
    restore(newer)
    assert Customer.objects.get(pk=objector.pk).last_name == "Toinen"
    assert ledger(objector, "direct_marketing") == []


def test_the_latest_event_still_wins_by_when_it_happened(customer, staff):
    """A withdrawal dated before a consent that the backup holds is put back
    into the ledger's history, but the later consent stays the state, as in
    the live register; an objection dated after it wins."""
    consent_given = timezone.now() - datetime.timedelta(days=2)
    email_text = ConsentText.objects.filter(channel="email").first()
    consent_record(
        customer=customer,
        channel="email",
        event="given",
        text=email_text,
        method="phone",
        occurred_at=consent_given,
        by=staff,
    )
    path, _ = backups.create_backup()
    consent_record(
        customer=customer,
        method="letter",
        occurred_at=consent_given - datetime.timedelta(days=1),
        by=staff,
        **WITHDRAWAL,
    )
    live = marketed(MarketingChannel.EMAIL)
    assert customer.pk in live
    restore(path)
    assert ledger(customer, "email") == ["given", "withdrawn", "given"]
    assert marketed(MarketingChannel.EMAIL) == live
    consent_record(customer=customer, method="phone", by=staff, **OBJECTION)
    restore(path)
    assert customer.pk not in marketed(MarketingChannel.EMAIL)


def test_an_event_recorded_by_an_account_not_in_the_backup_keeps_its_role(customer, staff, client):
    path, _ = backups.create_backup()
    newcomer = UserFactory(username="uusi", roles=["Toimisto"])
    consent_record(customer=customer, method="phone", by=newcomer, **OBJECTION)
    restore(path)
    event = Consent.objects.get(customer_id=customer.pk, event="objection")
    assert event.recorded_by is None and event.recorded_by_role == "staff"
    client.force_login(staff)
    page = client.get(customer.get_absolute_url()).content.decode()
    assert "Toimisto (tunnusta ei ole palautetussa varmuuskopiossa)" in page


def test_the_journal_is_owner_only_and_names_nobody(customer, staff, settings):
    consent_record(customer=customer, method="phone", by=staff, **OBJECTION)
    consent_record(customer=customer, method="phone", by=staff, **WITHDRAWAL)
    path = settings.MARKETING_JOURNAL_PATH
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    text = path.read_text()
    for personal in ("Marja", "Kieltäjä", "marja.kieltaja", "toimisto"):
        assert personal not in text
    entries = [json.loads(line) for line in text.splitlines()]
    assert [(e["customer_id"], e["channel"], e["event"]) for e in entries] == [
        (customer.pk, "direct_marketing", "objection"),
        (customer.pk, "email", "withdrawn"),
    ]
    assert datetime.datetime.fromisoformat(entries[0]["created_at"]) == customer.created_at


def test_a_consent_given_is_not_journalled(customer, staff, settings):
    email_text = ConsentText.objects.filter(channel="email").first()
    consent_record(
        customer=customer,
        channel="email",
        event="given",
        text=email_text,
        method="phone",
        by=staff,
    )
    consent_record(
        customer=customer,
        channel="direct_marketing",
        event="objection_lifted",
        method="phone",
        by=staff,
    )
    assert not settings.MARKETING_JOURNAL_PATH.exists()


def test_backup_prune_drops_entries_every_kept_backup_holds(customer, staff, settings):
    consent_record(customer=customer, method="phone", by=staff, **OBJECTION)
    erased = CustomerFactory()
    consent_record(customer=erased, method="phone", by=staff, **OBJECTION)
    customer_erase(customer=erased, by=staff)
    journal = settings.MARKETING_JOURNAL_PATH
    recent = journal.read_text()
    old = json.loads(recent.splitlines()[0])
    old["recorded_at"] = (timezone.now() - datetime.timedelta(days=40)).isoformat()
    journal.write_text(f"{json.dumps(old)}\n" * 2 + recent)
    # The oldest backup kept was taken ten days ago.
    directory = settings.BACKUP_DIR
    directory.mkdir(parents=True)
    taken = timezone.localtime() - datetime.timedelta(days=10)
    (directory / f"balansia-{taken:%Y%m%d-%H%M%S}-sqlite{backups.SUFFIX}").write_bytes(b"x")
    call_command("backup", "--prune")
    # The old ones went, and so did the erased customer's; this week's stays.
    assert journal.read_text() == recent.splitlines(keepends=True)[0]
    assert oct(os.stat(journal).st_mode & 0o777) == "0o600"

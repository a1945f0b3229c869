"""The eleventh probe, of what changed on 29 November (the journals' new
entries at a restore, the alert's any-60-minutes window, repair_register):
each test failed on main before its fix (docs/security.md, "Eleventh
probe")."""

import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from registry import backups
from registry.accounts.selectors import unusual_activity
from registry.audit.models import AuditEvent
from registry.audit.services import customers_listed
from registry.erasure import ERASED
from registry.journal import MarketingJournalError, read_marketing_journal
from registry.marketing import repairs as marketing_repairs
from registry.models import Consent, ConsentText, Customer
from registry.rights.erasure import ErasureJournalError, customer_erase, read_journal
from registry.rights.models import DataSubjectRequest
from registry.rights.restriction import customer_restrict
from registry.rights.services import case_log
from registry.services import consent_record

from .factories import PASSWORD, CustomerFactory, UserFactory
from .test_repair_register import KEPT_AT, added_by_hand, dm_events, suppress


def rewrite_marketing_journal(settings, **change):
    """Every entry of the marketing journal with `change` made."""
    entries = read_marketing_journal()
    settings.MARKETING_JOURNAL_PATH.write_text(
        "".join(json.dumps({**entry, **change}) + "\n" for entry in entries)
    )


def rewrite_erasure_journal(settings, change):
    entries = [json.loads(line) for line in settings.ERASURE_JOURNAL_PATH.read_text().splitlines()]
    settings.ERASURE_JOURNAL_PATH.write_text(
        "".join(json.dumps(change(entry)) + "\n" for entry in entries)
    )


# --- A journal's moment without its offset, or with one no clock has ----------------


@pytest.mark.django_db(transaction=True)
def test_a_restriction_without_its_offset_stops_the_restore_before_the_backup_is_loaded(
    backup_key, settings, register_manager
):
    """Both journals' moments were checked to be ISO text, nothing more. A
    moment without its offset from UTC (as a hand edit writes it) passed:
    the restore loaded the backup, then compared it with the restored
    restriction's moment and stopped with a TypeError, before the cases
    were re-created. It is refused before anything is restored, the line
    named."""
    restricted = CustomerFactory()
    customer_restrict(customer=restricted, by=register_manager)
    path, _ = backups.create_backup()
    added_since = CustomerFactory(last_name="Lisättyjälkeen")
    rewrite_marketing_journal(settings, restricted_since="2026-11-29T10:00:00")
    with pytest.raises(CommandError, match="Line 1 of the marketing journal"):
        call_command("restore", str(path), "--force")
    # The backup was not loaded.
    assert Customer.objects.filter(pk=added_since.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_an_erasure_without_its_offset_stops_the_restore_and_nobody_comes_back(
    backup_key, settings
):
    """An erasure journal entry whose moment added had lost its offset named
    nobody (an aware moment never equals one without): the restore brought
    the erased customer back and said nobody was to erase again."""
    erased = CustomerFactory(last_name="Palaamaton")
    path, _ = backups.create_backup()
    customer_erase(customer=erased, by=UserFactory())
    # The moment as a hand edit leaves it: 2026-11-29T08:15:00, no +00:00.
    rewrite_erasure_journal(
        settings, lambda entry: {**entry, "created_at": entry["created_at"][:19]}
    )
    with pytest.raises(CommandError, match="Line 1 of the erasure journal"):
        call_command("restore", str(path), "--force")
    assert not Customer.objects.filter(last_name="Palaamaton").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, change",
    [
        ("restriction", {"restricted_since": "2026-11-29T10:00:00"}),
        ("restriction", {"recorded_at": "2026-11-29T10:00:00"}),
        # PostgreSQL refuses an offset this far, after the backup was loaded.
        ("case", {"logged_at": "2026-11-02T10:00:00-23:59"}),
        ("case", {"recorded_at": "2026-11-02T10:00:00+16:00"}),
        # UTC has no such moment (OverflowError), and pages show local time.
        ("case", {"logged_at": "9999-12-31T23:59:59-10:00"}),
        ("restriction", {"restricted_since": "0001-01-01T00:00:00+10:00"}),
        ("consent", {"occurred_at": "2026-11-29T10:00:00"}),
        ("consent", {"identities": [[1, "2026-11-29T10:00:00"]]}),
    ],
)
def test_a_moment_without_an_offset_or_beyond_any_clock_is_named(
    settings, register_manager, kind, change
):
    customer = CustomerFactory()
    if kind == "restriction":
        customer_restrict(customer=customer, by=register_manager)
    elif kind == "case":
        case_log(
            customer=customer,
            kind="access",
            received_on=timezone.localdate(),
            identity_verification="Ajokortti",
            by=register_manager,
        )
    else:
        consent_record(
            customer=customer,
            channel=Consent.Channel.DIRECT_MARKETING,
            event=Consent.Event.OBJECTION,
            method=Consent.Method.PHONE,
            by=register_manager,
        )
    (entry,) = read_marketing_journal()
    settings.MARKETING_JOURNAL_PATH.write_text(json.dumps({**entry, **change}) + "\n")
    with pytest.raises(MarketingJournalError, match="Line 1 of the marketing journal"):
        read_marketing_journal()


# --- A journal's id beyond any register ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_id_beyond_any_counter_stops_the_restore_and_nobody_comes_back(backup_key, settings):
    """An erasure journal's id was checked to be a positive whole number,
    of any size: after the backup was loaded the restore set the customers'
    id counter past it (so that no new customer takes an erased one's id),
    PostgreSQL refused a number beyond a bigint, and the restore stopped
    there: everybody erased since the backup was back. (An id of 2^63 - 1
    passed, and then no customer could be added at all.)"""
    erased = CustomerFactory(last_name="Palaamaton")
    path, _ = backups.create_backup()
    customer_erase(customer=erased, by=UserFactory())
    rewrite_erasure_journal(
        settings,
        lambda entry: {**entry, "identities": [[2**64, entry["created_at"]]]},
    )
    with pytest.raises(CommandError, match="Line 1 of the erasure journal"):
        call_command("restore", str(path), "--force")
    assert not Customer.objects.filter(last_name="Palaamaton").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("big", [2**63 - 1, 2**53])
def test_an_id_that_would_exhaust_the_counter_is_named(settings, register_manager, big):
    settings.ERASURE_JOURNAL_PATH.write_text(
        json.dumps({"customer_id": big, "created_at": "2026-01-01T10:00:00+00:00"}) + "\n"
    )
    with pytest.raises(ErasureJournalError, match="Line 1 of the erasure journal"):
        read_journal()
    customer_restrict(customer=CustomerFactory(), by=register_manager)
    rewrite_marketing_journal(settings, customer_id=big)
    with pytest.raises(MarketingJournalError, match="Line 1 of the marketing journal"):
        read_marketing_journal()


# --- The alert's 60 minutes were 59:59 --------------------------------------------


@pytest.mark.django_db
def test_reads_less_than_an_hour_apart_count_together_to_the_last_second(staff_member, settings):
    """The window summed each read with the reads of the 3,599 seconds after
    it, in fractional seconds: the limit's worth read at 10:00:00.0 and
    again at 10:59:59.5 (twice the limit within 60 minutes) raised nothing.
    A read and the reads of the whole hour after it count together."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 5
    start = timezone.now() - timedelta(hours=3)
    customers = [c.pk for c in CustomerFactory.create_batch(5)]
    for moment in (start, start + timedelta(seconds=3599, milliseconds=500)):
        event = customers_listed(ids=customers, via="outbox", by=staff_member, request=None)
        QuerySet.update(AuditEvent.objects.filter(pk=event.pk), at=moment)
    assert [(a["records"], a["hour"]) for a in unusual_activity()] == [(10, start)]


# --- repair_register and a decision recorded while it runs -------------------------


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks no rows")
@pytest.mark.django_db(transaction=True)
def test_a_consent_recorded_while_the_repair_runs_is_not_taken_back(
    staff_member, register_manager, monkeypatch
):
    """The repair read the ledgers of the customers it would give the
    suppression list's objection, then recorded the objections, without a
    lock: a consent to email that staff recorded meanwhile (after the
    address was put on the list, as the consent form requires) was followed
    by the objection, which took it back. The repair locks the customers
    and reads their ledgers again; recording an event locks the customer
    too."""
    suppress("paattaja@example.invalid")
    customer = added_by_hand(staff_member, email="paattaja@example.invalid")
    text = ConsentText.objects.filter(channel="email").first() or ConsentText.objects.create(
        channel="email", version=1, wording="Uutiskirje", created_by=register_manager
    )
    original = marketing_repairs._adders

    def decided_meanwhile(ids):
        def record():
            try:
                with transaction.atomic():
                    consent_record(
                        customer=Customer.objects.get(pk=customer.pk),
                        channel=Consent.Channel.EMAIL,
                        event=Consent.Event.CONSENT_GIVEN,
                        method=Consent.Method.PHONE,
                        text=text,
                        occurred_at=timezone.now() - timedelta(minutes=1),
                        by=register_manager,
                    )
            finally:
                connection.close()

        thread = threading.Thread(target=record)
        thread.start()
        thread.join(timeout=20)
        return original(ids)

    monkeypatch.setattr(marketing_repairs, "_adders", decided_meanwhile)
    call_command("repair_register", stdout=StringIO())
    assert [event[:2] for event in dm_events(customer)] == []
    assert Customer.objects.contactable_by("email").filter(pk=customer.pk).exists()
    assert Consent.objects.get(customer=customer, channel="email").occurred_at > KEPT_AT


# --- A requester forgotten by the retention rule came back with a restore ---------


@pytest.mark.django_db(transaction=True)
def test_a_requester_forgotten_since_the_backup_is_forgotten_again_by_the_restore(
    backup_key, settings, register_manager, capsys
):
    """The retention review page (and manage.py retention) forgets the
    requesters of requests without a customer closed RETENTION_MONTHS ago;
    nothing journals that, as the erasure journal does an erased customer:
    a restore of a backup made before brought their names and contacts back
    until the next run (monthly, README). The restore applies the rule
    again after the journals: those requesters are still due."""
    case = case_log(
        customer=None,
        kind="erasure",
        received_on=timezone.localdate() - timedelta(days=4 * 365),
        identity_verification="Ajokortti, Unohdettava Pyytäjä",
        requester_name="Unohdettava Pyytäjä",
        requester_contact="unohdettava@example.invalid",
        by=register_manager,
    )
    DataSubjectRequest.objects.filter(pk=case.pk).update(
        status="done", completed_on=timezone.localdate() - timedelta(days=4 * 365 - 20)
    )
    # Its journal entries, of four years ago, were pruned long since.
    settings.MARKETING_JOURNAL_PATH.write_text("")
    path, _ = backups.create_backup()
    call_command("retention", stdout=StringIO())
    assert DataSubjectRequest.objects.get(pk=case.pk).requester_name == ERASED
    call_command("restore", str(path), "--force")
    restored = DataSubjectRequest.objects.get(pk=case.pk)
    assert (restored.requester_name, restored.requester_contact) == (ERASED, ERASED)
    assert "Unohdettava" not in restored.identity_verification
    assert "1 request without a customer" in capsys.readouterr().out


# --- What held: the changed forms by POST, for each persona -------------------------


def _client_as(request, persona, **kwargs):
    client = Client(**kwargs)
    if persona == "password_only":
        client.force_login(request.getfixturevalue("register_manager"))
        session = client.session
        del session[DEVICE_ID_SESSION_KEY]
        session.save()
    elif persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    "persona, expected",
    [
        ("anonymous", "login"),
        ("password_only", "two-factor-verify"),
        ("staff_member", 403),
        ("instructor", 403),
    ],
)
def test_the_request_update_and_the_retention_confirmation_refuse_all_but_the_manager(
    request, register_manager, persona, expected
):
    """Today's request update form (how the identity was verified) and the
    retention page's confirmation (which now forgets requesters) by POST:
    nobody but the register manager with both factors changes anything."""
    case = case_log(
        customer=None,
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="Ajokortti",
        requester_name="Pyytäjä Piilossa",
        by=register_manager,
    )
    client = _client_as(request, persona)
    posts = [
        (reverse("registry:request-detail", args=[case.pk]), {"identity_verification": "x"}),
        (reverse("registry:retention"), {"password": PASSWORD, "confirmation": "POISTA"}),
    ]
    for url, data in posts:
        response = client.post(url, {"status": "done", **data})
        if expected == 403:
            assert response.status_code == 403
        else:
            assert response.status_code == 302 and reverse(expected) in response.url
    case.refresh_from_db()
    assert (case.identity_verification, case.status) == ("Ajokortti", "open")
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RETENTION_RUN).exists()


@pytest.mark.django_db
def test_the_request_update_needs_the_csrf_token_and_an_unknown_case_is_404(
    client, register_manager
):
    case = case_log(
        customer=CustomerFactory(),
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="Ajokortti",
        by=register_manager,
    )
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(register_manager)
    url = reverse("registry:request-detail", args=[case.pk])
    assert strict.post(url, {"identity_verification": "x"}).status_code == 403
    client.force_login(register_manager)
    page = client.get(url)
    assert "no-store" in page["Cache-Control"]
    assert "no-store" in client.get(reverse("registry:retention"))["Cache-Control"]
    missing = reverse("registry:request-detail", args=[case.pk + 1000])
    assert client.post(missing, {"identity_verification": "x"}).status_code == 404
    case.refresh_from_db()
    assert case.identity_verification == "Ajokortti"

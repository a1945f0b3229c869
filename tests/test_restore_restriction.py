"""A restore keeps the restrictions of processing (GDPR art. 18) set after
the backup: restoring last night's backup must not bring a restricted
customer back onto the marketing lists, the courses' messages and the
retention erasure. Each restriction is journalled outside the database (the
marketing journal, as objections and withdrawals are); `restore` sets again
those the backup lacks."""

import datetime
import json
import os

import pytest
from django.core.management import call_command
from django.utils import timezone

from registry import backups
from registry.audit.models import AuditEvent
from registry.models import Customer, MarketingChannel
from registry.rights.erasure import customer_erase
from registry.rights.restriction import customer_restrict, customer_restriction_lift
from registry.rights.selectors import retention_candidates
from registry.services import customer_merge, marketing_list

from .factories import ConsentFactory, CustomerFactory
from .restores import restore

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backup_key")]

LAST_WEEK = timezone.now() - datetime.timedelta(days=7)


@pytest.fixture
def customer():
    """On the email marketing list: a consent given last week."""
    customer = CustomerFactory(
        first_name="Raili", last_name="Rajoittaja", email="raili.rajoittaja@example.invalid"
    )
    ConsentFactory(customer=customer, occurred_at=LAST_WEEK)
    return customer


def restricted_since(customer):
    return Customer.objects.get(pk=customer.pk).restricted_since


def reapplied_events():
    return AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_RESTRICTED, detail__via="marketing_journal"
    )


def test_a_restriction_set_after_the_backup_outlives_a_restore(customer, register_manager, capsys):
    path, _ = backups.create_backup()
    since = customer_restrict(customer=customer, by=register_manager).restricted_since
    out = restore(path, capsys)
    # Restricted again, since the moment it was restricted, not the restore's.
    assert restricted_since(customer) == since
    assert customer.pk not in marketing_list(channel=MarketingChannel.EMAIL)
    Customer.objects.filter(pk=customer.pk).update(
        last_activity_at=timezone.now() - datetime.timedelta(days=10 * 365)
    )
    assert customer.pk not in retention_candidates().values_list("pk", flat=True)
    assert (
        "Re-applied the marketing journal: 1 restriction of processing set again "
        f"(customer ids {customer.pk})." in out
    )
    # Audited as the journal's doing, by nobody.
    (event,) = reapplied_events()
    assert event.target_id == str(customer.pk) and event.actor is None
    assert event.detail == {
        "via": "marketing_journal",
        "restricted_since": since.isoformat(timespec="seconds"),
    }


def test_restoring_twice_restricts_once_each_time(customer, register_manager, capsys):
    path, _ = backups.create_backup()
    customer_restrict(customer=customer, by=register_manager)
    restore(path)
    restore(path)
    assert restricted_since(customer) is not None
    # A backup that holds the restriction gets nothing more.
    newer, _ = backups.create_backup()
    out = restore(newer, capsys)
    assert "Marketing journal: no restriction of processing to re-apply." in out


def test_a_customer_erased_since_is_not_restricted_again_nor_brought_back(
    customer, register_manager, capsys
):
    path, _ = backups.create_backup()
    customer_restrict(customer=customer, by=register_manager)
    customer_erase(customer=customer, by=register_manager)
    out = restore(path, capsys)
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not reapplied_events().exists()
    assert "Marketing journal: no restriction of processing to re-apply." in out


def test_an_id_held_by_another_person_is_not_restricted(customer, register_manager):
    older, _ = backups.create_backup()
    newcomer = CustomerFactory(last_name="Uusi")
    customer_restrict(customer=newcomer, by=register_manager)
    customer_restrict(customer=customer, by=register_manager)
    restore(older)
    assert restricted_since(customer) is not None
    # The newcomer is not in the older backup; whoever is added next may get
    # their id (the restored id counter is the backup's).
    other = CustomerFactory(last_name="Toinen")
    Customer.objects.filter(pk=other.pk).update(id=newcomer.pk)
    newer, _ = backups.create_backup()
    restore(newer)
    assert Customer.objects.get(pk=newcomer.pk).last_name == "Toinen"
    assert restricted_since(newcomer) is None


def test_a_lift_the_backup_holds_is_not_undone(customer, register_manager):
    customer_restrict(customer=customer, by=register_manager)
    customer_restriction_lift(customer=customer, by=register_manager)
    path, _ = backups.create_backup()
    restore(path)
    assert restricted_since(customer) is None
    assert not reapplied_events().exists()


def test_a_lift_after_the_backup_is_forgotten_and_the_restriction_stays(
    customer, register_manager
):
    """A lift is not journalled: a restore that forgets it restricts more,
    never less; the register manager lifts it again."""
    since = customer_restrict(customer=customer, by=register_manager).restricted_since
    path, _ = backups.create_backup()
    customer_restriction_lift(customer=customer, by=register_manager)
    restore(path)
    assert restricted_since(customer) == since


def test_a_restriction_lifted_and_set_again_after_the_backup_keeps_the_later_date(
    customer, register_manager
):
    customer_restrict(customer=customer, by=register_manager)
    path, _ = backups.create_backup()
    customer_restriction_lift(customer=customer, by=register_manager)
    again = customer_restrict(customer=customer, by=register_manager).restricted_since
    restore(path)
    assert restricted_since(customer) == again


def test_a_merge_that_restricts_the_kept_record_is_journalled(customer, register_manager):
    """The backup holds two records of one person; after it one is restricted
    and then merged into the other: a restore brings back both records, and
    both are restricted, as the person is."""
    twin = CustomerFactory(first_name="Raili", last_name="Rajoittaja")
    path, _ = backups.create_backup()
    since = customer_restrict(customer=twin, by=register_manager).restricted_since
    customer_merge(keep=customer, remove=twin, values={}, by=register_manager)
    assert restricted_since(customer) == since
    restore(path)
    assert restricted_since(customer) == since
    assert restricted_since(twin) == since


def test_a_merge_whose_restriction_cannot_be_journalled_does_not_happen(
    customer, register_manager, settings, tmp_path
):
    """The kept record's restriction is journalled inside the merge's
    transaction, before it commits: when the journal cannot be written the
    merge is undone, so that no restriction is left out of the journal (a
    restore would bring the person back unrestricted)."""
    twin = CustomerFactory(first_name="Raili", last_name="Rajoittaja")
    customer_restrict(customer=twin, by=register_manager)
    not_a_directory = tmp_path / "not-a-directory"
    not_a_directory.write_text("")
    settings.MARKETING_JOURNAL_PATH = not_a_directory / "marketing-journal.jsonl"
    with pytest.raises(OSError):
        customer_merge(keep=customer, remove=twin, values={}, by=register_manager)
    assert Customer.objects.filter(pk=twin.pk).exists()
    assert restricted_since(customer) is None
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_MERGED).exists()


def test_the_journal_entry_is_owner_only_and_names_nobody(customer, register_manager, settings):
    since = customer_restrict(customer=customer, by=register_manager).restricted_since
    path = settings.MARKETING_JOURNAL_PATH
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    text = path.read_text()
    for personal in ("Raili", "Rajoittaja", "raili.rajoittaja", "vastaava"):
        assert personal not in text
    (entry,) = [json.loads(line) for line in text.splitlines()]
    assert entry["kind"] == "restriction"
    assert entry["customer_id"] == customer.pk
    assert datetime.datetime.fromisoformat(entry["created_at"]) == customer.created_at
    assert datetime.datetime.fromisoformat(entry["restricted_since"]) == since
    assert entry["identities"] == [[customer.pk, customer.created_at.isoformat()]]


def test_a_lift_is_not_journalled(customer, register_manager, settings):
    customer_restrict(customer=customer, by=register_manager)
    before = settings.MARKETING_JOURNAL_PATH.read_text()
    customer_restriction_lift(customer=customer, by=register_manager)
    assert settings.MARKETING_JOURNAL_PATH.read_text() == before


def test_backup_prune_drops_restrictions_every_kept_backup_holds(
    customer, register_manager, settings
):
    customer_restrict(customer=customer, by=register_manager)
    erased = CustomerFactory()
    customer_restrict(customer=erased, by=register_manager)
    customer_erase(customer=erased, by=register_manager)
    journal = settings.MARKETING_JOURNAL_PATH
    recent = journal.read_text()
    old = json.loads(recent.splitlines()[0])
    old["recorded_at"] = (timezone.now() - datetime.timedelta(days=40)).isoformat()
    journal.write_text(f"{json.dumps(old)}\n" + recent)
    # The oldest backup kept was taken ten days ago.
    directory = settings.BACKUP_DIR
    directory.mkdir(parents=True)
    taken = timezone.localtime() - datetime.timedelta(days=10)
    (directory / f"balansia-{taken:%Y%m%d-%H%M%S}-sqlite{backups.SUFFIX}").write_bytes(b"x")
    call_command("backup", "--prune")
    # The old one went, and so did the erased customer's; this week's stays.
    assert journal.read_text() == recent.splitlines(keepends=True)[0]


def test_the_restore_says_what_the_register_manager_must_check_again(customer, capsys):
    """Nothing journals the corrections made after the backup: the output
    names the backup's time for the manager to check them from. (The data
    subject requests are journalled since: test_restore_cases.py.)"""
    path, manifest = backups.create_backup()
    out = restore(path, capsys)
    assert (
        f"Not in the backup: corrections of customers' data made since {manifest['created_at']}"
        in out
    )
    assert "Data subject requests: nothing to re-create." in out

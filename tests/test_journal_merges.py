"""The erasure and marketing journals follow a merge.

A journal entry names its customer by id and the moment they were added, so
that a restore of an older backup never gives it to someone else holding the
id. A merge changes the kept record's moment (the earlier of the two) and
deletes the other record: an entry written after a merge named neither record
of an older backup, and after a restore an erased person was back, twice, and
an objection was on neither record. The entry now names every identity the
person had (registry.identities).
"""

import datetime
import json

import pytest
from django.utils import timezone

from registry import backups
from registry.audit.models import AuditEvent
from registry.identities import customer_identities
from registry.journal import read_marketing_journal
from registry.marketing.journal import marketing_journal_reapply
from registry.models import Consent, Customer
from registry.rights.erasure import customer_erase, read_journal
from registry.services import consent_record, customer_merge

from .factories import CustomerFactory, UserFactory
from .restores import restore

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("backup_key")]

OBJECTION = {"channel": Consent.Channel.DIRECT_MARKETING, "event": Consent.Event.OBJECTION}


@pytest.fixture
def staff():
    return UserFactory(username="yhdistaja", roles=["Toimisto"])


@pytest.fixture
def pair():
    """Two records of one person: the older added a year ago."""
    older = CustomerFactory(first_name="Vanha", last_name="Kaksoistietue")
    Customer.objects.filter(pk=older.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=365)
    )
    older.refresh_from_db()
    newer = CustomerFactory(first_name="Uusi", last_name="Kaksoistietue")
    return older, newer


def objections(pk):
    return list(
        Consent.objects.filter(customer_id=pk, **OBJECTION).values_list("occurred_at", flat=True)
    )


def test_the_merge_event_names_both_identities_before_the_merge(pair, staff):
    older, newer = pair
    newer_added = newer.created_at
    customer_merge(keep=newer, remove=older, values={}, by=staff)
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_MERGED)
    assert event.detail["removed_id"] == older.pk
    assert event.detail["removed_created_at"] == older.created_at.isoformat()
    assert event.detail["kept_created_at"] == newer_added.isoformat()
    newer.refresh_from_db()
    assert newer.created_at == older.created_at
    assert customer_identities(newer) == [
        (newer.pk, older.created_at),
        (newer.pk, newer_added),
        (older.pk, older.created_at),
    ]


def test_a_merged_then_erased_person_stays_erased_after_a_restore(pair, staff):
    older, newer = pair
    path, _ = backups.create_backup()
    customer_merge(keep=newer, remove=older, values={}, by=staff)
    customer_erase(customer=Customer.objects.get(pk=newer.pk), by=staff)
    restore(path)
    assert not Customer.objects.filter(last_name="Kaksoistietue").exists()


def test_a_record_merged_into_one_later_merged_is_erased_too(pair, staff):
    older, newer = pair
    third = CustomerFactory(first_name="Kolmas", last_name="Kaksoistietue")
    path, _ = backups.create_backup()
    customer_merge(keep=older, remove=third, values={}, by=staff)
    customer_merge(keep=newer, remove=Customer.objects.get(pk=older.pk), values={}, by=staff)
    customer_erase(customer=Customer.objects.get(pk=newer.pk), by=staff)
    (entry,) = read_journal()
    assert sorted(map(tuple, entry["identities"])) == sorted(
        (pk, added.isoformat())
        for pk, added in [
            (newer.pk, older.created_at),
            (newer.pk, newer.created_at),
            (older.pk, older.created_at),
            (third.pk, third.created_at),
        ]
    )
    restore(path)
    assert not Customer.objects.filter(last_name="Kaksoistietue").exists()


def test_an_objection_after_a_merge_is_on_both_restored_records(pair, staff):
    older, newer = pair
    path, _ = backups.create_backup()
    customer_merge(keep=newer, remove=older, values={}, by=staff)
    consent = consent_record(
        customer=Customer.objects.get(pk=newer.pk), method="phone", by=staff, **OBJECTION
    )
    restore(path)
    assert objections(older.pk) == [consent.occurred_at]
    assert objections(newer.pk) == [consent.occurred_at]
    # Restoring again adds nothing twice.
    assert marketing_journal_reapply(read_marketing_journal()) == []


def test_an_entry_never_applies_to_another_holding_an_id_of_the_person(pair, staff):
    older, newer = pair
    path, _ = backups.create_backup()
    customer_merge(keep=newer, remove=older, values={}, by=staff)
    consent_record(
        customer=Customer.objects.get(pk=newer.pk), method="phone", by=staff, **OBJECTION
    )
    customer_erase(customer=Customer.objects.get(pk=newer.pk), by=staff)
    restore(path)
    assert not Customer.objects.filter(pk__in=[older.pk, newer.pk]).exists()
    # Others under both ids (as a restore without the counter kept could
    # make): the moments they were added tell them apart.
    for pk in (older.pk, newer.pk):
        other = CustomerFactory(last_name="Toinen")
        Customer.objects.filter(pk=other.pk).update(id=pk)
    assert backups.reapply_erasures() == []
    assert marketing_journal_reapply(read_marketing_journal()) == []
    assert Customer.objects.filter(pk__in=[older.pk, newer.pk], last_name="Toinen").count() == 2
    # Nor does a merge event of the id's earlier holder name them.
    someone = Customer.objects.get(pk=newer.pk)
    assert customer_identities(someone) == [(someone.pk, someone.created_at)]


def test_a_merge_event_without_the_moments_names_only_the_kept_record(pair, staff):
    """Merges made before the event kept the moments: the removed record's
    moment is unknown and its id alone is not enough (a restore may have
    given the id to someone else), so it is not named; the kept one is."""
    older, newer = pair
    customer_merge(keep=newer, remove=older, values={}, by=staff)
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_MERGED)
    old_style = {
        key: value
        for key, value in event.detail.items()
        if key not in {"removed_created_at", "kept_created_at"}
    }
    AuditEvent.objects.scrub(event.pk, old_style)
    newer.refresh_from_db()
    assert customer_identities(newer) == [(newer.pk, newer.created_at)]


def test_an_old_journal_entry_without_identities_still_works(pair, staff, settings):
    older, newer = pair
    path, _ = backups.create_backup()
    customer_erase(customer=newer, by=staff)
    lines = settings.ERASURE_JOURNAL_PATH.read_text().splitlines()
    old_style = [json.loads(line) for line in lines]
    for entry in old_style:
        entry.pop("identities")
    settings.ERASURE_JOURNAL_PATH.write_text("".join(json.dumps(e) + "\n" for e in old_style))
    restore(path)
    assert list(Customer.objects.filter(last_name="Kaksoistietue")) == [older]

"""The marketing rules of the privacy notice and Finnish law, for every combination.

- post and phone: allowed unless the customer objected to direct marketing;
- email and SMS: only with a consent for that channel not withdrawn since;
- an objection overrides every consent until it is lifted;
- no ledger rows: post and phone allowed, email and SMS not;
- and each channel needs its address (email, phone number, full postal address).
"""

import itertools
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError, Q
from django.utils import timezone

from registry.audit.models import AppendOnlyError
from registry.models import (
    CONTACT_RULES,
    Consent,
    ConsentText,
    ContactCondition,
    Customer,
    Filled,
    MarketingChannel,
)
from registry.services import consent_record, customer_merge

from .factories import ConsentFactory, CustomerFactory

pytestmark = pytest.mark.django_db

EMAIL_STATES = [None, "given", "withdrawn"]
SMS_STATES = [None, "given", "withdrawn"]
OBJECTION_STATES = [None, "objection", "objection_lifted"]
CONTACT_DATA = ["all", "postal_only", "email_only"]

CONTACT_FIELDS = {
    "all": {},
    "postal_only": {"email": "", "phone": ""},
    "email_only": {"phone": "", "street_address": "", "postal_code": "", "city": ""},
}


def expected(email, sms, objection, contact):
    """The rules written out plainly, as the test's own oracle."""
    objected = objection == "objection"
    has_email = contact in {"all", "email_only"}
    has_phone = contact == "all"
    has_address = contact in {"all", "postal_only"}
    return {
        "post": not objected and has_address,
        "phone": not objected and has_phone,
        "email": not objected and email == "given" and has_email,
        "sms": not objected and sms == "given" and has_phone,
    }


def record(customer, channel, event, when, user):
    text = ConsentText.objects.filter(channel=channel).first() if event == "given" else None
    consent_record(
        customer=customer,
        channel=channel,
        event=event,
        method="in_person",
        text=text,
        occurred_at=when,
        by=user,
    )


COMBINATIONS = list(itertools.product(EMAIL_STATES, SMS_STATES, OBJECTION_STATES, CONTACT_DATA))


def test_the_table_covers_every_combination():
    assert len(COMBINATIONS) == 3 * 3 * 3 * 3


@pytest.mark.parametrize(("email", "sms", "objection", "contact"), COMBINATIONS)
def test_who_may_be_contacted(email, sms, objection, contact, staff_member):
    customer = CustomerFactory(**CONTACT_FIELDS[contact])
    start = timezone.now() - timedelta(days=30)
    # Each channel's state is reached through an earlier opposite event, so
    # that "latest wins" is what is tested, not "only event".
    if email:
        record(
            customer, "email", "withdrawn" if email == "given" else "given", start, staff_member
        )
        record(customer, "email", email, start + timedelta(days=1), staff_member)
    if sms:
        record(customer, "sms", "withdrawn" if sms == "given" else "given", start, staff_member)
        record(customer, "sms", sms, start + timedelta(days=1), staff_member)
    if objection:
        record(customer, "direct_marketing", "objection", start, staff_member)
        if objection == "objection_lifted":
            record(
                customer,
                "direct_marketing",
                "objection_lifted",
                start + timedelta(days=2),
                staff_member,
            )
        else:
            record(
                customer,
                "direct_marketing",
                "objection_lifted",
                start - timedelta(days=1),
                staff_member,
            )

    row = Customer.objects.with_contact_permissions().get(pk=customer.pk)
    actual = {
        channel: getattr(row, f"may_{channel}") for channel in ("post", "phone", "email", "sms")
    }
    assert actual == expected(email, sms, objection, contact)
    for channel, allowed in actual.items():
        assert Customer.objects.contactable_by(channel).filter(pk=customer.pk).exists() == allowed
    # The same rules applied to the ledger in hand (the customer page).
    in_hand = Customer.objects.get(pk=customer.pk).consent_state().allowed
    assert in_hand == expected(email, sms, objection, contact)


def test_the_rules_are_written_once(monkeypatch, staff_member):
    """Every reading follows CONTACT_RULES: a condition added there applies to
    the lists, the annotated query and the customer page alike (review: the
    rules were written twice, as Q objects and as a Python table)."""
    customer = CustomerFactory(city="")
    record(customer, "email", "given", timezone.now() - timedelta(days=1), staff_member)

    def readings():
        return {
            Customer.objects.contactable_by("email").filter(pk=customer.pk).exists(),
            Customer.objects.with_contact_permissions().get(pk=customer.pk).may_email,
            Customer.objects.get(pk=customer.pk).consent_state().allowed["email"],
        }

    assert readings() == {True}
    rules = CONTACT_RULES[MarketingChannel.EMAIL]
    monkeypatch.setitem(CONTACT_RULES, MarketingChannel.EMAIL, (*rules, Filled("city")))
    assert readings() == {False}


def test_a_condition_reads_both_ways_or_cannot_be_made():
    class OnlySql(ContactCondition):
        def q(self):
            return Q()

    with pytest.raises(TypeError):
        OnlySql()


@pytest.mark.parametrize(
    ("events", "may_email"),
    [
        # (event, days ago) in the order they are recorded, not the order they happened
        ([("given", 10), ("withdrawn", 5)], False),
        ([("withdrawn", 5), ("given", 10)], False),  # a letter about an older consent arrives late
        ([("withdrawn", 10), ("given", 5)], True),
        ([("given", 5)], True),
        ([], False),
    ],
)
def test_the_latest_event_by_time_wins(events, may_email, staff_member, client):
    customer = CustomerFactory()
    for event, days_ago in events:
        record(customer, "email", event, timezone.now() - timedelta(days=days_ago), staff_member)
    assert Customer.objects.contactable_by("email").filter(pk=customer.pk).exists() == may_email
    # The customer page tells the same (review: its own reading of the
    # ledger could take the first recorded event and no test would notice).
    client.force_login(staff_member)
    page = client.get(customer.get_absolute_url()).content.decode()
    assert f"Sähköposti: {'kyllä' if may_email else 'ei'}</li>" in page


def test_an_objection_overrides_a_later_consent_until_lifted(staff_member):
    customer = CustomerFactory()
    now = timezone.now()
    record(customer, "direct_marketing", "objection", now - timedelta(days=10), staff_member)
    record(customer, "email", "given", now - timedelta(days=5), staff_member)
    assert not Customer.objects.contactable_by("email").filter(pk=customer.pk).exists()
    record(customer, "direct_marketing", "objection_lifted", now - timedelta(days=1), staff_member)
    assert Customer.objects.contactable_by("email").filter(pk=customer.pk).exists()


# Merging: (event of record A, days ago), (event of record B, days ago) -> may email
MERGE_CASES = [
    (("given", 10), ("withdrawn", 5), False),  # B forbade after A's latest event
    (("withdrawn", 5), ("given", 10), False),  # A forbade after B's latest event
    (("withdrawn", 10), ("given", 5), True),  # the person consented again, later
    (("given", 10), None, True),
    (None, ("withdrawn", 3), False),
    (None, None, False),
]


@pytest.mark.parametrize(("a", "b", "may_email"), MERGE_CASES)
@pytest.mark.parametrize("keep_a", [True, False])
def test_merged_ledgers_are_combined_in_time_order(a, b, may_email, keep_a, staff_member):
    record_a, record_b = CustomerFactory(), CustomerFactory()
    now = timezone.now()
    for customer, last in ((record_a, a), (record_b, b)):
        if last:
            record(customer, "email", last[0], now - timedelta(days=last[1]), staff_member)
    keep, remove = (record_a, record_b) if keep_a else (record_b, record_a)
    customer_merge(keep=keep, remove=remove, values={}, by=staff_member)
    assert Customer.objects.contactable_by("email").filter(pk=keep.pk).exists() == may_email
    assert keep.consents.count() == sum(1 for last in (a, b) if last)


@pytest.mark.parametrize("a_objected_last", [True, False])
def test_a_merge_never_lifts_an_objection(a_objected_last, staff_member):
    record_a, record_b = CustomerFactory(), CustomerFactory()
    now = timezone.now()
    record(record_a, "direct_marketing", "objection", now - timedelta(days=20), staff_member)
    record(record_b, "email", "given", now - timedelta(days=1), staff_member)
    customer_merge(keep=record_b, remove=record_a, values={}, by=staff_member)
    for channel in ("post", "phone", "email", "sms"):
        assert not Customer.objects.contactable_by(channel).filter(pk=record_b.pk).exists()


def test_the_ledger_is_append_only(staff_member):
    consent = ConsentFactory(recorded_by=staff_member)
    consent.event = "withdrawn"
    with pytest.raises(AppendOnlyError):
        consent.save()
    with pytest.raises(AppendOnlyError):
        consent.delete()
    with pytest.raises(AppendOnlyError):
        Consent.objects.filter(pk=consent.pk).update(event="withdrawn")
    with pytest.raises(AppendOnlyError):
        Consent.objects.all().delete()


def test_a_customer_with_a_ledger_is_never_deleted_by_accident(staff_member):
    consent = ConsentFactory(recorded_by=staff_member)
    with pytest.raises(ProtectedError):
        consent.customer.delete()


@pytest.mark.parametrize(
    ("channel", "event"),
    [("email", "objection"), ("direct_marketing", "given"), ("sms", "objection_lifted")],
)
def test_events_must_fit_their_channel(channel, event, staff_member):
    with pytest.raises(ValidationError):
        consent_record(
            customer=CustomerFactory(),
            channel=channel,
            event=event,
            method="phone",
            text=ConsentText.objects.first(),
            by=staff_member,
        )
    assert not Consent.objects.exists()


def test_consent_needs_the_wording_shown(staff_member):
    with pytest.raises(ValidationError):
        consent_record(
            customer=CustomerFactory(),
            channel="email",
            event="given",
            method="phone",
            text=None,
            by=staff_member,
        )

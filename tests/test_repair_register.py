"""manage.py repair_register: the three wrong states older versions left.

Each test makes the old state directly, as the old code wrote it, then
repairs it; the repair changes nothing the new code wrote or staff recorded,
and a second run changes nothing at all.

(a) An import's consent dated at noon of the stated day (before ec2cf38).
(b) A customer added with an address on the suppression list without the
    objection the list gives (before b957500).
(c) An erased customer's place on a coming course left taken by nobody
    (before f2e6df7).
"""

import datetime
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation

from courses.models import Enrollment, Message
from registry.audit.models import AuditEvent
from registry.imports.analysis import ImportOptions
from registry.journal import read_marketing_journal
from registry.marketing.models import SuppressedContact
from registry.models import Consent, ConsentText, Customer, MarketingChannel
from registry.reports.health import health
from registry.services import consent_record
from registry.suppression import digest, normalised_email
from registry.templatetags.registry_tags import audit_detail

from .factories import (
    CourseFactory,
    CustomerFactory,
    CustomerImportFactory,
    EnrollmentFactory,
)

pytestmark = pytest.mark.django_db


def local(day, hour=0, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def repair(*args):
    out = StringIO()
    call_command("repair_register", *args, stdout=out)
    return out.getvalue()


def events(action):
    return AuditEvent.objects.filter(action=action)


# --- (a) An import's consents dated at noon -------------------------------------------

STATED_DAY = datetime.date(2026, 11, 20)
IMPORT_DAY = datetime.date(2026, 11, 25)


def email_text():
    return ConsentText.objects.filter(channel="email").order_by("version").first()


def old_import(user, *, consent_date=STATED_DAY, at=None):
    """An import applied at `at` (10:00 of IMPORT_DAY), as the old code left it."""
    at = at or local(IMPORT_DAY, 10)
    options = ImportOptions(consent_date=consent_date, consent_method="web_form")
    options.email_text = email_text()
    return CustomerImportFactory(
        created_by=user,
        created_at=at - timedelta(minutes=5),
        applied_at=at + timedelta(seconds=3),
        options=options.as_json(),
        mapping=["first_name", "last_name", "email", "email_consent"],
    )


def imported_customer(customer_import, user, *, at=None, noon_of=STATED_DAY, **kwargs):
    """A customer the old import added with the file's email consent, dated at
    noon of `noon_of`, recorded at the import's moment."""
    at = at or customer_import.applied_at - timedelta(seconds=3)
    customer = CustomerFactory(imported_in=customer_import, created_at=at, **kwargs)
    consent = Consent(
        customer=customer,
        channel="email",
        event="given",
        method="web_form",
        text=email_text(),
        occurred_at=local(noon_of, 12),
        recorded_by=user,
        recorded_at=at,
    )
    consent.save()
    return customer, consent


def withdraw(customer, user, *, at):
    return consent_record(
        customer=customer, channel="email", event="withdrawn", method="phone",
        occurred_at=at, by=user,
    )  # fmt: skip


def email_state(customer):
    return (
        Consent.objects.filter(customer=customer, channel="email")
        .order_by("-occurred_at", "-id")
        .values_list("event", flat=True)
        .first()
    )


def test_an_import_consent_at_noon_is_dated_at_the_start_of_the_stated_day(staff_member):
    customer_import = old_import(staff_member)
    customer, consent = imported_customer(customer_import, staff_member)
    # She withdrew that same morning (recorded on her page later).
    withdraw(customer, staff_member, at=local(STATED_DAY, 9))
    assert email_state(customer) == "given"  # the wrong state: noon beats the morning

    repair()

    consent.refresh_from_db()
    assert consent.occurred_at == local(STATED_DAY)
    assert email_state(customer) == "withdrawn"
    (event,) = events(AuditEvent.Action.CONSENT_REDATED)
    assert event.actor is None
    assert event.target_id == str(customer.pk)
    assert event.detail == {
        "consent_id": consent.pk,
        "channel": "email",
        "event": "given",
        "method": "web_form",
        "import": customer_import.pk,
        "occurred_at_was": local(STATED_DAY, 12).isoformat(),
        "occurred_at": local(STATED_DAY).isoformat(),
    }


def test_without_a_stated_day_the_consent_goes_to_the_start_of_the_import_day(staff_member):
    """The file gave no day: the old code dated it at noon of the import's
    day, two hours after the import; a withdrawal at eleven lost to it."""
    customer_import = old_import(staff_member, consent_date=None)
    customer, consent = imported_customer(customer_import, staff_member, noon_of=IMPORT_DAY)
    withdraw(customer, staff_member, at=local(IMPORT_DAY, 11))
    assert email_state(customer) == "given"

    repair()

    consent.refresh_from_db()
    assert consent.occurred_at == local(IMPORT_DAY)
    assert email_state(customer) == "withdrawn"


def test_a_future_stated_day_is_dated_at_the_import(staff_member):
    """The old code took a day still to come: never after the import's moment."""
    customer_import = old_import(staff_member, consent_date=IMPORT_DAY + timedelta(days=3))
    moment = customer_import.applied_at - timedelta(seconds=3)
    _customer, consent = imported_customer(
        customer_import, staff_member, noon_of=IMPORT_DAY + timedelta(days=3)
    )
    repair()
    consent.refresh_from_db()
    assert consent.occurred_at == moment


def test_an_import_before_the_consents_took_the_import_moment_is_recognised(staff_member):
    """Before b30e6a8 a consent was recorded a moment after its customer was
    added (the model's default), still before the import was done."""
    customer_import = old_import(staff_member)
    added = customer_import.applied_at - timedelta(seconds=3)
    customer = CustomerFactory(imported_in=customer_import, created_at=added)
    consent = Consent(
        customer=customer, channel="email", event="given", method="web_form",
        text=email_text(), occurred_at=local(STATED_DAY, 12), recorded_by=staff_member,
        recorded_at=added + timedelta(seconds=1),
    )  # fmt: skip
    consent.save()
    repair()
    consent.refresh_from_db()
    assert consent.occurred_at == local(STATED_DAY)


def test_consents_recorded_by_hand_or_by_the_new_code_stay(staff_member, register_manager):
    customer_import = old_import(staff_member)
    customer, old = imported_customer(customer_import, staff_member)
    # By hand on the imported customer's page, at noon of that day, after the import.
    sms_text = ConsentText.objects.filter(channel="sms").order_by("version").first()
    by_hand = consent_record(
        customer=customer, channel="email", event="given", method="web_form",
        text=email_text(), occurred_at=local(STATED_DAY, 12), by=register_manager,
    )  # fmt: skip
    by_hand_sms = consent_record(
        customer=customer, channel="sms", event="given", method="web_form",
        text=sms_text, occurred_at=local(STATED_DAY, 12), by=register_manager,
    )  # fmt: skip
    # By hand for a customer added by hand, at noon.
    other = CustomerFactory()
    noon = consent_record(
        customer=other, channel="email", event="given", method="web_form",
        text=email_text(), occurred_at=local(STATED_DAY, 12), by=register_manager,
    )  # fmt: skip
    # As the new code writes it: the start of the day.
    new_import = old_import(staff_member, at=local(IMPORT_DAY, 14))
    new_customer = CustomerFactory(imported_in=new_import, created_at=local(IMPORT_DAY, 14))
    new = Consent(
        customer=new_customer, channel="email", event="given", method="web_form",
        text=email_text(), occurred_at=local(STATED_DAY), recorded_by=staff_member,
        recorded_at=new_customer.created_at,
    )  # fmt: skip
    new.save()
    # An objection of the old import at noon: a refusal losing to nothing.
    objection = Consent(
        customer=customer, channel="direct_marketing", event="objection", method="web_form",
        occurred_at=local(STATED_DAY, 12), recorded_by=staff_member,
        recorded_at=customer.created_at,
    )  # fmt: skip
    objection.save()
    before = dict(Consent.objects.values_list("pk", "occurred_at"))

    repair()

    after = dict(Consent.objects.values_list("pk", "occurred_at"))
    changed = {pk for pk in before if before[pk] != after[pk]}
    assert changed == {old.pk}
    for kept in (by_hand, by_hand_sms, noon, new, objection):
        assert kept.pk not in changed


def test_the_repair_of_consents_runs_once(staff_member):
    customer_import = old_import(staff_member)
    imported_customer(customer_import, staff_member)
    repair()
    before = dict(Consent.objects.values_list("pk", "occurred_at"))
    trail = AuditEvent.objects.count()
    assert "0" in repair("--dry-run")
    repair()
    assert dict(Consent.objects.values_list("pk", "occurred_at")) == before
    # Only the run's own record.
    assert AuditEvent.objects.count() == trail + 1
    assert AuditEvent.objects.order_by("-id").first().action == AuditEvent.Action.REGISTER_REPAIRED


# --- (b) Customers added with a suppressed address ----------------------------------

KEPT_AT = timezone.make_aware(datetime.datetime(2026, 10, 1, 8, 30))


def suppress(email, at=KEPT_AT):
    return SuppressedContact.objects.create(
        digest=digest("email", normalised_email(email)), suppressed_at=at
    )


def added_by_hand(user, *, at=KEPT_AT + timedelta(days=10), **kwargs):
    """A customer added by `user`, as customer_create left it before b957500."""
    customer = CustomerFactory(created_at=at, **kwargs)
    AuditEvent.objects.create(
        at=at,
        actor=user,
        action=AuditEvent.Action.CUSTOMER_CREATED,
        target_type="registry.customer",
        target_id=str(customer.pk),
        detail={"fields": ["first_name", "last_name", "email"]},
    )
    return customer


def dm_events(customer):
    return list(
        Consent.objects.filter(customer=customer, channel="direct_marketing").values_list(
            "event", "method", "occurred_at", "recorded_by"
        )
    )


def test_a_customer_added_with_a_suppressed_address_gets_the_objection(staff_member):
    suppress("Palaava@Example.invalid")
    customer = added_by_hand(staff_member, email="palaava@example.invalid")
    assert Customer.objects.contactable_by("post").filter(pk=customer.pk).exists()

    repair()

    assert dm_events(customer) == [("objection", "suppression_list", KEPT_AT, staff_member.pk)]
    assert not Customer.objects.contactable_by("post").filter(pk=customer.pk).exists()
    (event,) = events(AuditEvent.Action.CONSENT_RECORDED).filter(target_id=str(customer.pk))
    assert event.detail["method"] == "suppression_list"
    assert event.detail["via"] == "repair_register"
    (entry,) = read_marketing_journal()
    assert (entry["customer_id"], entry["event"], entry["method"]) == (
        customer.pk,
        "objection",
        "suppression_list",
    )
    # A repair is not the customer's activity: the retention period stays.
    customer_before = customer.last_activity_at
    customer.refresh_from_db()
    assert customer.last_activity_at == customer_before


def test_an_imported_customer_with_a_suppressed_phone_gets_it_as_the_importer(
    staff_member, register_manager
):
    SuppressedContact.objects.create(
        digest=digest("phone", "+358401112233"), suppressed_at=KEPT_AT
    )
    customer_import = CustomerImportFactory(created_by=register_manager)
    customer = added_by_hand(staff_member, phone="+358401112233", imported_in=customer_import)
    repair()
    assert dm_events(customer) == [("objection", "suppression_list", KEPT_AT, staff_member.pk)]


def test_who_decided_since_or_was_added_before_is_left(staff_member, register_manager):
    later = KEPT_AT + timedelta(days=20)
    for n in range(5):
        suppress(f"vanha{n}@example.invalid")
    lifted = added_by_hand(staff_member, email="vanha0@example.invalid")
    consent_record(
        customer=lifted, channel="direct_marketing", event="objection_lifted",
        method="phone", occurred_at=later, by=register_manager,
    )  # fmt: skip
    consented = added_by_hand(staff_member, email="vanha1@example.invalid")
    consent_record(
        customer=consented, channel="email", event="given", method="phone",
        text=email_text(), occurred_at=later, by=register_manager,
    )  # fmt: skip
    objecting = added_by_hand(staff_member, email="vanha2@example.invalid")
    consent_record(
        customer=objecting, channel="direct_marketing", event="objection",
        method="phone", occurred_at=KEPT_AT - timedelta(days=5), by=register_manager,
    )  # fmt: skip
    before_the_list = added_by_hand(
        staff_member, email="vanha3@example.invalid", at=KEPT_AT - timedelta(days=1)
    )
    # A withdrawal since narrows as the objection does: it is given.
    withdrew = added_by_hand(staff_member, email="vanha4@example.invalid")
    consent_record(
        customer=withdrew, channel="email", event="withdrawn", method="phone",
        occurred_at=later, by=register_manager,
    )  # fmt: skip
    not_listed = added_by_hand(staff_member, email="muu@example.invalid")
    before = {c.pk: dm_events(c) for c in (lifted, consented, objecting, before_the_list)}

    repair()

    assert {c.pk: dm_events(c) for c in (lifted, consented, objecting, before_the_list)} == before
    assert dm_events(not_listed) == []
    assert dm_events(withdrew) == [("objection", "suppression_list", KEPT_AT, staff_member.pk)]


def test_the_objections_are_given_once(staff_member):
    suppress("kerran@example.invalid")
    customer = added_by_hand(staff_member, email="kerran@example.invalid")
    repair()
    repair()
    assert len(dm_events(customer)) == 1
    assert len(read_marketing_journal()) == 1


# --- (c) Places on coming courses taken by nobody -------------------------------------


def coming_course(**kwargs):
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    return CourseFactory(sessions=[(start, start + timedelta(hours=2))], **kwargs)


def test_a_place_left_by_an_erased_customer_goes_to_the_next_in_line(staff_member):
    course = coming_course(capacity=1)
    taken = EnrollmentFactory(course=course, customer=None, status="enrolled")
    queued = EnrollmentFactory(course=course, customer=None, status="waitlisted")
    waiting = EnrollmentFactory(course=course, status="waitlisted")
    start = timezone.now().replace(microsecond=0) - timedelta(days=30)
    past = CourseFactory(sessions=[(start, start + timedelta(hours=2))], capacity=1)
    kept = EnrollmentFactory(course=past, customer=None, status="enrolled")
    EnrollmentFactory(course=past, status="waitlisted")

    repair()

    statuses = dict(Enrollment.objects.values_list("pk", "status"))
    assert statuses[taken.pk] == statuses[queued.pk] == "cancelled"
    assert statuses[waiting.pk] == "enrolled"
    assert statuses[kept.pk] == "enrolled"  # the archive stays as it was
    assert events(AuditEvent.Action.ENROLLMENT_CANCELLED).count() == 2
    (promoted,) = events(AuditEvent.Action.WAITLIST_PROMOTED)
    assert promoted.target_id == str(waiting.customer_id)
    (message,) = Message.objects.filter(kind=Message.Kind.PROMOTED)
    assert message.customer == waiting.customer
    repair()
    assert events(AuditEvent.Action.ENROLLMENT_CANCELLED).count() == 2


# --- The command, and the health page -------------------------------------------------


def wrong_states(user):
    customer_import = old_import(user)
    imported_customer(customer_import, user, first_name="Noora", last_name="Keskipäivä")
    suppress("esto@example.invalid")
    added_by_hand(user, email="esto@example.invalid", first_name="Eero", last_name="Estetty")
    EnrollmentFactory(course=coming_course(), customer=None)


def test_dry_run_counts_and_changes_nothing(staff_member):
    wrong_states(staff_member)
    consents = Consent.objects.count()
    dates = set(Consent.objects.values_list("occurred_at", flat=True))
    trail = AuditEvent.objects.count()

    out = repair("--dry-run")

    assert Consent.objects.count() == consents
    assert set(Consent.objects.values_list("occurred_at", flat=True)) == dates
    assert AuditEvent.objects.count() == trail
    assert Enrollment.objects.filter(status="cancelled").count() == 0
    assert [line for line in out.splitlines() if ": 1" in line] and "Dry run" in out
    for name in ("Noora", "Keskipäivä", "Eero", "Estetty", "esto@"):
        assert name not in out


def test_a_run_is_audited_with_its_counts_and_a_second_changes_nothing(staff_member):
    wrong_states(staff_member)
    out = repair()
    (run,) = events(AuditEvent.Action.REGISTER_REPAIRED)
    names = ("import_consents", "suppression_objections", "orphan_places")
    assert run.detail == {"repaired": dict.fromkeys(names, 1), "left": dict.fromkeys(names, 0)}
    for name in ("Noora", "Keskipäivä", "Eero", "Estetty", "esto@"):
        assert name not in out
    trail, journal = AuditEvent.objects.count(), json.dumps(read_marketing_journal())
    places = dict(Enrollment.objects.values_list("pk", "status"))
    ledger = dict(Consent.objects.values_list("pk", "occurred_at"))
    out = repair()
    assert "Nothing to repair" in out
    assert json.dumps(read_marketing_journal()) == journal
    assert dict(Enrollment.objects.values_list("pk", "status")) == places
    assert dict(Consent.objects.values_list("pk", "occurred_at")) == ledger
    # The second run is recorded, as a retention run is, and nothing else.
    assert AuditEvent.objects.count() == trail + 1
    second = events(AuditEvent.Action.REGISTER_REPAIRED).order_by("-id").first()
    assert second.detail == {"repaired": dict.fromkeys(names, 0), "left": dict.fromkeys(names, 0)}


def test_a_customer_added_by_nobody_known_gets_the_objection_by_nobody(staff_member, settings):
    """Factories and old scripts add customers without a *customer added*
    event: the objection is recorded by nobody, as a restore records an
    event whose account is gone (the review of 2026-11-29: left without it,
    the customer stayed on post and phone lists, and the health page read
    the whole register on every view). Journalled, and re-applied by a
    restore like any other."""
    suppress("tuntematon@example.invalid")
    customer = CustomerFactory(
        email="tuntematon@example.invalid", created_at=KEPT_AT + timedelta(days=1)
    )
    repair()
    assert [e[:2] for e in dm_events(customer)] == [("objection", "suppression_list")]
    consent = Consent.objects.get(customer=customer)
    assert (consent.recorded_by, consent.recorded_by_role) == (None, "")
    (run,) = events(AuditEvent.Action.REGISTER_REPAIRED)
    assert run.detail["left"]["suppression_objections"] == 0
    assert repair_lines() == []
    (entry,) = read_marketing_journal()
    assert (entry["customer_id"], entry["recorded_by"]) == (customer.pk, None)
    assert not Customer.objects.contactable_by(MarketingChannel.POST).filter(pk=customer.pk)


def test_after_a_clean_run_a_customer_added_since_is_still_checked(staff_member):
    repair()  # nothing due: the older customers are checked
    suppress("myohemmin@example.invalid", at=timezone.now() - timedelta(days=1))
    customer = added_by_hand(staff_member, email="myohemmin@example.invalid", at=timezone.now())
    assert len(repair_lines()) == 1
    repair()
    assert [e[:2] for e in dm_events(customer)] == [("objection", "suppression_list")]
    assert repair_lines() == []


def repair_lines():
    return [line for line in health() if "repair_register" in line.link_text]


def test_the_health_page_counts_what_is_still_to_repair(client, register_manager, staff_member):
    assert repair_lines() == []
    wrong_states(staff_member)
    (line,) = repair_lines()
    assert line.status == "amber"
    assert line.evidence.count(": 1") == 3
    client.force_login(register_manager)
    assert "repair_register" in client.get(reverse("registry:report-health")).content.decode()
    repair()
    assert repair_lines() == []


def test_the_trail_says_what_the_repair_did(client, register_manager, staff_member):
    """The audit trail's page explains each change: the consent's date before
    and after, where an objection came from, and the run's counts."""
    wrong_states(staff_member)
    repair()
    client.force_login(register_manager)
    page = client.get(reverse("registry:audit-trail"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "dated 20 Nov 2026, 12:00 → 20 Nov 2026, 00:00" in page
    assert audit_detail(events(AuditEvent.Action.CONSENT_REDATED).get().detail).count("→") == 1
    objection = events(AuditEvent.Action.CONSENT_RECORDED).get(detail__via="repair_register")
    assert "repair after an upgrade" in audit_detail(objection.detail)
    run = events(AuditEvent.Action.REGISTER_REPAIRED).get()
    with translation.override("en"):
        words = str(audit_detail(run.detail))
    assert "consents an older import dated at noon: 1" in words

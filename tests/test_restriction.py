"""Restriction of processing (GDPR art. 18): set from a restriction request,
shown to everyone who opens the customer, lifted by the register manager;
while it lasts the data is only stored (no marketing, no new enrolments, no
course messages, no retention erasure) and may still be corrected."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats, timezone

from courses import messages as outbox
from courses.models import Enrollment, Message
from courses.services import (
    EnrollmentError,
    course_update,
    enrollment_cancel,
    enrollment_create,
    session_cancel,
)
from courses.tasks import message_deliver
from registry import models
from registry.audit.models import AuditEvent
from registry.imports.services import import_apply, import_undo
from registry.marketing.models import MarketingExportRow
from registry.models import Customer, RegisterExport
from registry.rights import restriction
from registry.rights.models import DataSubjectRequest
from registry.rights.restriction import (
    RestrictionError,
    customer_restrict,
    customer_restriction_lift,
)
from registry.rights.selectors import access_report, retention_candidates
from registry.services import (
    consent_record,
    customer_merge,
    customer_update,
    register_export_rows,
)

from .factories import (
    ConsentFactory,
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
)
from .test_imports import person, upload

pytestmark = pytest.mark.django_db

LIFT_CONFIRMED = {"customer_told": "on"}


def restrict_url(customer):
    return reverse("registry:customer-restrict", args=[customer.pk])


def lift_url(customer):
    return reverse("registry:customer-restriction-lift", args=[customer.pk])


def restricted(**kwargs):
    """A customer whose processing was restricted by a register manager
    (without a case: the service allows it)."""
    customer = CustomerFactory(**kwargs)
    Customer.objects.filter(pk=customer.pk).update(restricted_since=timezone.now())
    customer.refresh_from_db()
    return customer


def short_date(moment):
    return formats.date_format(timezone.localtime(moment), "SHORT_DATE_FORMAT")


# --- Who may ---------------------------------------------------------------


@pytest.mark.parametrize("url_of", [restrict_url, lift_url])
def test_the_pages_are_for_the_register_manager_only(
    client, staff_member, instructor, register_manager, url_of
):
    customer = CustomerFactory()
    url = url_of(customer)
    for method in (client.get, client.post):
        assert method(url).url.startswith(reverse("login"))
    for user in (staff_member, instructor):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert client.post(url, LIFT_CONFIRMED).status_code == 403
    customer.refresh_from_db()
    assert customer.restricted_since is None
    assert not AuditEvent.objects.filter(
        action__in=["customer_restricted", "customer_restriction_lifted"]
    ).exists()
    client.force_login(register_manager)
    assert client.get(url).status_code == 200


def test_only_the_register_manager_holds_the_permission(
    staff_member, instructor, register_manager
):
    assert register_manager.has_perm("registry.restrict_customer")
    assert not staff_member.has_perm("registry.restrict_customer")
    assert not instructor.has_perm("registry.restrict_customer")


@pytest.mark.parametrize("url_of", [restrict_url, lift_url])
def test_a_customer_that_does_not_exist_is_not_found(client, register_manager, url_of):
    client = Client(raise_request_exception=False)
    client.force_login(register_manager)
    for pk in (987654, 10**20):
        missing = Customer(pk=pk)
        assert client.get(url_of(missing)).status_code == 404
        assert client.post(url_of(missing), LIFT_CONFIRMED).status_code == 404
    assert client.get(url_of(CustomerFactory())[:-1] + "x/").status_code == 404


# --- Restricting from a request ----------------------------------------------


def test_restricting_from_a_request_closes_it_and_is_audited(client, register_manager):
    customer = CustomerFactory()
    case = DataSubjectRequestFactory(customer=customer, kind="restriction")
    client.force_login(register_manager)
    page = client.get(case.get_absolute_url()).content.decode()
    assert restrict_url(customer) in page and "Rajoita käsittelyä" in page

    confirm = client.get(restrict_url(customer)).content.decode()
    assert case.reference in confirm and 'name="csrfmiddlewaretoken"' in confirm
    customer.refresh_from_db()
    assert customer.restricted_since is None  # a GET changes nothing

    before = timezone.now()
    response = client.post(restrict_url(customer))
    assert response.status_code == 302 and response.url == case.get_absolute_url()
    customer.refresh_from_db()
    case.refresh_from_db()
    assert before <= customer.restricted_since <= timezone.now()
    assert case.status == DataSubjectRequest.Status.DONE
    assert case.completed_on == timezone.localdate()
    assert case.outcome == "Käsittely rajoitettu."
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_RESTRICTED)
    assert event.actor == register_manager and event.actor_role == "register_manager"
    assert (event.target_type, event.target_id) == ("registry.customer", str(customer.pk))
    assert event.detail == {"case_id": case.pk, "reference": case.reference}
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CASE_UPDATED, target_id=str(case.pk)
    ).exists()

    # The case's page tells what was done, and offers no second restriction.
    page = client.get(case.get_absolute_url()).content.decode()
    assert "Rajoitti asiakkaan tietojen käsittelyä" in page
    assert restrict_url(customer) not in page


def test_an_open_restriction_request_stays_open_on_the_page_of_an_access_request(
    client, register_manager
):
    case = DataSubjectRequestFactory(kind="access")
    client.force_login(register_manager)
    assert restrict_url(case.customer) not in client.get(case.get_absolute_url()).content.decode()


def test_without_a_request_the_restriction_is_recorded_alone(client, register_manager):
    customer = CustomerFactory()
    other_case = DataSubjectRequestFactory(customer=customer, kind="access")
    client.force_login(register_manager)
    response = client.post(restrict_url(customer))
    assert response.url == customer.get_absolute_url()
    customer.refresh_from_db()
    assert customer.restricted_since is not None
    assert AuditEvent.objects.get(action="customer_restricted").detail == {}
    other_case.refresh_from_db()
    assert other_case.is_open  # an access request is not what this answered


def test_a_second_restriction_is_refused_kindly(client, register_manager):
    customer = CustomerFactory()
    case = DataSubjectRequestFactory(customer=customer, kind="restriction")
    client.force_login(register_manager)
    client.post(restrict_url(customer))
    customer.refresh_from_db()
    first = customer.restricted_since
    DataSubjectRequestFactory(customer=customer, kind="restriction")  # asked again

    page = client.get(restrict_url(customer)).content.decode()
    assert "Rajoita käsittelyä</button>" not in page
    assert f"Käsittelyä rajoitettu {short_date(first)}" in page
    response = client.post(restrict_url(customer), follow=True)
    assert response.status_code == 200
    texts = [str(message) for message in response.context["messages"]]
    assert any("on rajoitettu jo" in text for text in texts), texts
    customer.refresh_from_db()
    assert customer.restricted_since == first
    assert AuditEvent.objects.filter(action="customer_restricted").count() == 1
    case.refresh_from_db()
    assert case.status == "done"
    with pytest.raises(RestrictionError):
        customer_restrict(customer=customer, by=register_manager)


def test_a_case_of_another_customer_cannot_be_named(register_manager):
    customer = CustomerFactory()
    elsewhere = DataSubjectRequestFactory(kind="restriction")
    with pytest.raises(ValueError, match="not this customer's"):
        customer_restrict(customer=customer, by=register_manager, case=elsewhere)
    customer.refresh_from_db()
    assert customer.restricted_since is None


def test_the_change_and_its_audit_event_are_one_transaction(monkeypatch, register_manager):
    customer = CustomerFactory()

    def failing(**kwargs):
        raise RuntimeError("the audit trail could not be written")

    monkeypatch.setattr(restriction, "audit_event_create", failing)
    with pytest.raises(RuntimeError):
        customer_restrict(customer=customer, by=register_manager)
    customer.refresh_from_db()
    assert customer.restricted_since is None

    monkeypatch.undo()
    customer_restrict(customer=customer, by=register_manager)
    monkeypatch.setattr(restriction, "audit_event_create", failing)
    with pytest.raises(RuntimeError):
        customer_restriction_lift(customer=customer, by=register_manager)
    customer.refresh_from_db()
    assert customer.restricted_since is not None


def test_restricting_and_lifting_forget_the_kept_marketing_counts(monkeypatch, register_manager):
    customer = CustomerFactory()
    changes = []
    monkeypatch.setattr(models, "reach_changed", lambda using=None: changes.append(using))
    customer_restrict(customer=customer, by=register_manager)
    assert len(changes) == 1
    customer_restriction_lift(customer=customer, by=register_manager)
    assert len(changes) == 2


# --- Seeing it -------------------------------------------------------------


def test_everyone_who_opens_the_customer_sees_the_banner(client, staff_member, register_manager):
    customer = restricted(last_name="<b>Rajoitettu</b>")
    banner = f"Käsittelyä rajoitettu {short_date(customer.restricted_since)}"
    client.force_login(staff_member)
    page = client.get(customer.get_absolute_url()).content.decode()
    assert banner in page and lift_url(customer) not in page
    # The edit page too: the data may still be corrected (art. 16).
    edit = client.get(reverse("registry:customer-update", args=[customer.pk]))
    assert banner in edit.content.decode()
    client.force_login(register_manager)
    page = client.get(customer.get_absolute_url()).content.decode()
    assert banner in page and lift_url(customer) in page
    assert "<b>Rajoitettu</b>" not in page and "&lt;b&gt;Rajoitettu&lt;/b&gt;" in page
    for url in (restrict_url(customer), lift_url(customer)):
        page = client.get(url).content.decode()
        assert "<b>Rajoitettu</b>" not in page and "&lt;b&gt;Rajoitettu&lt;/b&gt;" in page
    unrestricted = CustomerFactory()
    assert (
        "Käsittelyä rajoitettu" not in client.get(unrestricted.get_absolute_url()).content.decode()
    )


def test_the_data_may_still_be_corrected(client, staff_member):
    customer = restricted(city="Joensuu")
    client.force_login(staff_member)
    form = client.get(reverse("registry:customer-update", args=[customer.pk])).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(city="Kuopio", phone=str(customer.phone or ""), country="FI")
    response = client.post(reverse("registry:customer-update", args=[customer.pk]), data)
    assert response.status_code == 302, response.context["form"].errors
    customer.refresh_from_db()
    assert customer.city == "Kuopio" and customer.restricted_since is not None


def test_the_customer_list_marks_the_restricted_in_the_same_queries(client, staff_member):
    client.force_login(staff_member)
    counts = []
    for make in (CustomerFactory, restricted):
        for _ in range(5):
            make()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("registry:customer-list"))
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    rows = response.content.decode().split("<tr>")
    assert sum('title="Käsittelyä rajoitettu"' in row for row in rows) == 5


# --- Lifting -----------------------------------------------------------------


def test_lifting_needs_the_customer_told_and_is_audited(client, register_manager):
    customer = restricted()
    since = customer.restricted_since
    client.force_login(register_manager)
    page = client.get(lift_url(customer)).content.decode()
    assert "18 artiklan 3 kohta" in page and 'name="customer_told"' in page
    response = client.post(lift_url(customer), {})
    assert response.status_code == 200
    assert "customer_told" in response.context["form"].errors
    customer.refresh_from_db()
    assert customer.restricted_since == since

    response = client.post(lift_url(customer), LIFT_CONFIRMED)
    assert response.status_code == 302 and response.url == customer.get_absolute_url()
    customer.refresh_from_db()
    assert customer.restricted_since is None
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_RESTRICTION_LIFTED)
    assert event.actor == register_manager and event.target_id == str(customer.pk)
    assert event.detail["restricted_since"] == since.isoformat(timespec="seconds")
    assert "Käsittelyä rajoitettu" not in client.get(customer.get_absolute_url()).content.decode()

    # Lifting what is not restricted: said kindly, nothing written.
    response = client.post(lift_url(customer), LIFT_CONFIRMED, follow=True)
    assert any("ei ole rajoitettu" in str(m) for m in response.context["messages"])
    assert AuditEvent.objects.filter(action="customer_restriction_lifted").count() == 1


def test_an_import_undo_keeps_a_restricted_customer(staff_member, register_manager):
    rows = [person(first=name, email=f"{name}@example.invalid") for name in ("Tuotu", "Pidetty")]
    rows[1][3] = "040 222 3344"
    done = import_apply(customer_import=upload(rows, staff_member), by=staff_member)
    kept = Customer.objects.get(imported_in=done, first_name="Pidetty")
    customer_restrict(customer=kept, by=register_manager)
    report = import_undo(customer_import=done, by=register_manager)
    assert report["removed"] == 1 and report["kept"] == {str(kept.pk): "changed"}


def test_a_merge_keeps_the_restriction_of_either_record(register_manager):
    keep = CustomerFactory()
    remove = restricted()
    merged = customer_merge(keep=keep, remove=remove, values={}, by=register_manager)
    assert merged.restricted_since == remove.restricted_since
    event = AuditEvent.objects.get(action="customer_merged")
    assert "restricted_since" in event.detail["changes"]


# --- Storage only: marketing ---------------------------------------------------


def read_csv(content):
    text = content.decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))


def test_marketing_lists_and_exports_leave_them_out_until_lifted(
    client, register_manager, staff_member
):
    kept = CustomerFactory(last_name="Markkinoitava")
    ConsentFactory(customer=kept, recorded_by=staff_member)
    customer = CustomerFactory(last_name="Rajoitettu")
    ConsentFactory(customer=customer, recorded_by=staff_member)
    client.force_login(register_manager)
    url = reverse("registry:marketing-list")
    assert client.get(url, {"channel": "email"}).context["count"] == 2

    customer_restrict(customer=customer, by=register_manager)
    for channel, expected in (("email", 1), ("post", 1), ("phone", 1), ("sms", 0)):
        assert client.get(url, {"channel": channel}).context["count"] == expected, channel
    response = client.post(url, {"channel": "email", "purpose": "kevään uutiskirje"})
    names = [row[1] for row in read_csv(b"".join(response.streaming_content))[1:]]
    assert names == ["Markkinoitava"]
    assert not MarketingExportRow.objects.filter(customer=customer).exists()
    # The customer list's "may be marketed to" filter, and the customer's page.
    listed = client.get(reverse("registry:customer-list"), {"contactable": "email"})
    assert [row.pk for row in listed.context["customers"]] == [kept.pk]
    page = client.get(customer.get_absolute_url())
    assert not any(allowed for _label, allowed in page.context["contact_permissions"])
    annotated = Customer.objects.with_contact_permissions().get(pk=customer.pk)
    assert not (annotated.may_email or annotated.may_post or annotated.may_phone)

    customer_restriction_lift(customer=customer, by=register_manager)
    assert client.get(url, {"channel": "email"}).context["count"] == 2
    response = client.post(url, {"channel": "email", "purpose": "syksyn uutiskirje"})
    names = [row[1] for row in read_csv(b"".join(response.streaming_content))[1:]]
    assert sorted(names) == ["Markkinoitava", "Rajoitettu"]


@pytest.mark.usefixtures("immediate_tasks", "export_dir")
def test_a_marketing_list_written_by_the_worker_leaves_them_out(
    client, settings, register_manager, staff_member
):
    settings.EXPORT_INLINE_MAX_ROWS = 1
    for name in ("Ensimmäinen", "Toinen"):
        ConsentFactory(customer=CustomerFactory(last_name=name), recorded_by=staff_member)
    customer = CustomerFactory(last_name="Rajoitettu")
    ConsentFactory(customer=customer, recorded_by=staff_member)
    customer_restrict(customer=customer, by=register_manager)
    client.force_login(register_manager)
    asked = client.post(
        reverse("registry:marketing-list"), {"channel": "email", "purpose": "uutiskirje"}
    )
    export = RegisterExport.objects.get()
    assert asked.url == export.get_absolute_url() and export.task_state == "done"
    rows = read_csv(b"".join(client.post(asked.url + "download/").streaming_content))
    assert sorted(row[1] for row in rows[1:]) == ["Ensimmäinen", "Toinen"]


def test_a_courses_marketing_list_leaves_them_out(client, register_manager):
    course = CourseFactory()
    EnrollmentFactory(course=course)
    customer = EnrollmentFactory(course=course).customer
    customer_restrict(customer=customer, by=register_manager)
    client.force_login(register_manager)
    url = reverse("registry:marketing-list")
    assert client.get(url, {"channel": "post", "course": course.pk}).context["count"] == 1


# --- Storage only: courses -----------------------------------------------------


def test_no_new_enrolment_and_the_old_ones_stay(client, staff_member, register_manager):
    customer = CustomerFactory(first_name="Riina")
    old = EnrollmentFactory(customer=customer)
    customer_restrict(customer=customer, by=register_manager)
    course = CourseFactory()
    with pytest.raises(EnrollmentError, match="rajoitettu"):
        enrollment_create(customer=customer, course=course, source="office", by=staff_member)
    assert list(customer.enrollments.all()) == [old]
    assert old.status == Enrollment.Status.ENROLLED

    client.force_login(staff_member)
    # The course page's picker says it beside the name, with no button.
    page = client.get(course.get_absolute_url(), {"q": customer.email}).content.decode()
    assert "Käsittelyä rajoitettu" in page and f"Ilmoita {customer.first_name}" not in page
    # The customer's own page says it in place of the picker.
    page = client.get(customer.get_absolute_url()).content.decode()
    assert 'id="enrol-restricted"' in page and 'id="enrol-course"' not in page
    # A post anyway (an old page) is refused with the reason.
    for url, data in (
        (reverse("courses:enrollment-create", args=[course.pk]), {"customer": customer.pk}),
        (
            reverse("courses:customer-enrollment-create", args=[customer.pk]),
            {"course": course.pk},
        ),
    ):
        response = client.post(url, {**data, "source": "office"}, follow=True)
        texts = [str(m) for m in response.context["messages"]]
        assert any("rajoitettu" in text for text in texts), texts
    assert not course.enrollments.exists()
    assert not AuditEvent.objects.filter(action="enrolled").exists()

    customer_restriction_lift(customer=customer, by=register_manager)
    enrollment_create(customer=customer, course=course, source="office", by=staff_member)
    assert course.enrollments.get().customer == customer


def test_no_course_messages_are_written_to_them(client, settings, staff_member, register_manager):
    settings.REMINDER_DAYS = 2
    course = CourseFactory(starts_at=timezone.now() + timedelta(days=1), capacity=2)
    participant = EnrollmentFactory(course=course).customer
    enrolled = EnrollmentFactory(course=course)
    customer = enrolled.customer
    waiting = EnrollmentFactory(course=course, status="waitlisted").customer
    next_one = EnrollmentFactory(course=course, status="waitlisted").customer
    for someone in (customer, waiting):
        customer_restrict(customer=someone, by=register_manager)

    assert [e.customer for e in outbox.reminders_due()] == [participant]
    call_command("send_reminders")
    assert outbox.course_recipients(course) == [participant]
    assert outbox.course_recipients(course, "waitlist") == [next_one]
    client.force_login(staff_member)
    url = reverse("courses:course-message", args=[course.pk])
    data = {"audience": "participants", "subject": "Sali", "text": "Sali vaihtui."}
    shown = client.post(url, data)
    preview = shown.content.decode()
    assert participant.full_name in preview and customer.full_name not in preview
    token = shown.context["form"].data["submission"]
    client.post(url, {**data, "submission": token, "confirm": "1"})
    # The customer's own cancellation: no notice. The place it frees passes
    # over the first on the waiting list, restricted (no new place), who
    # keeps the first position for when the restriction is lifted.
    cancel_page = client.get(
        reverse("courses:enrollment-cancel", args=[course.pk, enrolled.pk])
    ).content.decode()
    assert next_one.full_name in cancel_page and waiting.full_name not in cancel_page
    _cancelled, promoted = enrollment_cancel(enrollment=enrolled, by=staff_member)
    assert [e.customer for e in promoted] == [next_one]
    assert waiting.enrollments.get().status == Enrollment.Status.WAITLISTED
    assert list(course.enrollments.waitlist().values_list("customer", flat=True)) == [waiting.pk]
    session_cancel(session=course.sessions.get(), reason="Sali remontissa", by=staff_member)
    course_update(course=course, data={"is_cancelled": True}, by=staff_member)

    assert not Message.objects.filter(customer__in=[customer, waiting]).exists()
    kinds = set(participant.messages.values_list("kind", flat=True))
    assert kinds == {"reminder", "staff", "session_cancelled", "course_cancelled"}
    assert "promoted" in set(next_one.messages.values_list("kind", flat=True))


def test_a_message_written_before_the_restriction_is_not_sent(
    client, staff_member, register_manager
):
    customer = CustomerFactory()
    enrollment_create(customer=customer, course=CourseFactory(), source="office", by=staff_member)
    message = customer.messages.get()
    customer_restrict(customer=customer, by=register_manager)
    assert message_deliver(message.pk) is None
    message.refresh_from_db()
    assert message.state == Message.State.FAILED and message.sent_at is None
    assert message.attempts == 0 and message.error
    # "Send again" is refused with the reason, and sends nothing.
    client.force_login(staff_member)
    response = client.post(reverse("courses:message-resend", args=[message.pk]), follow=True)
    assert any("rajoitettu" in str(m) for m in response.context["messages"])
    outbox.message_resend(message=message, by=staff_member)
    message.refresh_from_db()
    assert message.state == Message.State.FAILED
    assert not AuditEvent.objects.filter(action="message_resent").exists()


# --- Storage only: retention; still in the register's own copies ----------------


def test_retention_skips_them_until_lifted(register_manager, capsys):
    customer = restricted(last_name="Säilytettävä")
    long_ago = timezone.now() - timedelta(days=4 * 365)
    Customer.objects.filter(pk=customer.pk).update(last_activity_at=long_ago)
    assert list(retention_candidates()) == []
    call_command("retention")
    assert Customer.objects.filter(pk=customer.pk).exists()

    customer_restriction_lift(customer=customer, by=register_manager)
    assert list(retention_candidates()) == [customer]
    call_command("retention", "--dry-run")
    assert f"#{customer.pk}" in capsys.readouterr().out


def test_nothing_done_while_restricted_starts_the_retention_period_again(
    client, staff_member, register_manager
):
    """A correction, a consent recorded or a merge of a restricted customer is
    no activity: lifted, the customer is due as if nothing had happened."""
    long_ago = timezone.now() - timedelta(days=4 * 365)
    customer = restricted(last_name="Säilytettävä")
    other = restricted(last_name="Toinen")
    Customer.objects.filter(pk__in=[customer.pk, other.pk]).update(last_activity_at=long_ago)
    customer.refresh_from_db()
    customer_update(customer=customer, data={"city": "Turku"}, by=staff_member)
    consent_record(
        customer=customer,
        channel="direct_marketing",
        event="objection",
        method="phone",
        by=staff_member,
    )
    duplicate = CustomerFactory(last_name="Säilytettävä")
    Customer.objects.filter(pk=duplicate.pk).update(last_activity_at=long_ago)
    customer = customer_merge(
        keep=customer, remove=Customer.objects.get(pk=duplicate.pk), values={}, by=staff_member
    )
    # A merge into an unrestricted record that takes the restriction along.
    kept = CustomerFactory(last_name="Pidetty")
    Customer.objects.filter(pk=kept.pk).update(last_activity_at=long_ago)
    kept = customer_merge(
        keep=Customer.objects.get(pk=kept.pk), remove=other, values={}, by=staff_member
    )
    for someone in (customer, kept):
        someone.refresh_from_db()
        assert someone.last_activity_at == long_ago, someone
        customer_restriction_lift(customer=someone, by=register_manager)
    assert set(retention_candidates()) == {customer, kept}

    # Unrestricted, the same writes are activity as before.
    active = CustomerFactory()
    Customer.objects.filter(pk=active.pk).update(last_activity_at=long_ago)
    consent_record(
        customer=active,
        channel="direct_marketing",
        event="objection",
        method="phone",
        by=staff_member,
    )
    active.refresh_from_db()
    assert active.last_activity_at > long_ago


def test_the_register_export_and_the_access_report_still_hold_them(client, register_manager):
    customer = restricted(last_name="Rajoitettu")
    _columns, rows = register_export_rows()
    assert "Rajoitettu" in [row[1] for row in rows]
    report = access_report(customer)
    assert report["customer"]["restricted_since"] == customer.restricted_since.isoformat(
        timespec="seconds"
    )
    assert access_report(CustomerFactory())["customer"]["restricted_since"] is None
    client.force_login(register_manager)
    page = client.get(reverse("registry:access-report", args=[customer.pk]))
    assert "Käsittelyä rajoitettu alkaen" in page.content.decode()

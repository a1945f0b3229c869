"""What the seventh outside probe found (2026-11-29), each test failing on
the code before its fix."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from courses.models import MessageSettings
from registry.audit.models import AuditEvent
from registry.models import Customer
from registry.roles import REGISTER_MANAGER
from registry.services import customer_update

from .factories import (
    ConsentFactory,
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    MessageFactory,
    UserFactory,
)
from .test_edit_conflicts import opened, submitted

pytestmark = pytest.mark.django_db


def reads_of(customer, user):
    return AuditEvent.objects.for_target(customer).filter(
        action=AuditEvent.Action.CUSTOMER_VIEWED, actor=user
    )


def moved_three_times(register_manager):
    """A customer whose street the register manager changed three times: the
    record's history, which only the register manager sees (its page)."""
    customer = CustomerFactory(street_address="Ensitie 1", city="Joensuu", postal_code="80100")
    for street in ("Toinentie 2", "Kolmastie 3", "Neljästie 4"):
        customer, _changes = customer_update(
            customer=Customer.objects.get(pk=customer.pk),
            data={"street_address": street},
            by=register_manager,
        )
    return customer


# --- A made-up version on the edit form showed the record's history ---------


def test_a_made_up_version_does_not_show_staff_the_records_history(
    client, staff_member, register_manager
):
    """Staff do not see a record's history (its page shows it to the register
    manager only). The edit form posted by hand with `version=1` answered
    with the conflict page: every change since version 1, old and new value
    ("Ensitie 1 → Toinentie 2 → Kolmastie 3 → Neljästie 4"), and the record
    as it is now, without any read in the trail."""
    customer = moved_three_times(register_manager)
    client.force_login(staff_member)
    url = reverse("registry:customer-update", args=[customer.pk])
    data = {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "street_address": "Neljästie 4",
        "postal_code": "80100",
        "city": "Joensuu",
        "country": "FI",
        "language": "fi",
        "source": customer.source,
        "version": "1",
    }
    response = client.post(url, data)
    body = response.content.decode()
    for old in ("Ensitie 1", "Toinentie 2", "Kolmastie 3"):
        assert old not in body
    assert 'id="edit-conflict"' not in body
    assert response.context["form"].has_error("__all__", "no_version")
    customer.refresh_from_db()
    assert customer.version == 4


def test_a_version_of_another_record_is_not_taken(client, staff_member, register_manager):
    """The version the page carries is the record's own: one opened on
    another record (at version 1) does not open this one's history."""
    customer = moved_three_times(register_manager)
    other = CustomerFactory()
    client.force_login(staff_member)
    other_form = opened(client, reverse("registry:customer-update", args=[other.pk]))
    url = reverse("registry:customer-update", args=[customer.pk])
    mine = opened(client, url)
    response = client.post(url, submitted(mine, version=other_form["version"].value()))
    assert "Toinentie 2" not in response.content.decode()
    assert response.context["form"].has_error("__all__", "no_version")


def test_a_real_conflict_still_names_what_changed_since_the_page_was_opened(
    client, staff_member, register_manager
):
    customer = moved_three_times(register_manager)
    client.force_login(staff_member)
    url = reverse("registry:customer-update", args=[customer.pk])
    form = opened(client, url)
    customer_update(
        customer=Customer.objects.get(pk=customer.pk),
        data={"street_address": "Viidestie 5"},
        by=register_manager,
    )
    response = client.post(url, submitted(form, city="Kuopio"))
    body = response.content.decode()
    assert "Neljästie 4 → Viidestie 5" in body
    # Only what changed while the page was open.
    assert "Kolmastie 3" not in body


def test_every_showing_of_the_edit_form_is_a_read(client, staff_member, register_manager):
    """The edit form is audited as a read when opened (GET); a post that is
    refused (a field missing, or someone saved meanwhile) shows the form
    again with the customer's name and, after a conflict, the record as it
    is now: each of these is a read too."""
    customer = moved_three_times(register_manager)
    client.force_login(staff_member)
    url = reverse("registry:customer-update", args=[customer.pk])
    form = opened(client, url)
    assert reads_of(customer, staff_member).count() == 1

    invalid = client.post(url, submitted(form, first_name=""))
    assert invalid.status_code == 200
    assert customer.last_name in invalid.content.decode()
    assert reads_of(customer, staff_member).count() == 2

    customer_update(
        customer=Customer.objects.get(pk=customer.pk),
        data={"street_address": "Viidestie 5"},
        by=register_manager,
    )
    conflict = client.post(url, submitted(form, city="Kuopio"))
    assert 'id="edit-conflict"' in conflict.content.decode()
    assert reads_of(customer, staff_member).count() == 3
    assert set(reads_of(customer, staff_member).values_list("detail__via", flat=True)) == {"edit"}


@pytest.mark.parametrize("version", ["99999999999999999999999", "-1", "1.5", "x" * 10_000])
def test_a_hostile_version_is_an_out_of_date_form_not_a_500(client, register_manager, version):
    """`version=99999999999999999999999` on the customer's or a course's
    edit form answered 500 (SQLite: "Python int too large to convert to
    SQLite INTEGER", comparing it with the trail's versions)."""
    customer, course = CustomerFactory(), CourseFactory()
    client.force_login(register_manager)
    for url in (
        reverse("registry:customer-update", args=[customer.pk]),
        reverse("courses:course-update", args=[course.pk]),
    ):
        response = client.post(url, submitted(opened(client, url), version=version))
        assert response.status_code == 200, url
        assert response.context["form"].has_error("__all__", "no_version"), url


# --- Admin's consent ledger named the customer without a read ----------------


def test_the_consent_ledger_in_admin_names_no_customer(client, register_manager):
    """Admin's consent ledger lists events by customer number. Its page of one
    event showed the customer's name (admin's text of the foreign key) with
    no read in the trail: the numbers 1, 2, 3... in the address named every
    customer with a consent. It shows the customer's number, as the list
    does (their page, a read, is found by it)."""
    customer = CustomerFactory(first_name="Sohvi", last_name="Vanamo")
    consent = ConsentFactory(customer=customer)
    client.force_login(register_manager)
    response = client.get(reverse("admin:registry_consent_change", args=[consent.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Vanamo" not in body and "Sohvi" not in body
    assert response.context["adminform"].form.instance.customer_id == customer.pk
    assert f'<div class="readonly">{customer.pk}</div>' in body
    assert not reads_of(customer, register_manager).exists()


# --- An instructor given the outbox saw every course's messages --------------


@pytest.fixture
def instructor_with_outbox(instructor):
    """An instructor given the outbox's permission in admin (one user's
    permissions, as README's "can be granted")."""
    instructor.user_permissions.add(
        Permission.objects.get(codename="view_message", content_type__app_label="courses")
    )
    return type(instructor).objects.get(pk=instructor.pk)


def test_an_instructor_with_the_outbox_sees_only_their_courses_messages(
    client, instructor_with_outbox
):
    """Instructors see only the courses they teach, and objects outside their
    scope answer 404. The outbox and a message's page read every message: an
    instructor given the outbox saw the names, addresses and texts of other
    instructors' participants."""
    own = CourseFactory(instructor=instructor_with_outbox)
    other = CourseFactory(instructor=UserFactory(username="toinen-ohjaaja"))
    mine = MessageFactory(course=own, customer=CustomerFactory(last_name="Omanen"))
    theirs = MessageFactory(course=other, customer=CustomerFactory(last_name="Vieraslainen"))
    client.force_login(instructor_with_outbox)
    outbox = client.get(reverse("courses:outbox")).content.decode()
    assert "Omanen" in outbox
    assert "Vieraslainen" not in outbox
    assert client.get(reverse("courses:message-detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("courses:message-detail", args=[theirs.pk])).status_code == 404


def test_staff_still_see_every_message(client, staff_member):
    message = MessageFactory(
        course=CourseFactory(instructor=UserFactory(username="joku-ohjaaja")),
        customer=CustomerFactory(last_name="Kaikkinen"),
    )
    client.force_login(staff_member)
    assert "Kaikkinen" in client.get(reverse("courses:outbox")).content.decode()
    assert client.get(reverse("courses:message-detail", args=[message.pk])).status_code == 200


# --- Two register managers switching automatic messages ------------------------


def test_two_register_managers_switching_automatic_messages_lose_nothing(client, register_manager):
    """The page of automatic messages in admin had no check of what the other
    saved: one register manager switched reminders off, another, from the
    page opened before, switched the cancellation messages off, and the
    reminders were on again without anyone knowing."""
    deputy = UserFactory(username="varavastaava", roles=[REGISTER_MANAGER], is_staff=True)
    TOTPDevice.objects.create(user=deputy, name="authenticator", confirmed=True)
    second = Client()
    second.force_login(deputy)
    client.force_login(register_manager)
    url = reverse("admin:courses_messagesettings_change", args=[1])

    def shown(page):
        form = page.context["adminform"].form
        data = {name: "on" for name in form.fields if name != "seen" and form[name].value()}
        if "seen" in form.fields:
            data["seen"] = form["seen"].value()
        return data

    first_page, second_page = shown(client.get(url)), shown(second.get(url))
    del first_page["reminder"]
    assert client.post(url, first_page).status_code == 302
    del second_page["enrollment_cancelled"]
    refused = second.post(url, second_page)
    assert refused.status_code == 200
    assert refused.context["adminform"].form.has_error("__all__", "changed_meanwhile")
    assert not MessageSettings.current().reminder
    assert MessageSettings.current().enrollment_cancelled

    again = shown(refused)
    assert "reminder" not in again  # the other's change is on the form
    assert second.post(url, again).status_code == 302
    current = MessageSettings.current()
    assert not current.reminder and not current.enrollment_cancelled


# --- Staff could link an edit to a data subject request ------------------------


def test_only_who_handles_requests_links_an_edit_to_one(client, staff_member, register_manager):
    """The edit form takes `?case=` (the register manager's "Korjaa tiedot"
    on a rectification request) and links the change to the request, whose
    page then shows it. Staff, who may not see requests, could link their
    edits to any request of the customer, and the form's hidden `case`
    told which numbers are rectification requests of that customer (that a
    person asked about their data is itself about them)."""
    customer = CustomerFactory(city="Joensuu")
    case = DataSubjectRequestFactory(customer=customer, kind="rectification")
    url = reverse("registry:customer-update", args=[customer.pk]) + f"?case={case.pk}"
    client.force_login(staff_member)
    form = opened(client, url)
    assert f'name="case" value="{case.pk}"' not in client.get(url).content.decode()
    assert client.post(url, {**submitted(form, city="Kuopio"), "case": case.pk}).status_code == 302
    change = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_CHANGED)
    assert "case_id" not in change.detail

    client.force_login(register_manager)
    form = opened(client, url)
    assert f'name="case" value="{case.pk}"' in client.get(url).content.decode()
    client.post(url, {**submitted(form, city="Liperi"), "case": case.pk})
    latest = AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_CHANGED).latest("id")
    assert latest.detail["case_id"] == case.pk


# --- Admin's page of one audit event showed a customer's data without a read ---


def test_admins_page_of_an_event_about_a_customer_is_a_read(
    client, register_manager, staff_member
):
    """Admin's audit trail shows each event's details: for a change of a
    customer, the old and new values (a former address). The register's own
    trail page is a read of the customers it names (fifth probe); admin's
    page of one event was none."""
    customer = CustomerFactory(street_address="Ensitie 1", postal_code="80100", city="Joensuu")
    customer_update(customer=customer, data={"street_address": "Toinentie 2"}, by=staff_member)
    change = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_CHANGED)
    client.force_login(register_manager)
    page = client.get(reverse("admin:registry_auditevent_change", args=[change.pk]))
    assert "Ensitie 1" in page.content.decode()
    read = reads_of(customer, register_manager).get()
    assert read.detail == {"via": "audit_event"}

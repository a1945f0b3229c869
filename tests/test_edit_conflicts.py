"""Two people edit the same record: the later save from an older form is
refused with what changed, and nothing is lost (registry.concurrency)."""

import datetime
import threading
from datetime import timedelta

import pytest
from django import forms
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from django_otp.plugins.otp_totp.models import TOTPDevice

from courses.models import Course
from registry.audit.models import AuditEvent
from registry.concurrency import EditConflict
from registry.forms import VersionField
from registry.models import Customer
from registry.rights.models import DataSubjectRequest
from registry.roles import INSTRUCTOR, REGISTER_MANAGER
from registry.services import customer_update

from .factories import (
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
    UserFactory,
)
from .test_roles import account_form_data


def submitted(form, **typed):
    """What a browser posts for `form` as it is shown, with `typed` on top."""
    data = {}
    for bound in form:
        value = bound.value()
        widget = bound.field.widget
        if isinstance(widget, forms.CheckboxInput):
            if value:
                data[bound.html_name] = "on"
            continue
        shown = widget.format_value("" if value is None else value)
        data[bound.html_name] = "" if shown is None else shown
    data.update(typed)
    return data


def opened(client, url):
    """The edit form as `client` sees it now."""
    response = client.get(url)
    assert response.status_code == 200
    return response.context["form"]


@pytest.fixture
def second_client(staff_member):
    other = Client()
    other.force_login(staff_member)
    return other


# --- Customers -------------------------------------------------------------


def test_the_issues_scenario_street_then_city_from_an_older_form(
    client, second_client, register_manager, staff_member
):
    customer = CustomerFactory(street_address="Vanhatie 1", city="Joensuu", postal_code="80100")
    url = reverse("registry:customer-update", args=[customer.pk])
    client.force_login(register_manager)
    first_form = opened(client, url)
    second_form = opened(second_client, url)

    saved = client.post(url, submitted(first_form, street_address="Uusitie 2"))
    assert saved.status_code == 302

    refused = second_client.post(url, submitted(second_form, city="Kuopio"))
    assert refused.status_code == 200
    customer.refresh_from_db()
    assert (customer.street_address, customer.city) == ("Uusitie 2", "Joensuu")
    body = refused.content.decode()
    assert 'id="edit-conflict"' in body
    assert "vastaava" in body  # who
    assert "Vanhatie 1 → Uusitie 2" in body  # what
    again = refused.context["form"]
    # The other person's street, this user's city, and the current version.
    assert again["street_address"].value() == "Uusitie 2"
    assert again["city"].value() == "Kuopio"
    assert customer.version == 2
    assert VersionField(record=customer).clean(again["version"].value()) == 2
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_CHANGED).count() == 1

    resaved = second_client.post(url, submitted(again))
    assert resaved.status_code == 302
    customer.refresh_from_db()
    assert (customer.street_address, customer.city) == ("Uusitie 2", "Kuopio")
    assert customer.version == 3


def test_when_both_changed_the_same_field_the_form_keeps_this_users_value(
    client, second_client, register_manager
):
    customer = CustomerFactory(city="Joensuu", postal_code="80100")
    url = reverse("registry:customer-update", args=[customer.pk])
    client.force_login(register_manager)
    first_form, second_form = opened(client, url), opened(second_client, url)
    client.post(url, submitted(first_form, city="Liperi"))
    refused = second_client.post(url, submitted(second_form, city="Kuopio"))
    assert "Joensuu → Liperi" in refused.content.decode()
    assert refused.context["form"]["city"].value() == "Kuopio"
    customer.refresh_from_db()
    assert customer.city == "Liperi"


def test_a_form_without_its_version_saves_nothing(client, staff_member):
    customer = CustomerFactory(city="Joensuu")
    url = reverse("registry:customer-update", args=[customer.pk])
    client.force_login(staff_member)
    data = submitted(opened(client, url), city="Kuopio")
    del data["version"]
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].has_error("__all__", "no_version")
    customer.refresh_from_db()
    assert customer.city == "Joensuu"


def test_the_service_refuses_a_stale_version_and_saves_nothing(staff_member):
    customer = CustomerFactory(city="Joensuu")
    customer_update(customer=customer, data={"city": "Liperi"}, by=staff_member, version=1)
    with pytest.raises(EditConflict) as refused, translation.override("en"):
        customer_update(customer=customer, data={"city": "Kuopio"}, by=staff_member, version=1)
    edit = refused.value.edits[0]
    assert (edit.who, edit.changes) == ("toimisto", [("City", "Joensuu", "Liperi")])
    assert refused.value.raw_changes == {"city": ["Joensuu", "Liperi"]}
    customer.refresh_from_db()
    assert (customer.city, customer.version) == ("Liperi", 2)


def test_a_merge_does_not_undo_an_edit_made_while_the_values_were_chosen(
    client, register_manager, staff_member
):
    keep = CustomerFactory(first_name="Aino", last_name="Esimerkki", city="Joensuu")
    other = CustomerFactory(first_name="Aino", last_name="Esimerkki", city="Liperi")
    client.force_login(register_manager)
    url = reverse("registry:customer-merge-confirm", args=[keep.pk, other.pk])
    chosen = submitted(opened(client, url), city="other")
    customer_update(customer=keep, data={"email": "uusi@example.invalid"}, by=staff_member)

    refused = client.post(url, chosen)
    assert refused.status_code == 200
    assert Customer.objects.filter(pk=other.pk).exists()
    body = refused.content.decode()
    assert 'id="edit-conflict"' in body and "uusi@example.invalid" in body
    again = refused.context["form"]
    assert again["city"].value() == "other"  # the user's choice is still ticked

    response = client.post(url, submitted(again))
    assert response.status_code == 302
    keep.refresh_from_db()
    assert (keep.email, keep.city) == ("uusi@example.invalid", "Liperi")
    assert not Customer.objects.filter(pk=other.pk).exists()


# --- Courses ---------------------------------------------------------------


def test_two_people_editing_a_course(client, second_client, register_manager):
    course = CourseFactory(
        title="Jooga",
        location="Sali 1",
        starts_at=timezone.now().replace(second=0, microsecond=0) + timedelta(days=7),
    )
    url = reverse("courses:course-update", args=[course.pk])
    client.force_login(register_manager)
    first_form, second_form = opened(client, url), opened(second_client, url)
    assert client.post(url, submitted(first_form, location="Sali 2")).status_code == 302

    refused = second_client.post(url, submitted(second_form, title="Jooga aloittelijoille"))
    assert refused.status_code == 200
    assert "Sali 1 → Sali 2" in refused.content.decode()
    course.refresh_from_db()
    assert (course.title, course.location) == ("Jooga", "Sali 2")

    assert second_client.post(url, submitted(refused.context["form"])).status_code == 302
    course.refresh_from_db()
    assert (course.title, course.location) == ("Jooga aloittelijoille", "Sali 2")
    # Saving the form unchanged changes nothing, not even the times.
    assert second_client.post(url, submitted(opened(second_client, url))).status_code == 302
    assert Course.objects.get(pk=course.pk).version == course.version


def test_attendance_marked_from_two_lists_keeps_both_marks(client, staff_member, instructor):
    """The office and the instructor mark the same session from lists opened
    at the same time: each keeps the other's marks."""
    course = CourseFactory(
        instructor=instructor,
        starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=1),
    )
    session = course.sessions.get()
    anna, ben = EnrollmentFactory.create_batch(2, course=course)
    shown = [f"{e.pk}:" for e in (anna, ben)]
    url = reverse("courses:roll-call", args=[course.pk, session.pk])
    client.force_login(staff_member)
    client.post(url, {"shown": shown, f"mark-{anna.pk}": "came"})
    # The instructor's list was opened before: Anna unmarked, as it was then.
    client.force_login(instructor)
    client.post(url, {"shown": shown, f"mark-{ben.pk}": "excused"})

    def marks():
        return dict(session.attendances.values_list("enrollment_id", "status"))

    assert marks() == {anna.pk: "came", ben.pk: "excused"}
    # Changing a mark the user saw does change it.
    client.post(
        url,
        {
            "shown": [f"{anna.pk}:came", f"{ben.pk}:excused"],
            f"mark-{anna.pk}": "absent",
            f"mark-{ben.pk}": "excused",
        },
    )
    assert marks() == {anna.pk: "absent", ben.pk: "excused"}


# --- Data subject requests -------------------------------------------------


def test_two_people_updating_a_request(client, register_manager):
    case = DataSubjectRequestFactory(
        received_on=datetime.date(2026, 11, 20), deadline=datetime.date(2026, 12, 20)
    )
    second = Client()
    second.force_login(register_manager)
    client.force_login(register_manager)
    url = reverse("registry:request-detail", args=[case.pk])
    first_form, second_form = opened(client, url), opened(second, url)
    extended = submitted(
        first_form, deadline="2027-01-20", extension_reason="Monta pyyntöä yhtä aikaa"
    )
    assert client.post(url, extended).status_code == 302

    refused = second.post(url, submitted(second_form, status="done", outcome="Raportti lähetetty"))
    assert refused.status_code == 200
    assert 'id="edit-conflict"' in refused.content.decode()
    case.refresh_from_db()
    assert (case.status, case.deadline) == ("open", datetime.date(2027, 1, 20))
    again = refused.context["form"]
    assert again["deadline"].value() == datetime.date(2027, 1, 20)
    assert again["status"].value() == "done"

    assert second.post(url, submitted(again)).status_code == 302
    case = DataSubjectRequest.objects.get(pk=case.pk)
    assert (case.status, case.outcome) == ("done", "Raportti lähetetty")
    assert case.deadline == datetime.date(2027, 1, 20)
    assert case.extension_reason == "Monta pyyntöä yhtä aikaa"


# --- Under real concurrency ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_saves_of_one_version_at_the_same_moment_one_is_refused():
    if connection.vendor != "postgresql":
        pytest.skip("Row locks are proven on PostgreSQL (CI runs this file on it).")
    staff = UserFactory(username="rinnakkain")
    customer = CustomerFactory(city="Joensuu")
    barrier = threading.Barrier(2)
    outcomes = []

    def save(city):
        barrier.wait()
        try:
            customer_update(customer=customer, data={"city": city}, by=staff, version=1)
            outcomes.append("saved")
        except EditConflict:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(city,)) for city in ("Liperi", "Kuopio")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "saved"]
    assert Customer.objects.get(pk=customer.pk).version == 2


def test_every_edit_page_carries_the_version_of_its_record(client, register_manager):
    customer, other = CustomerFactory.create_batch(2)
    case = DataSubjectRequestFactory(customer=customer)
    course = CourseFactory()
    client.force_login(register_manager)
    # The edit forms' version is signed with its record (the seventh probe).
    for url, record in {
        reverse("registry:customer-update", args=[customer.pk]): customer,
        reverse("courses:course-update", args=[course.pk]): course,
        reverse("registry:request-detail", args=[case.pk]): case,
    }.items():
        value = client.get(url).context["form"]["version"].value()
        assert VersionField(record=record).clean(value) == 1, url
    # So are the merge page's two versions, each with its own record.
    merge = client.get(
        reverse("registry:customer-merge-confirm", args=[customer.pk, other.pk])
    ).context["form"]
    for name, record in (("keep_version", customer), ("other_version", other)):
        assert VersionField(record=record).clean(merge[name].value()) == 1, name
        assert VersionField(record=record).clean("1") is None, name


def test_two_register_managers_editing_one_account(client, register_manager, staff_member):
    deputy = UserFactory(username="varavastaava", roles=[REGISTER_MANAGER], is_staff=True)
    TOTPDevice.objects.create(user=deputy, name="authenticator", confirmed=True)
    second = Client()
    second.force_login(deputy)
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    first_data = account_form_data(client, staff_member)
    second_data = account_form_data(second, staff_member)
    instructors = Group.objects.get(name=INSTRUCTOR)
    first_data["groups"] = [*first_data["groups"], instructors.pk]
    assert client.post(url, first_data).status_code == 302

    refused = second.post(url, {**second_data, "first_name": "Uusi"})
    assert refused.status_code == 200
    form = refused.context["adminform"].form
    assert form.has_error("__all__", "changed_meanwhile")
    staff_member.refresh_from_db()
    assert staff_member.groups.filter(pk=instructors.pk).exists()
    assert staff_member.first_name != "Uusi"

    again = dict(form.data.lists())
    assert str(instructors.pk) in again["groups"]  # their change is in the form
    assert again["first_name"] == ["Uusi"]  # and so is this user's
    assert second.post(url, again).status_code == 302
    staff_member.refresh_from_db()
    assert staff_member.first_name == "Uusi"
    assert staff_member.groups.filter(pk=instructors.pk).exists()

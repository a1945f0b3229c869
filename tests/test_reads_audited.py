"""Every page that shows a customer's data writes the read to the audit trail
(fourth probe: the consent form, the cancel page, the merge page's likely
duplicates, the request form, the erasure page and the retention list showed
names and addresses without a trace; one user read 300 names from the
consent form's heading unseen)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from courses.models import Enrollment
from registry.audit.models import AuditEvent
from registry.models import Customer

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory

pytestmark = pytest.mark.django_db


def viewed(by):
    return {
        (int(event.target_id), event.detail.get("via"))
        for event in AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_VIEWED, actor=by)
    }


def searched(by):
    return [
        (event.detail.get("via"), event.detail["rows"], event.detail["results"])
        for event in AuditEvent.objects.filter(
            action=AuditEvent.Action.CUSTOMER_SEARCHED, actor=by
        )
    ]


@pytest.mark.parametrize(
    ("name", "via"),
    [
        ("registry:consent-create", "consent"),
        ("registry:request-create", "request"),
        ("registry:customer-erase", "erase"),
    ],
)
def test_a_form_naming_the_customer_is_a_read(client, register_manager, name, via):
    customer = CustomerFactory()
    client.force_login(register_manager)
    response = client.get(reverse(name, args=[customer.pk]))
    assert response.status_code == 200 and customer.full_name in response.content.decode()
    assert viewed(register_manager) == {(customer.pk, via)}


def test_the_cancel_page_is_a_read_of_the_participant_and_the_next_in_line(client, staff_member):
    course = CourseFactory(capacity=1)
    leaving = EnrollmentFactory(course=course, status=Enrollment.Status.ENROLLED)
    waiting = EnrollmentFactory(course=course, status=Enrollment.Status.WAITLISTED)
    client.force_login(staff_member)
    url = reverse("courses:enrollment-cancel", args=[course.pk, leaving.pk])
    page = client.get(url).content.decode()
    assert leaving.customer.full_name in page and waiting.customer.full_name in page
    assert viewed(staff_member) == {
        (leaving.customer.pk, "cancel"),
        (waiting.customer.pk, "cancel"),
    }


def test_the_merge_pages_likely_duplicates_are_a_list_read(client, register_manager):
    customer = CustomerFactory(first_name="Aino", email="aino.kaksonen@example.invalid")
    twin = CustomerFactory(first_name="Aino", email="aino.kaksonen@example.invalid")
    client.force_login(register_manager)
    page = client.get(reverse("registry:customer-merge-pick", args=[customer.pk]))
    assert list(page.context["candidates"]) == [twin]
    assert searched(register_manager) == [("merge", 1, 1)]
    assert viewed(register_manager) == {(customer.pk, "merge")}


def test_the_retention_list_is_a_list_read(client, register_manager):
    old = CustomerFactory.create_batch(3)
    Customer.objects.filter(pk__in=[c.pk for c in old]).update(
        last_activity_at=timezone.now() - timedelta(days=4 * 365)
    )
    CustomerFactory()  # active: not listed
    client.force_login(register_manager)
    page = client.get(reverse("registry:retention"))
    assert len(page.context["candidates"]) == 3
    assert searched(register_manager) == [("retention", 3, 3)]

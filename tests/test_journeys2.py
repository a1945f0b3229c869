"""What the second walk through the user journeys (JOURNEYS.md) found in the
way of their users, each pinned: the customer's requests on their page, the
days a closed request took, the duplicate's edit link that keeps what was
typed, and demo data without activity in the future."""

import datetime
import re
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from registry.forms import VersionField
from registry.models import Customer

from .factories import CourseFactory, CustomerFactory, DataSubjectRequestFactory, EnrollmentFactory

pytestmark = pytest.mark.django_db


def days_ago(days):
    return timezone.localdate() - datetime.timedelta(days=days)


# --- 1. the customer's requests on the customer page ------------------------


def test_the_customer_page_lists_the_customers_requests_open_first(client, register_manager):
    """Journey 7: the register manager, on the customer's page, sees the
    requests the customer has made, the open ones first, each linked."""
    customer = CustomerFactory()
    done = DataSubjectRequestFactory(
        customer=customer,
        reference="DSR-DONE",
        received_on=days_ago(40),
        deadline=days_ago(10),
        status="done",
        completed_on=days_ago(37),
    )
    still_open = DataSubjectRequestFactory(
        customer=customer, reference="DSR-OPEN", kind="erasure", deadline=days_ago(-20)
    )
    DataSubjectRequestFactory(reference="DSR-OTHER")  # another customer's
    client.force_login(register_manager)
    page = client.get(customer.get_absolute_url()).content.decode()
    section = page[page.index('id="requests-heading"') :]
    assert f'href="{still_open.get_absolute_url()}">DSR-OPEN</a>' in section
    assert f'href="{done.get_absolute_url()}">DSR-DONE</a>' in section
    assert section.index("DSR-OPEN") < section.index("DSR-DONE")
    assert "Tietojen poistaminen" in section and "Valmis" in section
    assert "20 päivää jäljellä" in section
    assert "käsitelty 3 päivässä" in section
    assert "DSR-OTHER" not in page


def test_only_who_handles_requests_sees_them_on_the_customer_page(client, staff_member):
    customer = CustomerFactory()
    DataSubjectRequestFactory(customer=customer, reference="DSR-HIDDEN")
    client.force_login(staff_member)
    response = client.get(customer.get_absolute_url())
    assert response.status_code == 200
    assert "DSR-HIDDEN" not in response.content.decode()
    assert 'id="requests-heading"' not in response.content.decode()


def test_the_customer_page_reads_the_requests_in_one_query(client, register_manager):
    customer = CustomerFactory()
    client.force_login(register_manager)
    counts = []
    for more in (1, 9):
        DataSubjectRequestFactory.create_batch(more, customer=customer)
        with CaptureQueriesContext(connection) as queries:
            client.get(customer.get_absolute_url())
        counts.append(
            [q for q in queries.captured_queries if "registry_datasubjectrequest" in q["sql"]]
        )
    assert len(counts[0]) == len(counts[1]) == 1


# --- 2. the days a closed request took ----------------------------------------


def test_a_closed_request_says_how_many_days_it_took(client, register_manager):
    """Journey 7: "marks the request done: 3 days of the 30 used"."""
    case = DataSubjectRequestFactory(
        received_on=days_ago(10), status="done", completed_on=days_ago(7)
    )
    one_day = DataSubjectRequestFactory(
        received_on=days_ago(2), status="refused", completed_on=days_ago(1)
    )
    client.force_login(register_manager)
    detail = client.get(case.get_absolute_url()).content.decode()
    assert "käsitelty 3 päivässä" in detail
    assert "jäljellä" not in detail
    listing = client.get(reverse("registry:request-list")).content.decode()
    closed = listing[listing.index("Suljetut") :]
    assert "käsitelty 3 päivässä" in closed and "käsitelty 1 päivässä" in closed
    with translation.override("en"):
        assert "handled in 1 day" in render_to_string(
            "registry/_days_taken.html", {"case": one_day}
        )


def test_an_open_request_keeps_its_days_left(client, register_manager):
    case = DataSubjectRequestFactory(deadline=days_ago(-12))
    client.force_login(register_manager)
    detail = client.get(case.get_absolute_url()).content.decode()
    assert "12 päivää jäljellä" in detail
    assert "päivässä" not in detail


# --- 3. the duplicate's edit link keeps the typed contact details -------------


def new_customer(client, **data):
    token = client.get(reverse("registry:customer-create")).context["form"]["submission"].value()
    return client.post(
        reverse("registry:customer-create"),
        {
            "first_name": "Aino",
            "last_name": "Esimerkki",
            "email": "",
            "phone": "",
            "country": "FI",
            "source": "enrolment_or_purchase",
            "submission": token,
            **data,
        },
    )


def test_the_duplicates_edit_link_carries_the_typed_email_and_phone(client, staff_member):
    """Journey 2: the same phone, an old email; staff open that record to
    update it, and find the email they just typed already in the form."""
    existing = CustomerFactory(
        first_name="Aino", last_name="Esimerkki", phone="+358401234567", email="old@example.fi"
    )
    client.force_login(staff_member)
    response = new_customer(client, email="new@example.fi", phone="040 123 4567")
    page = response.content.decode()
    edit_url = re.escape(reverse("registry:customer-update", args=[existing.pk]))
    link = re.search(rf'href="({edit_url}\?[^"]*)"', page)
    assert link, page
    url = link[1].replace("&amp;", "&")
    edit = client.get(url)
    form = edit.context["form"]
    assert form["email"].value() == "new@example.fi"
    assert form["first_name"].value() == "Aino"
    assert 'value="new@example.fi"' in edit.content.decode()
    assert edit.context["typed_contact"]  # a note says so, above the form
    assert not client.get(reverse("registry:customer-update", args=[existing.pk])).context[
        "typed_contact"
    ]
    existing.refresh_from_db()
    assert existing.email == "old@example.fi"  # nothing saved by opening it


def test_the_edit_form_takes_contact_values_from_the_address_only_as_a_start(client, staff_member):
    """Read only on GET, only email and phone, only valid ones; saving is the
    user's POST, checked as always (the new email is a change, audited)."""
    existing = CustomerFactory(phone="+358401234567", email="old@example.fi", first_name="Aino")
    url = reverse("registry:customer-update", args=[existing.pk])
    client.force_login(staff_member)
    query = urlencode({"email": "not an email", "phone": "040 765 4321", "first_name": "Mallory"})
    form = client.get(f"{url}?{query}").context["form"]
    assert form["email"].value() == "old@example.fi"  # invalid: left out
    assert form["first_name"].value() == "Aino"  # not a contact value: ignored
    assert "765" in str(form["phone"].value())
    crafted = urlencode({"phone": "abc", "email": "x" * 250 + "@example.fi"})
    form = client.get(f"{url}?{crafted}").context["form"]
    assert str(form["phone"].value()) == "+358401234567"
    assert form["email"].value() == "old@example.fi"
    existing.refresh_from_db()
    assert str(existing.phone) == "+358401234567"
    # The POST to the same address (query kept) saves what is posted, and
    # tells the change as one: the form's starting values were the record's.
    data = {
        name: form[name].value() or ""
        for name in ("first_name", "last_name", "street_address", "postal_code", "city")
    }
    data.update(
        email="new@example.fi",
        phone="040 765 4321",
        country="FI",
        source=existing.source,
        version=VersionField.token(existing),
    )
    response = client.post(f"{url}?{urlencode({'email': 'x@example.fi'})}", data)
    assert response.status_code == 302, response.context["form"].errors
    existing.refresh_from_db()
    assert existing.email == "new@example.fi"
    assert str(existing.phone) == "+358407654321"


def test_the_duplicate_link_on_the_edit_form_carries_nothing(client, staff_member):
    """Only the new-customer form carries what was typed: from an edit, the
    other record is another person's until someone decides otherwise."""
    CustomerFactory(email="taken@example.fi")
    mine = CustomerFactory(email="mine@example.fi", phone="+358401111111")
    client.force_login(staff_member)
    url = reverse("registry:customer-update", args=[mine.pk])
    form = client.get(url).context["form"]
    data = {name: form[name].value() or "" for name in form.fields if name != "confirm_duplicate"}
    data.update(email="taken@example.fi", phone="040 111 1111")
    page = client.post(url, data).content.decode()
    assert 'id="duplicates"' in page
    assert "?email=" not in page


# --- 4. seed_demo: no activity in the future ------------------------------------


def test_seed_demo_dates_no_activity_after_now():
    call_command(
        "seed_demo", "--customers", "400", "--courses", "2", "--enrollments", "10", "--seed", "1"
    )
    now = timezone.now()
    assert not Customer.objects.filter(last_activity_at__gt=now).exists()
    assert not Customer.objects.filter(created_at__gt=now).exists()


def test_a_place_on_a_course_that_is_over_says_attended(client, staff_member):
    """JOURNEYS: a past course on the customer's page is one the customer
    took part in (*osallistui*), not one they are enrolled on; a coming
    course and a cancelled place keep their status."""
    customer = CustomerFactory()
    a_year_ago = timezone.now().replace(microsecond=0) - datetime.timedelta(days=365)
    past = CourseFactory(title="Syksyn jooga", starts_at=a_year_ago)
    coming = CourseFactory(title="Kevään jooga")
    cancelled = CourseFactory(title="Talven jooga", starts_at=a_year_ago)
    EnrollmentFactory(customer=customer, course=past)
    EnrollmentFactory(customer=customer, course=coming)
    EnrollmentFactory(customer=customer, course=cancelled, status="cancelled")
    client.force_login(staff_member)
    page = client.get(reverse("registry:customer-detail", args=[customer.pk])).content.decode()
    rows = {
        title: row
        for row in re.findall(r"<li class=\"list-group-item.*?</li>", page, re.S)
        for title in ("Syksyn jooga", "Kevään jooga", "Talven jooga")
        if title in row
    }
    assert "Osallistui" in rows["Syksyn jooga"] and "Ilmoittautunut" not in rows["Syksyn jooga"]
    assert "Ilmoittautunut" in rows["Kevään jooga"]
    assert "Peruttu" in rows["Talven jooga"]

"""Customer pages: who may use them, what they show, what they audit."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.audit.models import AuditEvent
from registry.audit.services import customer_viewed
from registry.forms import CustomerCreateForm, VersionField
from registry.models import Customer
from registry.views import CappedPaginator

from .factories import (
    ConsentFactory,
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
    MessageFactory,
)


@pytest.fixture
def customer(db):
    return CustomerFactory(first_name="Aino", last_name="Esimerkki", phone="+358401234567")


def customer_urls(customer):
    return [
        reverse("registry:customer-list"),
        reverse("registry:customer-create"),
        reverse("registry:customer-detail", args=[customer.pk]),
        reverse("registry:customer-update", args=[customer.pk]),
    ]


def test_anonymous_visitors_are_sent_to_login(client, customer):
    for url in customer_urls(customer):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_users_without_permission_get_403(client, customer, instructor, no_role_user):
    for user in (instructor, no_role_user):
        client.force_login(user)
        for url in customer_urls(customer):
            assert client.get(url).status_code == 403, (user, url)


def test_staff_and_register_manager_may_use_them(client, customer, staff_member, register_manager):
    for user in (staff_member, register_manager):
        client.force_login(user)
        for url in customer_urls(customer):
            response = client.get(url)
            assert response.status_code == 200, (user, url)
            assert "no-store" in response["Cache-Control"]


def test_a_customer_that_does_not_exist_is_404(client, staff_member):
    client.force_login(staff_member)
    assert client.get(reverse("registry:customer-detail", args=[999999])).status_code == 404


def test_viewing_a_customer_is_audited(client, staff_member, customer):
    client.force_login(staff_member)
    response = client.get(customer.get_absolute_url())
    assert "040 1234567" in response.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_VIEWED)
    assert (event.actor, event.target_id) == (staff_member, str(customer.pk))


def test_a_search_is_audited_with_its_result_count(client, staff_member, customer):
    client.force_login(staff_member)
    client.get(reverse("registry:customer-list"), {"q": "esimerkki"})
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_SEARCHED)
    assert event.detail == {
        "query": "esimerkki",
        "results": 1,
        "rows": 1,
        "filters": {"page": "1"},
    }
    # A list without search words shows customers too: it is audited as well.
    client.get(reverse("registry:customer-list"))
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_SEARCHED).count() == 2


def test_creating_a_customer_is_audited_without_personal_values(client, staff_member):
    client.force_login(staff_member)
    response = client.post(
        reverse("registry:customer-create"),
        {
            "first_name": "Väinö",
            "last_name": "Äijälä",
            "phone": "050 765 4321",
            "country": "FI",
            "source": "enrolment_or_purchase",
            "submission": CustomerCreateForm.new_token(),
        },
    )
    customer = Customer.objects.get()
    assert response.url == customer.get_absolute_url()
    assert str(customer.phone) == "+358507654321"
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_CREATED)
    assert event.target_id == str(customer.pk)
    assert event.detail == {"fields": ["first_name", "last_name", "phone", "country", "source"]}


def test_an_edit_is_audited_with_old_and_new_values(client, staff_member, customer):
    client.force_login(staff_member)
    url = reverse("registry:customer-update", args=[customer.pk])
    data = {
        "first_name": "Aino",
        "last_name": "Esimerkki-Mäki",
        "email": customer.email,
        "phone": "040 123 4567",
        "street_address": customer.street_address,
        "postal_code": customer.postal_code,
        "city": customer.city,
        "country": "FI",
        "source": customer.source,
        "version": VersionField.token(customer),
    }
    response = client.post(url, data)
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_CHANGED)
    assert event.detail == {
        "changes": {"last_name": ["Esimerkki", "Esimerkki-Mäki"]},
        "version": 2,
    }
    # Saving again without changes records nothing.
    data.update(
        last_name="Esimerkki-Mäki",
        version=VersionField.token(Customer.objects.get(pk=customer.pk)),
    )
    client.post(url, data)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_CHANGED).count() == 1


def test_bad_input_keeps_what_was_typed_and_saves_nothing(client, staff_member, customer):
    client.force_login(staff_member)
    url = reverse("registry:customer-update", args=[customer.pk])
    response = client.post(
        url,
        {
            "first_name": "Aino",
            "last_name": "Uusi-Sukunimi",
            "phone": "040 12",
            "country": "FI",
            "source": customer.source,
        },
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'value="040 12"' in body and 'value="Uusi-Sukunimi"' in body
    assert 'aria-invalid="true"' in body or "is-invalid" in body
    customer.refresh_from_db()
    assert customer.last_name == "Esimerkki"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_CHANGED).exists()


def test_creating_a_duplicate_shows_it_and_needs_confirmation(client, staff_member, customer):
    client.force_login(staff_member)
    data = {
        "first_name": "Aino",
        "last_name": "Uusi",
        "phone": "040 123 4567",
        "country": "FI",
        "source": "information_request",
        "submission": CustomerCreateForm.new_token(),
    }
    response = client.post(reverse("registry:customer-create"), data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    text = response.content.decode()
    assert customer.get_absolute_url() in text
    assert "same phone 040 1234567" in text  # which value matched
    assert 'name="confirm_duplicate"' in text
    assert Customer.objects.count() == 1
    response = client.post(
        reverse("registry:customer-create"), {**data, "confirm_duplicate": "on"}
    )
    assert response.status_code == 302
    assert Customer.objects.count() == 2


def test_only_the_register_manager_sees_the_records_audit_history(
    client, staff_member, register_manager, customer
):
    client.force_login(staff_member)
    assert "audit_events" not in client.get(customer.get_absolute_url()).context
    client.force_login(register_manager)
    response = client.get(customer.get_absolute_url())
    events = list(response.context["audit_events"])
    assert [e.actor for e in events] == [register_manager, staff_member]


def test_list_query_count_is_the_same_for_5_and_50_customers(client, staff_member):
    client.force_login(staff_member)
    counts = []
    for rows in (5, 45):
        CustomerFactory.create_batch(rows)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("registry:customer-list"))
        assert len(response.context["customers"]) == min(50, Customer.objects.count())
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_the_list_pages_by_fifty_and_keeps_the_search_in_page_links(client, staff_member):
    CustomerFactory.create_batch(55, city="Joensuu")
    client.force_login(staff_member)
    response = client.get(reverse("registry:customer-list"), {"city": "Joensuu"})
    assert len(response.context["customers"]) == 50
    assert "?city=Joensuu&amp;page=2" in response.content.decode()
    second = client.get(reverse("registry:customer-list"), {"city": "Joensuu", "page": 2})
    assert len(second.context["customers"]) == 5


def test_a_long_list_is_counted_only_up_to_the_cap(client, staff_member, monkeypatch):
    monkeypatch.setattr(CappedPaginator, "CAP", 3)
    CustomerFactory.create_batch(5)
    client.force_login(staff_member)
    response = client.get(reverse("registry:customer-list"))
    assert response.context["paginator"].capped
    assert "Yli 3 asiakasta" in response.content.decode()
    assert len(response.context["customers"]) == 4  # the capped count bounds the pages


def test_the_record_shows_its_latest_events_and_links_to_the_rest(
    client, register_manager, customer
):

    for _ in range(25):
        customer_viewed(customer=customer, by=register_manager, request=None)
    client.force_login(register_manager)
    response = client.get(customer.get_absolute_url())
    assert len(response.context["audit_events"]) == 20
    assert f"/audit/?customer={customer.pk}" in response.content.decode()


@pytest.mark.parametrize("sort", ["name", "added"])
def test_deep_pages_found_by_ids_first_hold_the_same_rows(client, staff_member, monkeypatch, sort):
    CustomerFactory.create_batch(60, city="Joensuu")
    client.force_login(staff_member)
    params = {"city": "Joensuu", "sort": sort, "page": 2}
    plain = client.get(reverse("registry:customer-list"), params).context["customers"]
    monkeypatch.setattr(CappedPaginator, "DEEP", 1)
    with CaptureQueriesContext(connection) as queries:
        deep = client.get(reverse("registry:customer-list"), params).context["customers"]
    assert [c.pk for c in deep] == [c.pk for c in plain] and len(deep) == 10
    assert any("IN (" in query["sql"] for query in queries.captured_queries)


def test_a_searchs_pages_are_found_by_ids_first_and_hold_the_matches_in_order(
    client, staff_member
):
    for number in range(55):
        CustomerFactory(last_name=f"Virtanen{number:02d}", first_name="Testi")
    CustomerFactory.create_batch(5, last_name="Aalto")  # sorts first, does not match
    client.force_login(staff_member)
    expected = list(
        Customer.objects.search("nen")
        .order_by("last_name", "first_name", "id")
        .values_list("pk", flat=True)
    )
    shown = []
    for page in (1, 2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("registry:customer-list"), {"q": "nen", "page": page})
        shown += [customer.pk for customer in response.context["customers"]]
        assert any("IN (" in query["sql"] for query in queries.captured_queries)
    assert shown == expected and len(shown) == 55


def test_a_new_customers_first_save_succeeds(client, staff_member):
    """How the relationship began is chosen to begin with, and the 'different
    person' box shows only when there is a possible duplicate."""
    client.force_login(staff_member)
    page = client.get(reverse("registry:customer-create")).content.decode()
    assert (
        'value="enrolment_or_purchase"' in page
        and "checked" in page.split('value="enrolment_or_purchase"')[1].split(">")[0]
    )
    assert 'name="confirm_duplicate"' not in page
    token = re.search(r'name="submission" value="([^"]+)"', page)[1]
    response = client.post(
        reverse("registry:customer-create"),
        {
            "first_name": "Uuno",
            "last_name": "Ensikertalainen",
            "phone": "040 765 4321",
            "country": "FI",
            "source": "enrolment_or_purchase",
            "submission": token,
        },
    )
    assert response.status_code == 302


def test_the_customer_page_asks_as_many_queries_for_one_of_each_as_for_ten(
    client, register_manager, staff_member
):
    """Every section (the ledger, courses, messages, the customer's data
    subject requests, the audit events, the coming courses to enrol on) in a
    fixed number of queries."""
    customer = CustomerFactory()
    client.force_login(register_manager)
    counts = []
    for more in (1, 9):
        for _ in range(more):
            ConsentFactory(customer=customer, recorded_by=staff_member)
            EnrollmentFactory(customer=customer, course=CourseFactory())
            MessageFactory(customer=customer)
            customer_viewed(customer=customer, by=staff_member, request=None)
            CourseFactory()  # one more to enrol on
            DataSubjectRequestFactory(customer=customer, handled_by=register_manager)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(customer.get_absolute_url())
        assert response.status_code == 200
        assert len(response.context["consent_history"]) == customer.consents.count()
        counts.append(len(queries.captured_queries))
    assert customer.enrollments.count() == 10
    assert counts[0] == counts[1]


def _counts(queries):
    """The counts of customers among the queries (not the cache's own)."""
    return [
        q["sql"]
        for q in queries.captured_queries
        if "COUNT(" in q["sql"].upper() and "registry_customer" in q["sql"]
    ]


@pytest.mark.django_db(transaction=True)
def test_the_count_of_a_list_without_search_words_is_kept_until_the_register_changes(
    client, staff_member
):
    first, *_ = CustomerFactory.create_batch(3, city="Joensuu", last_name="Virtanen")
    client.force_login(staff_member)
    url = reverse("registry:customer-list")
    assert client.get(url).context["paginator"].count == 3
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert again.context["paginator"].count == 3
    assert _counts(queries) == []  # found, not counted
    # in one read of the cache: the generation and the kept counts together
    assert len([q for q in queries.captured_queries if "balansia_cache" in q["sql"]]) == 1
    # A change of the register: counted afresh. (Named: a Faker surname may be
    # Virtanen, which the search below must not find.)
    CustomerFactory(
        city="Kitee", first_name="Kalle", last_name="Kiteeläinen", email="kalle@example.invalid"
    )
    assert client.get(url).context["paginator"].count == 4
    first.delete()  # an erasure too
    assert client.get(url).context["paginator"].count == 3
    # Each set of filters is its own count, and is kept too.
    assert client.get(url, {"city": "Kitee"}).context["paginator"].count == 1
    assert client.get(url, {"city": "Joensuu"}).context["paginator"].count == 2
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, {"city": "kitee"}).context["paginator"].count == 1
    assert len(_counts(queries)) == 1  # another spelling, another key: counted
    # A search is counted each time: its words are many and its matches few.
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, {"q": "Virtanen"}).context["paginator"].count == 2
        assert len(_counts(queries)) == 1


def test_the_list_writes_its_days_in_the_language_of_the_page(client, staff_member):
    customer = CustomerFactory()
    # 23:30 on 4 March in UTC is already 5 March in Joensuu.
    Customer.objects.filter(pk=customer.pk).update(
        created_at=datetime(2026, 3, 4, 23, 30, tzinfo=ZoneInfo("UTC"))
    )
    client.force_login(staff_member)
    url = reverse("registry:customer-list")
    for _ in range(2):  # the remembered day must not cross languages
        assert "5 Mar 2026" in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        finnish = client.get(url, HTTP_ACCEPT_LANGUAGE="fi").content.decode()
        assert "5.3.2026" in finnish and "5 Mar 2026" not in finnish

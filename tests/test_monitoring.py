"""The register manager's monitoring: audit trail, access review, alerts."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.db.models import QuerySet
from django.http import QueryDict
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry.accounts.selectors import unusual_activity
from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create, customer_viewed
from registry.models import RegisterExport
from registry.rights.erasure import customer_erase
from registry.rights.services import access_report_produced
from registry.services import customer_update

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_monitoring_pages_are_for_the_register_manager(
    client, staff_member, instructor, register_manager
):
    urls = [
        reverse("registry:audit-trail"),
        reverse("registry:audit-user", args=[staff_member.pk]),
        reverse("registry:audit-export"),
        reverse("registry:access-review"),
    ]
    for url in urls:
        assert client.get(url).url.startswith(reverse("login"))
        assert client.post(url).url.startswith(reverse("login"))
    for user in (staff_member, instructor):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403
            assert client.post(url).status_code in (403, 405)
    client.force_login(register_manager)
    for url in urls[:2] + urls[3:]:
        assert client.get(url).status_code == 200
    assert client.post(reverse("registry:audit-export")).status_code == 200


def test_who_viewed_a_customer_and_when(client, register_manager, staff_member, instructor):
    customer, other = CustomerFactory(), CustomerFactory()
    customer_viewed(customer=customer, by=staff_member, request=None)
    customer_viewed(customer=other, by=instructor, request=None)
    client.force_login(register_manager)
    response = client.get(reverse("registry:audit-trail"), {"customer": customer.pk})
    assert [(e.actor, e.action) for e in response.context["events"]] == [
        (staff_member, "customer_viewed")
    ]
    by_action = client.get(
        reverse("registry:audit-trail"), {"action": "customer_viewed", "user": instructor.pk}
    )
    assert [e.target_id for e in by_action.context["events"]] == [str(other.pk)]


def test_date_range_filter(client, register_manager, staff_member):
    old = audit_event_create(action="login", by=staff_member)
    # Age the event (the append-only queryset refuses updates, so go around it).
    QuerySet.update(AuditEvent.objects.filter(pk=old.pk), at=timezone.now() - timedelta(days=40))
    audit_event_create(action="logout", by=staff_member)
    client.force_login(register_manager)
    since = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.get(
        reverse("registry:audit-trail"), {"since": since, "user": staff_member.pk}
    )
    assert [e.action for e in response.context["events"]] == ["logout"]


def test_a_persons_activity_this_month(client, register_manager, staff_member):
    customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    response = client.get(reverse("registry:audit-user", args=[staff_member.pk]))
    assert response.context["person"] == staff_member
    assert {e.actor for e in response.context["events"]} == {staff_member}


def test_audit_trail_query_count_does_not_grow(client, register_manager):
    client.force_login(register_manager)
    counts = []
    for batch in (5, 60):
        for _ in range(batch):
            audit_event_create(action="login", by=UserFactory())
        # The newest event names an account, as the first page of both does.
        audit_event_create(action="login", by=register_manager, target=register_manager)
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("registry:audit-trail"))
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_the_export_of_the_audit_trail_is_itself_audited(client, register_manager, staff_member):
    customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    response = client.post(reverse("registry:audit-export") + f"?user={staff_member.pk}")
    rows = list(
        csv.reader(
            io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff")),
            delimiter=";",
        )
    )
    assert rows[0][:3] == ["time", "user", "action"]
    assert [row[2] for row in rows[1:]] == ["customer_viewed"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED)
    assert event.actor == register_manager and event.detail["rows"] == 1


def test_a_link_cannot_make_the_register_manager_export_the_trail(
    client, register_manager, staff_member
):
    """Only the page's POST form exports: a GET (a link, an image, a redirect
    from elsewhere) goes back to the filtered trail and asks for nothing, and
    a POST without the CSRF token is refused."""
    customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    response = client.get(reverse("registry:audit-export"), {"user": staff_member.pk})
    assert response.status_code == 302
    assert response.url == reverse("registry:audit-trail") + f"?user={staff_member.pk}"
    forged = Client(enforce_csrf_checks=True)
    forged.force_login(register_manager)
    assert forged.post(reverse("registry:audit-export")).status_code == 403
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED).exists()
    assert not RegisterExport.objects.exists()
    page = client.get(reverse("registry:audit-trail")).content.decode()
    assert 'method="post" id="audit-export"' in page and "csrfmiddlewaretoken" in page


def test_access_changes_in_admin_are_audited(client, register_manager, staff_member):
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {
        k: v
        for k, v in form.initial.items()
        if v is not None
        and k not in {"password", "user_permissions", "groups", "last_login", "date_joined"}
    }
    data.update(
        {
            "groups": [Group.objects.get(name="Rekisterivastaava").pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "security-TOTAL_FORMS": "0",
            "security-INITIAL_FORMS": "0",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else ""
    )
    event = AuditEvent.objects.get(action=AuditEvent.Action.ACCESS_CHANGED)
    assert event.actor == register_manager and event.target_id == str(staff_member.pk)
    assert (
        "groups" in str(event.detail["change"]).lower()
        or "ryhm" in str(event.detail["change"]).lower()
    )


def test_access_review_counts_views_and_exports(client, register_manager, staff_member):
    for _ in range(3):
        customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    audit_event_create(action="marketing_list_exported", by=staff_member, detail={"rows": 10})
    client.force_login(register_manager)
    accounts = {
        a.username: a for a in client.get(reverse("registry:access-review")).context["accounts"]
    }
    assert (accounts["toimisto"].customers_viewed, accounts["toimisto"].exports) == (3, 1)


def test_the_access_review_counts_the_customers_on_the_lists_one_saw(
    client, register_manager, staff_member, instructor
):
    """Records viewed: a page about one customer counts one (an access report
    too), a list the customers on it, every time it was shown: a page of the
    customer list, a course's participants, roll call. The audit of
    participant-list reads found a user who paged through a 1,000-person
    lecture counted as having viewed nothing."""
    course = CourseFactory(
        capacity=10, instructor=instructor, starts_at=timezone.now() - timedelta(hours=1)
    )
    EnrollmentFactory.create_batch(4, course=course)
    customer = CustomerFactory()
    customer_viewed(customer=customer, by=staff_member, request=None)
    access_report_produced(customer=customer, download=False, by=register_manager)
    old = audit_event_create(action="customer_searched", by=staff_member, detail={"rows": 50})
    QuerySet.update(AuditEvent.objects.filter(pk=old.pk), at=timezone.now() - timedelta(days=31))
    client.force_login(staff_member)
    client.get(reverse("registry:customer-list"))  # the five customers
    client.get(course.get_absolute_url())
    client.get(course.get_absolute_url())  # shown again: counted again
    client.force_login(instructor)
    client.get(reverse("courses:roll-call", args=[course.pk, course.sessions.get().pk]))
    client.force_login(register_manager)
    accounts = {
        a.username: a for a in client.get(reverse("registry:access-review")).context["accounts"]
    }
    assert accounts["toimisto"].customers_viewed == 1 + 5 + 4 + 4
    assert accounts["ohjaaja"].customers_viewed == 4
    assert accounts["vastaava"].customers_viewed == 1


def test_deactivating_asks_first_audits_and_can_be_undone(client, register_manager, staff_member):
    client.force_login(register_manager)
    url = reverse("registry:account-deactivate", args=[staff_member.pk])
    review = client.get(reverse("registry:access-review")).content.decode()
    assert f'href="{url}"' in review  # a link to a question, not a button that acts
    asked = client.get(url)
    assert asked.status_code == 200 and 'method="post"' in asked.content.decode()
    staff_member.refresh_from_db()
    assert staff_member.is_active  # asking changed nothing
    client.post(url)
    staff_member.refresh_from_db()
    assert not staff_member.is_active
    assert AuditEvent.objects.filter(
        action="account_deactivated", target_id=str(staff_member.pk)
    ).exists()
    client.post(reverse("registry:account-deactivate", args=[register_manager.pk]))
    register_manager.refresh_from_db()
    assert register_manager.is_active

    client.post(reverse("registry:account-reactivate", args=[staff_member.pk]))
    staff_member.refresh_from_db()
    assert staff_member.is_active
    assert AuditEvent.objects.filter(
        action="account_reactivated", actor=register_manager, target_id=str(staff_member.pk)
    ).exists()


def test_the_access_review_shows_dormant_accounts(client, register_manager, settings):
    settings.DORMANT_DAYS = 90
    long_gone = UserFactory(username="kesatyo", last_login=timezone.now() - timedelta(days=120))
    UserFactory(username="ahkera", last_login=timezone.now() - timedelta(days=5))
    client.force_login(register_manager)
    response = client.get(reverse("registry:access-review"))
    assert [account.username for account in response.context["dormant"]] == ["kesatyo"]
    assert reverse("registry:account-deactivate", args=[long_gone.pk]) in response.content.decode()


def test_dormant_accounts_command(capsys):
    summer = UserFactory(username="kesa", last_login=timezone.now() - timedelta(days=120))
    recent = UserFactory(username="ahkera", last_login=timezone.now() - timedelta(days=5))
    call_command("deactivate_dormant_users", "--days", "90", "--dry-run")
    assert "kesa" in capsys.readouterr().out
    summer.refresh_from_db()
    assert summer.is_active
    call_command("deactivate_dormant_users", "--days", "90")
    summer.refresh_from_db()
    recent.refresh_from_db()
    assert not summer.is_active and recent.is_active
    assert AuditEvent.objects.get(action="account_deactivated").detail == {
        "reason": "no login for 90 days"
    }


def test_the_dashboard_alerts_of_a_user_copying_the_register(
    client, register_manager, staff_member, settings
):
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 5
    audit_event_create(
        action="marketing_list_exported", by=staff_member, detail={"rows": 900, "purpose": "kevät"}
    )
    client.force_login(register_manager)
    body = client.get("/").content.decode()
    assert "border-danger" in body and "900" in body
    assert reverse("registry:audit-user", args=[staff_member.pk]) in body


def test_no_alert_below_the_threshold(client, register_manager, staff_member, settings):
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 5
    for _ in range(5):
        customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    assert "border-danger" not in client.get("/").content.decode()


def test_a_participant_list_counts_towards_the_alert_as_the_customer_list_does(
    client, register_manager, staff_member, settings
):
    """Each showing of a list counts the customers on it: a course's
    participants as a page of the customer list. A page shown again counts
    again, as a customer's page opened twice does: the alert counts records
    read, not different people."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 5
    course = CourseFactory()
    EnrollmentFactory.create_batch(3, course=course)
    client.force_login(staff_member)
    client.get(course.get_absolute_url())
    assert unusual_activity() == []
    client.get(course.get_absolute_url())
    assert [(a["username"], a["records"]) for a in unusual_activity()] == [("toimisto", 6)]
    client.get(reverse("registry:customer-list"))  # the same three
    assert [(a["username"], a["records"]) for a in unusual_activity()] == [("toimisto", 9)]
    client.force_login(register_manager)
    body = client.get("/").content.decode()
    assert reverse("registry:audit-user", args=[staff_member.pk]) in body


def test_an_access_report_download_counts_as_one_record(register_manager, settings):
    """An export without a row count (one customer's access report) is one
    record, not none."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 1
    customer = CustomerFactory()
    access_report_produced(customer=customer, download=True, by=register_manager)
    customer_viewed(customer=customer, by=register_manager, request=None)
    assert [a["records"] for a in unusual_activity()] == [2]


def test_the_trail_says_how_many_customers_a_list_showed(client, register_manager, staff_member):
    """The alert links to the user's trail: each list read there says how
    many customers it showed, so the hour's count can be checked."""
    course = CourseFactory()
    EnrollmentFactory.create_batch(3, course=course)
    client.force_login(staff_member)
    client.get(course.get_absolute_url())
    client.get(reverse("registry:customer-list"))
    client.force_login(register_manager)
    page = client.get(
        reverse("registry:audit-user", args=[staff_member.pk]), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert page.content.decode().count("3 customers shown") == 2


def test_an_invalid_filter_is_ignored_and_shown_the_others_still_apply(
    client, register_manager, staff_member
):
    """A date no calendar has (or one beyond year 9998) is an error beside its
    field; the person's page still shows only that person."""
    audit_event_create(action="login", by=staff_member)
    audit_event_create(action="login", by=register_manager)
    client.force_login(register_manager)
    url = reverse("registry:audit-user", args=[staff_member.pk])
    for since in ("2026-13-45", "0001-01-01", "9999-12-31"):
        response = client.get(url, {"since": since, "until": "9999-12-31"})
        assert response.status_code == 200
        assert {e.actor for e in response.context["events"]} == {staff_member}
        assert response.context["form"].errors["until"]


def test_page_links_and_the_csv_keep_the_valid_filters(client, register_manager, staff_member):
    """On a person's page, the CSV link exports that person's events."""
    client.force_login(register_manager)
    response = client.get(
        reverse("registry:audit-user", args=[staff_member.pk]),
        {"action": "login", "customer": "abc", "until": "2026-13-45"},
    )
    kept = QueryDict(response.context["query_string"])
    assert kept["user"] == str(staff_member.pk) and kept["action"] == "login"
    assert "customer" not in kept and "until" not in kept
    assert reverse("registry:audit-export") + "?" + response.context["query_string"] in (
        response.content.decode().replace("&amp;", "&")
    )


def test_the_trail_names_what_each_event_was_about(client, register_manager, staff_member):
    """Names and links, not `registry.customer #41`; an erased customer is said
    to be erased, with the reference of the erasure."""
    kept = CustomerFactory(first_name="Aino", last_name="Näkyvä")
    erased = CustomerFactory(first_name="Eero", last_name="Poistuva")
    course = CourseFactory(title="Hathajooga syksy")
    customer_viewed(customer=kept, by=staff_member, request=None)
    customer_viewed(customer=erased, by=staff_member, request=None)
    audit_event_create(action="course_changed", by=staff_member, target=course)
    audit_event_create(action="account_deactivated", by=register_manager, target=staff_member)
    reference = customer_erase(customer=erased, by=register_manager)
    client.force_login(register_manager)
    page = client.get(reverse("registry:audit-trail"), HTTP_ACCEPT_LANGUAGE="en")
    text = page.content.decode()
    assert f'<a href="{kept.get_absolute_url()}">Aino Näkyvä</a>' in text
    assert f"erased customer ({reference})" in text
    assert "Poistuva" not in text
    assert f'<a href="{course.get_absolute_url()}">Hathajooga syksy' in text
    assert reverse("registry:audit-user", args=[staff_member.pk]) in text
    assert "registry.customer #" not in text and "courses.course #" not in text


def test_naming_the_targets_costs_the_same_for_many_events(client, register_manager):
    client.force_login(register_manager)
    counts = []
    for batch in (3, 30):
        for _ in range(batch):
            audit_event_create(
                action="customer_viewed", by=register_manager, target=CustomerFactory()
            )
            audit_event_create(
                action="course_changed", by=register_manager, target=CourseFactory()
            )
        # The newest events name an account too, as the first page of both does.
        audit_event_create(action="account_deactivated", by=register_manager, target=UserFactory())
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("registry:audit-trail"))
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_changed_fields_are_named_in_words(client, register_manager, staff_member):
    customer = CustomerFactory(city="Kuopio")
    customer_update(customer=customer, data={"city": "Lieksa"}, by=staff_member)
    client.force_login(register_manager)
    page = client.get(reverse("registry:audit-trail"), HTTP_ACCEPT_LANGUAGE="en")
    assert "City: Kuopio → Lieksa" in page.content.decode()

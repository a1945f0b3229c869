"""The role a handler had when they did something (AuditEvent.actor_role,
Consent.recorded_by_role): asked once per user, and told from today's role
for what was recorded before the columns (migration 0014)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from registry.accounts.lock import AccountLockBackend
from registry.audit.models import AuditEvent
from registry.models import ConsentText
from registry.rights.erasure import customers_erase
from registry.rights.selectors import access_report
from registry.roles import REGISTER_MANAGER, RoleCode, role_code
from registry.services import consent_record

from .factories import ConsentFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def groups_queries(queries):
    """The queries asking a user's groups' names (role_code), not their
    permissions (Django's ModelBackend, through the same table)."""
    return [q["sql"] for q in queries.captured_queries if '"auth_group"."name"' in q["sql"]]


def test_a_user_writing_many_events_is_asked_their_role_once(register_manager):
    """Review finding: every event asked the database for the actor's groups,
    so erasing five customers asked five times and a consent twice."""
    customers = CustomerFactory.create_batch(5)
    with CaptureQueriesContext(connection) as queries:
        customers_erase(customers=customers, by=register_manager)
    erased = AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_ERASED)
    assert {event.actor_role for event in erased} == {"register_manager"}
    assert erased.count() == 5
    assert len(groups_queries(queries)) == 1


def test_a_consent_and_its_event_ask_the_role_once(staff_member):
    customer = CustomerFactory()
    with CaptureQueriesContext(connection) as queries:
        consent = consent_record(
            customer=customer,
            channel="email",
            event="given",
            method="in_person",
            text=ConsentText.objects.filter(channel="email").first(),
            by=staff_member,
        )
    event = AuditEvent.objects.get(action=AuditEvent.Action.CONSENT_RECORDED)
    assert consent.recorded_by_role == event.actor_role == "staff"
    assert len(groups_queries(queries)) == 1


def test_what_was_recorded_before_roles_were_kept_is_told_by_todays_role(staff_member):
    """Rows from before migration 0014 have no role: the report tells the
    handler's role of today (the only one known), not nothing."""
    customer = CustomerFactory()
    AuditEvent.objects.create(
        actor=staff_member,
        action=AuditEvent.Action.CUSTOMER_VIEWED,
        target_type="registry.customer",
        target_id=str(customer.pk),
    )
    ConsentFactory(customer=customer, recorded_by=staff_member, recorded_by_role="")
    staff_member.groups.set([Group.objects.get(name=REGISTER_MANAGER)])

    report = access_report(customer)

    assert [(e["action"], e["role"]) for e in report["processing"]] == [
        ("customer_viewed", "register_manager")
    ]
    assert report["consents"][0]["recorded_by"] == "register_manager"


@pytest.mark.parametrize(
    ("persona", "role"),
    [
        ("staff_member", "staff"),
        ("register_manager", "register_manager"),
        ("instructor", "instructor"),
    ],
)
def test_a_page_asks_the_role_at_most_once(client, request, persona, role):
    """Asked when recorded (an audited read) or, for a user without a second
    factor, by the two-factor check; once, however often it is needed."""
    user = request.getfixturevalue(persona)
    client.force_login(user)
    customer = CustomerFactory()
    for path in ("/privacy/", "/courses/", f"/customers/{customer.pk}/"):
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        assert len(groups_queries(queries)) <= 1, path
    loaded = AccountLockBackend().get_user(user.pk)
    with CaptureQueriesContext(connection) as queries:
        assert role_code(loaded) == role
        assert role_code(loaded) == role
    assert len(groups_queries(queries)) == 1


def test_a_page_that_records_nothing_does_not_ask_the_role(client, register_manager):
    """Read with the logged-in user (one EXISTS per group), the role cost every
    page 4 ms of building that query (docs/benchmarks.md): now a page asks it
    only when it records it, or for the two-factor check of a user without a
    device. The register manager has passed the second factor."""
    client.force_login(register_manager)
    for path in ("/privacy/", "/courses/"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(path).status_code == 200
        assert groups_queries(queries) == []
    customer = CustomerFactory()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/customers/{customer.pk}/").status_code == 200
    assert len(groups_queries(queries)) == 1
    viewed = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_VIEWED)
    assert viewed.actor_role == "register_manager"


def test_a_page_records_the_role_the_user_has_now(client, staff_member):
    """A role changed during a session is the one the next page records."""
    client.force_login(staff_member)
    customer = CustomerFactory()
    client.get(f"/customers/{customer.pk}/")
    # Out of the office's group, the one permission given to the account alone.
    staff_member.groups.clear()
    staff_member.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.get(f"/customers/{customer.pk}/")
    roles = list(
        AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_VIEWED)
        .order_by("id")
        .values_list("actor_role", flat=True)
    )
    assert roles == ["staff", "user"]


def test_admin_shows_the_role_by_its_name(client, register_manager, staff_member):
    """The role columns have choices: admin shows "Toimisto", not the code."""
    customer = CustomerFactory()
    consent = ConsentFactory(customer=customer, recorded_by=staff_member)
    event = AuditEvent.objects.create(
        actor=staff_member,
        actor_role=role_code(staff_member),
        action=AuditEvent.Action.CUSTOMER_VIEWED,
        target_type="registry.customer",
        target_id=str(customer.pk),
    )
    client.force_login(register_manager)
    for page in (
        client.get(reverse("admin:registry_auditevent_change", args=[event.pk])),
        client.get(reverse("admin:registry_consent_change", args=[consent.pk])),
    ):
        assert page.status_code == 200
        shown = page.content.decode()
        assert '<div class="readonly">Toimisto</div>' in shown
        assert '<div class="readonly">staff</div>' not in shown


def test_a_role_is_told_in_the_interface_language():
    event = AuditEvent(actor_role=RoleCode.REGISTER_MANAGER)
    consent = ConsentFactory.build(recorded_by_role=RoleCode.INSTRUCTOR)
    with translation.override("fi"):
        assert event.get_actor_role_display() == "Rekisteristä vastaava henkilö"
        assert consent.get_recorded_by_role_display() == "Ohjaaja"
    with translation.override("en"):
        assert event.get_actor_role_display() == "Register manager"
    # The register's own work has no role and no name.
    assert AuditEvent(actor_role="").get_actor_role_display() == ""

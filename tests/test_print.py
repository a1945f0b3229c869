"""No paper printouts (the privacy notice, "Protection of the register"):
printing a page of a logged-in user, ours or Django admin's, gives only a
sentence saying why; the public notice and the login page print as they are."""

import re

import pytest
from axes.models import AccessAttempt
from django.templatetags.static import static
from django.urls import reverse
from playwright.sync_api import expect

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.services import customer_update

from .factories import ConsentFactory, CustomerFactory

PRINT_CSS = static("css/print.css")
NOTICE_FI = "Tulostaminen ei ole sallittua"
NOTICE_EN = "Printing is not allowed"


def body_classes(response):
    match = re.search(r"<body\b[^>]*?\bclass=\"([^\"]*)\"", response.content.decode())
    return set(match.group(1).split()) if match else set()


def assert_does_not_print(response):
    assert response.status_code == 200
    html = response.content.decode()
    assert "no-print" in body_classes(response)
    assert f'<link rel="stylesheet" href="{PRINT_CSS}">' in html
    assert NOTICE_FI in html


@pytest.fixture
def admin_pages(db, staff_member, client):
    """The admin pages that show personal data, by name: (url, admin's own body classes)."""
    consent = ConsentFactory(recorded_by=staff_member)
    event = audit_event_create(
        action=AuditEvent.Action.CUSTOMER_VIEWED, by=staff_member, target=consent.customer
    )
    # A failed login leaves an attempt in django-axes' log.
    client.post(reverse("login"), {"username": "ei-ole", "password": "väärä-salasana"})
    attempt = AccessAttempt.objects.get()
    return {
        "consent": (
            reverse("admin:registry_consent_change", args=[consent.pk]),
            {"app-registry", "model-consent", "change-form"},
        ),
        "audit event": (
            reverse("admin:registry_auditevent_change", args=[event.pk]),
            {"app-registry", "model-auditevent", "change-form"},
        ),
        "user": (
            reverse("admin:auth_user_change", args=[staff_member.pk]),
            {"app-auth", "model-user", "change-form"},
        ),
        "login attempt": (
            reverse("admin:axes_accessattempt_change", args=[attempt.pk]),
            {"app-axes", "model-accessattempt", "change-form"},
        ),
        "audit trail list": (
            reverse("admin:registry_auditevent_changelist"),
            {"app-registry", "model-auditevent", "change-list"},
        ),
        "index": (reverse("admin:index"), {"dashboard"}),
        "user history": (
            reverse("admin:auth_user_history", args=[staff_member.pk]),
            set(),
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "consent",
        "audit event",
        "user",
        "login attempt",
        "audit trail list",
        "index",
        "user history",
    ],
)
def test_admin_pages_do_not_print_and_keep_admins_own_body_classes(
    client, register_manager, admin_pages, name
):
    url, admin_classes = admin_pages[name]
    client.force_login(register_manager)
    page = client.get(url)
    assert_does_not_print(page)
    assert admin_classes <= body_classes(page)
    # The header the project sets stays (registry/admin.py).
    assert "Asiakasrekisteri: ylläpito" in page.content.decode()


def test_the_customer_page_does_not_print(client, staff_member):
    customer = CustomerFactory()
    client.force_login(staff_member)
    assert_does_not_print(client.get(customer.get_absolute_url()))


@pytest.mark.django_db
def test_public_pages_print_for_an_anonymous_visitor(client):
    for url in (reverse("home"), reverse("privacy-notice"), reverse("login")):
        page = client.get(url)
        assert page.status_code == 200
        assert "no-print" not in body_classes(page), url


def test_the_privacy_notice_prints_for_a_logged_in_user_too(client, staff_member):
    """Staff may print the public notice to hand it to a customer at the counter."""
    client.force_login(staff_member)
    page = client.get(reverse("privacy-notice"))
    assert page.status_code == 200
    assert "no-print" not in body_classes(page)


def test_backup_codes_do_not_print(client, staff_member):
    """The page says: not on paper next to the computer."""
    client.force_login(staff_member)
    page = client.get(reverse("two-factor-setup"))
    assert page.status_code == 200
    assert "no-print" in body_classes(page)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_printing_shows_no_name_on_the_customer_page_nor_in_admin(
    page, live_server, log_in, staff_member, register_manager
):
    customer = CustomerFactory(first_name="Elina", last_name="Mäki-Petäjä")
    customer_update(customer=customer, data={"last_name": "Mäki-Korhonen"}, by=staff_member)
    event = AuditEvent.objects.get(action="customer_changed")
    body = page.locator("body")

    log_in(page, register_manager)
    page.goto(live_server.url + customer.get_absolute_url())
    expect(page.get_by_role("heading", name="Elina Mäki-Korhonen")).to_be_visible()
    expect(page.get_by_text(NOTICE_FI)).to_be_hidden()
    page.emulate_media(media="print")
    expect(page.get_by_role("heading", name="Elina Mäki-Korhonen")).to_be_hidden()
    expect(body).not_to_contain_text("Mäki-Korhonen", use_inner_text=True)
    expect(page.get_by_text(NOTICE_FI)).to_be_visible()

    # Admin's audit event: the old and new surname are in its detail.
    page.emulate_media(media="screen")
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(live_server.url + reverse("admin:registry_auditevent_change", args=[event.pk]))
    expect(body).to_contain_text("Mäki-Petäjä", use_inner_text=True)
    expect(page.get_by_text(NOTICE_EN)).to_be_hidden()
    page.emulate_media(media="print")
    expect(body).not_to_contain_text("Mäki-Petäjä", use_inner_text=True)
    expect(body).not_to_contain_text("Mäki-Korhonen", use_inner_text=True)
    expect(page.get_by_text(NOTICE_EN)).to_be_visible()

    # The public notice prints.
    page.goto(live_server.url + reverse("privacy-notice"))
    expect(page.get_by_role("heading", name="Privacy notice", exact=True)).to_be_visible()
    expect(page.get_by_text(NOTICE_EN)).to_be_hidden()

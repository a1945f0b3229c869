"""Sensitive actions ask for the password again after REAUTH_MINUTES."""

from urllib.parse import quote

import pytest
from django.urls import reverse

from registry.accounts.reauth import SESSION_KEY
from registry.audit.models import AuditEvent

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db


def make_stale(client):
    session = client.session
    session[SESSION_KEY] = 0  # authenticated long ago
    session.save()


@pytest.mark.parametrize(
    "url_name",
    [
        "registry:marketing-list",
        "registry:retention",
        "registry:audit-export",
        "admin:auth_user_add",
    ],
)
def test_a_stale_login_is_asked_to_confirm_the_password(client, register_manager, url_name):
    client.force_login(register_manager)
    make_stale(client)
    response = client.get(reverse(url_name))
    assert response.url.startswith(reverse("reauthenticate"))


def test_erasure_and_deactivation_with_a_stale_login_do_nothing(
    client, register_manager, staff_member, password
):
    customer = CustomerFactory()
    client.force_login(register_manager)
    make_stale(client)
    client.post(
        reverse("registry:customer-erase", args=[customer.pk]),
        {"password": password, "confirmation": "POISTA"},
    )
    client.post(reverse("registry:account-deactivate", args=[staff_member.pk]))
    customer.refresh_from_db()
    staff_member.refresh_from_db()
    assert staff_member.is_active


def test_setting_someone_elses_password_needs_a_fresh_confirmation(
    client, register_manager, staff_member, password
):
    client.force_login(register_manager)
    make_stale(client)
    url = reverse("admin:auth_user_password_change", args=[staff_member.pk])
    assert client.get(url).url.startswith(reverse("reauthenticate"))
    chosen = "Kuusi-hyppää-aidan-yli-7"
    response = client.post(
        url, {"usable_password": "true", "password1": chosen, "password2": chosen}
    )
    assert response.url.startswith(reverse("reauthenticate"))
    staff_member.refresh_from_db()
    assert staff_member.check_password(password)


def test_confirming_the_password_returns_to_the_action(client, register_manager, password):
    client.force_login(register_manager)
    make_stale(client)
    wrong = client.post(
        reverse("reauthenticate"), {"password": "väärä-salasana", "next": "/marketing/"}
    )
    assert "password" in wrong.context["form"].errors
    assert AuditEvent.objects.filter(
        action="login_failed", detail__during="reauthentication"
    ).exists()
    right = client.post(reverse("reauthenticate"), {"password": password, "next": "/marketing/"})
    assert right.url == "/marketing/"
    assert client.get("/marketing/").status_code == 200


def test_the_next_address_must_be_our_own(client, register_manager, password):
    client.force_login(register_manager)
    response = client.post(
        reverse("reauthenticate"), {"password": password, "next": "https://example.invalid/"}
    )
    assert response.url == reverse("home")


def test_guessing_the_password_at_the_confirmation_ends_the_session(
    client, register_manager, password, settings
):
    """Wrong passwords here count as failed logins: at AXES_FAILURE_LIMIT the
    session ends, and even the right password is refused like a locked login."""
    client.force_login(register_manager)
    make_stale(client)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        wrong = client.post(reverse("reauthenticate"), {"password": "väärä-salasana"})
        assert wrong.status_code == 200 and "password" in wrong.context["form"].errors
    locked = client.post(reverse("reauthenticate"), {"password": "väärä-salasana"})
    assert locked.status_code == 429
    assert "Kirjautuminen on tilapäisesti lukittu" in locked.content.decode()

    right = client.post(reverse("reauthenticate"), {"password": password, "next": "/marketing/"})
    assert right.url.startswith(reverse("login"))
    assert client.get("/marketing/").url.startswith(reverse("login"))
    assert (
        client.post(reverse("login"), {"username": "vastaava", "password": password}).status_code
        == 429
    )
    failures = AuditEvent.objects.filter(
        action="login_failed", actor=register_manager, detail__during="reauthentication"
    )
    assert failures.count() == settings.AXES_FAILURE_LIMIT
    assert AuditEvent.objects.filter(action="lockout", target_id=str(register_manager.pk)).exists()


def test_the_erasure_password_counts_as_a_failed_login_too(client, register_manager, settings):
    customer = CustomerFactory()
    client.force_login(register_manager)
    url = reverse("registry:customer-erase", args=[customer.pk])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(url, {"password": "väärä-salasana", "confirmation": "POISTA"})
    assert response.status_code == 429
    assert client.get(url).url.startswith(reverse("login"))


def test_an_export_asked_with_a_stale_login_is_asked_again_after_confirming(
    client, register_manager, staff_member, password
):
    """The POST is refused; confirming leads back to the filtered trail (the
    export's address, with its filters, answers a GET there), where the
    button asks again."""
    client.force_login(register_manager)
    make_stale(client)
    url = reverse("registry:audit-export") + f"?user={staff_member.pk}"
    refused = client.post(url)
    assert refused.url == reverse("reauthenticate") + "?next=" + quote(url, safe="")
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED).exists()
    confirmed = client.post(reverse("reauthenticate"), {"password": password, "next": url})
    assert confirmed.url == url
    back = client.get(confirmed.url)
    assert back.url == reverse("registry:audit-trail") + f"?user={staff_member.pk}"
    assert client.post(url).status_code == 200
    assert AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED).exists()

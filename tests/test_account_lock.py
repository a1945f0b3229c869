"""The lock of an account's password logins after guessing from many addresses."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import QuerySet
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import balansia.settings
from registry.accounts.models import AccountSecurity
from registry.audit.models import AuditEvent

from .htmlforms import form_data

pytestmark = pytest.mark.django_db

WRONG = "väärä-salasana-123"


@pytest.fixture(autouse=True)
def _lock_limit(settings):
    # Fewer than the default 20, for speed (each guess costs an Argon2 hash),
    # but more than django-axes' limit of 5: only the account lock can stop these.
    settings.ACCOUNT_LOCK_FAILURES = settings.AXES_FAILURE_LIMIT + 1


def attempt(username, password, n):
    """A login from a fresh browser at its own address: django-axes, which locks
    per address and per user name with one browser, never sees a repeat."""
    return Client().post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=f"10.0.{n // 250}.{n % 250 + 1}",
        HTTP_USER_AGENT=f"botti/{n}",
    )


def guess(username, times, start=0):
    for n in range(start, start + times):
        assert attempt(username, WRONG, n).status_code == 200


def test_many_addresses_lock_the_account(staff_member, password, settings):
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES)
    refused = attempt("toimisto", password, 999)
    assert refused.status_code == 200
    assert not refused.context["user"].is_authenticated
    assert AccountSecurity.objects.get(user=staff_member).login_locked_at is not None
    locked = AuditEvent.objects.filter(action="account_locked")
    assert [(e.target_id, e.actor) for e in locked] == [(str(staff_member.pk), None)]


def test_below_the_limit_the_right_password_still_works(staff_member, password, settings):
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES - 1)
    assert attempt("toimisto", password, 999).status_code == 302


def test_failures_older_than_the_window_do_not_count(staff_member, password, settings):
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES - 1)
    old = timezone.now() - timedelta(minutes=settings.ACCOUNT_LOCK_WINDOW_MINUTES + 1)
    # The trail is append-only; age its rows around the queryset's refusal.
    QuerySet.update(AuditEvent.objects.filter(action="login_failed"), at=old)
    guess("toimisto", 1, start=500)
    assert attempt("toimisto", password, 999).status_code == 302


def test_a_locked_account_answers_as_an_unknown_user_name(staff_member, password, settings):
    """The lock must not tell an outsider that the account exists."""
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES)
    locked = attempt("toimisto", password, 998)
    unknown = attempt("ei-ketaan", password, 999)
    assert locked.status_code == unknown.status_code == 200
    assert locked.context["form"].errors == unknown.context["form"].errors

    def page(response, username):
        body = response.content.decode().replace(str(response.context["csrf_token"]), "")
        return body.replace(username, "NIMI")

    assert page(locked, "toimisto") == page(unknown, "ei-ketaan")
    assert AuditEvent.objects.filter(action="account_locked").count() == 1


def test_the_dashboard_tells_the_register_manager(
    client, staff_member, register_manager, settings
):
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES)
    client.force_login(register_manager)
    body = client.get("/").content.decode()
    assert 'id="locked-accounts"' in body
    assert reverse("admin:auth_user_change", args=[staff_member.pk]) in body


def test_the_register_manager_lifts_the_lock_in_admin(
    client, staff_member, register_manager, password, settings
):
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES)
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    page = client.get(url)
    assert 'name="security-0-lift_lock"' in page.content.decode()
    # What a browser posts: the rendered form, with the box ticked.
    data = form_data(page.content.decode(), "user_form", **{"security-0-lift_lock": "on"})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert AccountSecurity.objects.get(user=staff_member).login_locked_at is None
    lifted = AuditEvent.objects.get(action="account_unlocked")
    assert lifted.actor == register_manager and lifted.target_id == str(staff_member.pk)
    assert 'id="locked-accounts"' not in client.get("/").content.decode()
    # The failures before the lift do not lock the account again at once.
    guess("toimisto", 1, start=700)
    assert attempt("toimisto", password, 999).status_code == 302


def test_a_locked_user_confirming_their_password_is_told_why(
    client, staff_member, password, settings
):
    client.force_login(staff_member)
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES)
    response = client.post(reverse("reauthenticate"), {"password": password})
    assert response.status_code == 200
    assert "lukittu" in str(response.context["form"].errors["password"])


def test_the_limit_is_twenty_failures_an_hour_unless_set():
    assert balansia.settings.ACCOUNT_LOCK_FAILURES == 20
    assert balansia.settings.ACCOUNT_LOCK_WINDOW_MINUTES == 60


def test_a_lock_can_be_lifted_from_the_command_line(staff_member, password, settings, capsys):
    guess("toimisto", settings.ACCOUNT_LOCK_FAILURES)
    call_command("unlock_account")
    assert capsys.readouterr().out.startswith("toimisto: locked since")
    call_command("unlock_account", "toimisto")
    assert "Lifted" in capsys.readouterr().out
    lifted = AuditEvent.objects.get(action="account_unlocked")
    assert lifted.actor is None and lifted.target_id == str(staff_member.pk)
    assert attempt("toimisto", password, 999).status_code == 302

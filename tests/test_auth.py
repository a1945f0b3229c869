"""Logging in and out, the one-time password, and login throttling."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.accounts.middleware import PASSWORD_CHANGE_REQUIRED
from registry.accounts.services import account_require_password_change
from registry.audit.models import AuditEvent

from .conftest import totp_code


def log_in(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


@pytest.mark.django_db
def test_front_page_shows_the_notice_and_a_login_form_to_anonymous_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Tietosuojaseloste" in body
    assert "Rekisterinpitäjä" in body
    assert 'name="username"' in body and 'name="password"' in body


@pytest.mark.django_db
def test_notice_is_available_in_english(client):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    response = client.get("/")
    assert "Privacy notice" in response.content.decode()


def test_login_shows_dashboard_and_is_audited(client, staff_member, password):
    response = log_in(client, "toimisto", password, follow=True)
    assert response.status_code == 200
    assert "Etusivu" in response.content.decode()
    assert response.context["user"] == staff_member
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN)
    assert event.actor == staff_member
    assert event.ip_address == "127.0.0.1"


def test_wrong_password_is_refused_and_audited_without_the_password(client, staff_member):
    response = log_in(client, "toimisto", "väärä-salasana-123")
    assert response.status_code == 200
    assert response.context["form"].errors
    event = AuditEvent.objects.get(action=AuditEvent.Action.LOGIN_FAILED)
    assert event.actor is None
    assert event.target_id == str(staff_member.pk)
    assert event.detail == {"username": "toimisto"}


def test_inactive_account_cannot_log_in(client, inactive_user, password):
    response = log_in(client, "kesatyontekija", password)
    assert response.status_code == 200
    assert not response.context["user"].is_authenticated


def test_logout_is_post_only_and_audited(client, staff_member):
    client.force_login(staff_member)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGOUT, actor=staff_member).exists()
    assert client.get(reverse("password_change")).status_code == 302


def test_lockout_after_five_failures_answers_429_until_cool_off(client, staff_member, password):
    for _ in range(4):
        assert log_in(client, "toimisto", "väärä-salasana-123").status_code == 200
    fifth = log_in(client, "toimisto", "väärä-salasana-123")
    assert fifth.status_code == 429
    sixth = log_in(client, "toimisto", "väärä-salasana-123")
    assert sixth.status_code == 429
    assert "Kirjautuminen on tilapäisesti lukittu" in sixth.content.decode()
    assert sixth["Retry-After"] == "900"
    # The right password does not open a locked account before the cool-off.
    right = log_in(client, "toimisto", password)
    assert right.status_code == 429
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOCKOUT).count() >= 1


def test_lockout_ends_after_cool_off(client, staff_member, password, settings):
    for _ in range(5):
        log_in(client, "toimisto", "väärä-salasana-123")
    # Age the attempts past the cool-off instead of waiting 15 minutes.
    attempt = AccessAttempt.objects.get()
    AccessAttempt.objects.filter(pk=attempt.pk).update(
        attempt_time=attempt.attempt_time - timedelta(minutes=16)
    )
    assert log_in(client, "toimisto", password).status_code == 302


@pytest.mark.django_db
def test_first_register_manager_gets_a_one_time_password_once(client, capsys):
    call_command("ensure_register_manager")
    out = capsys.readouterr().out
    password = out.split("one-time password: ")[1].split()[0]
    call_command("ensure_register_manager")
    assert "one-time password" not in capsys.readouterr().out

    assert "choose a new password and your own user name" in out

    response = log_in(client, "admin", password)
    assert response.status_code == 302
    # Anything but the password change is refused until the password is changed.
    assert client.get("/").url == reverse("password_change")
    change = {
        "old_password": password,
        "new_password1": "oma-uusi-salasana-2026",
        "new_password2": "oma-uusi-salasana-2026",
    }
    # "admin" is nobody's own name: the audit trail could not say who it was.
    refused = client.post(reverse("password_change"), {**change, "username": "Admin"})
    assert refused.status_code == 200
    assert "username" in refused.context["form"].errors
    response = client.post(reverse("password_change"), {**change, "username": "aino.ahola"})
    assert response.status_code == 302
    # A register manager must set up two-factor authentication next.
    assert client.get("/").url.startswith(reverse("two-factor-setup"))

    client.get(reverse("two-factor-setup"))
    admin_user = get_user_model().objects.get(username="aino.ahola")
    renamed = AuditEvent.objects.get(action="access_changed")
    assert renamed.detail["change"] == "username: admin -> aino.ahola"
    assert renamed.actor == admin_user

    TOTPDevice.objects.filter(user=admin_user).update(confirmed=True)
    code = totp_code(admin_user)
    TOTPDevice.objects.filter(user=admin_user).update(confirmed=False)
    done = client.post(reverse("two-factor-setup"), {"token": code})
    assert len(done.context["codes"]) == 10
    assert client.get("/").status_code == 200
    assert client.get(reverse("admin:index")).status_code == 200
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"account_created", "login", "password_changed", "two_factor_enabled"} <= actions


@pytest.mark.django_db
def test_first_register_manager_is_staff_in_the_register_manager_group(client, capsys):
    call_command("ensure_register_manager", username="hallinto")
    assert "choose a new password. " in capsys.readouterr().out

    user = get_user_model().objects.get(username="hallinto")
    assert user.is_staff and not user.is_superuser
    assert list(user.groups.values_list("name", flat=True)) == ["Rekisterivastaava"]


@pytest.mark.django_db
def test_the_notice_is_complete_for_todays_law(client, settings):
    settings.RETENTION_MONTHS = 24
    settings.REGISTER_CONTACT_PERSON = {
        "name": "Testi Vastaava",
        "phone": "+358 40 000 0001",
        "email": "t@example.invalid",
    }
    body = client.get(reverse("privacy-notice")).content.decode()
    for expected in (
        "Testi Vastaava",  # the person responsible, from settings
        "Käsittelyn oikeusperuste",
        "24 kuukauteen",  # the retention period, from the setting
        "Euroopan talousalueen ulkopuolelle",
        "Tarkastusoikeus",
        "Oikeus tietojesi poistamiseen",
        "tietosuojavaltuutetulle",
        "Päivitetty viimeksi",
    ):
        assert expected in body, expected


NEW_PASSWORD = {
    "new_password1": "oma-uusi-salasana-2026",
    "new_password2": "oma-uusi-salasana-2026",
}


def test_a_password_alone_cannot_change_the_password_of_a_user_with_a_device(
    client, register_manager, password
):
    """A stolen password must not lock the owner out before the second factor."""
    log_in(client, "vastaava", password)
    client.post(reverse("password_change"), {"old_password": password, **NEW_PASSWORD})
    register_manager.refresh_from_db()
    assert register_manager.check_password(password)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.PASSWORD_CHANGED).exists()
    page = client.get(reverse("password_change"))
    assert page.status_code == 302 and page.url.startswith(reverse("two-factor-verify"))


def test_a_forced_password_change_of_a_user_with_a_device_comes_after_the_code(
    client, register_manager, password
):

    account_require_password_change(user=register_manager)
    log_in(client, "vastaava", password)
    assert client.get("/").url.startswith(reverse("two-factor-verify"))
    assert client.get(reverse("password_change")).url.startswith(reverse("two-factor-verify"))
    client.post(reverse("two-factor-verify"), {"token": totp_code(register_manager)})
    assert client.get("/").url == reverse("password_change")
    response = client.post(reverse("password_change"), {"old_password": password, **NEW_PASSWORD})
    assert response.url == reverse("home")
    assert client.get("/").status_code == 200


def test_a_wrong_old_password_counts_as_a_failed_login(client, staff_member, password):
    client.force_login(staff_member)
    for _ in range(4):
        wrong = client.post(
            reverse("password_change"), {"old_password": "väärä-salasana-123", **NEW_PASSWORD}
        )
        assert wrong.status_code == 200 and "old_password" in wrong.context["form"].errors
    locked = client.post(
        reverse("password_change"), {"old_password": "väärä-salasana-123", **NEW_PASSWORD}
    )
    assert locked.status_code == 429
    # The session ended; the right password opens nothing now.
    assert client.post(
        reverse("password_change"), {"old_password": password, **NEW_PASSWORD}
    ).url.startswith(reverse("login"))
    assert log_in(client, "toimisto", password).status_code == 429
    staff_member.refresh_from_db()
    assert staff_member.check_password(password)


def test_the_menu_is_hidden_while_every_link_would_be_refused(client, staff_member):
    """A forced password change (or the second factor) comes first: the page
    offers only logging out, not a menu of links that all answer no."""
    client.force_login(staff_member)
    session = client.session
    session[PASSWORD_CHANGE_REQUIRED] = True
    session.save()
    forced = client.get(reverse("password_change")).content.decode()
    assert reverse("registry:customer-list") not in forced
    assert reverse("logout") in forced
    session[PASSWORD_CHANGE_REQUIRED] = False
    session.save()
    assert reverse("registry:customer-list") in client.get("/").content.decode()


@pytest.mark.django_db
def test_the_first_register_manager_is_told_the_real_address(capsys, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://rekisteri.example.fi"]
    call_command("ensure_register_manager")
    assert "Log in at https://rekisteri.example.fi/ " in capsys.readouterr().out


@pytest.mark.django_db
def test_the_served_address_can_be_named(capsys):
    call_command("ensure_register_manager", "--url", "http://127.0.0.1:8001/")
    assert "Log in at http://127.0.0.1:8001/ " in capsys.readouterr().out

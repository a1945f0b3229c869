"""TOTP two-factor authentication (django-otp)."""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.models import AuditEvent

from .conftest import totp_code
from .factories import UserFactory

pytestmark = pytest.mark.django_db


def password_login(username, password):
    """A fresh browser: password only, as the login page does it."""
    client = Client()
    client.post(reverse("login"), {"username": username, "password": password})
    return client


def test_a_register_manager_without_a_device_must_set_one_up(password):
    UserFactory(username="uusi-vastaava", roles=["Rekisterivastaava"], is_staff=True)
    client = password_login("uusi-vastaava", password)
    for url in ("/", reverse("registry:customer-list"), reverse("admin:index")):
        response = client.get(url)
        assert response.url.startswith(reverse("two-factor-setup")), url


def test_staff_may_use_the_register_without_it_unless_required_for_all(
    staff_member, password, settings
):
    client = password_login("toimisto", password)
    assert client.get(reverse("registry:customer-list")).status_code == 200
    settings.OTP_REQUIRED_FOR_ALL = True
    assert client.get(reverse("registry:customer-list")).url.startswith(
        reverse("two-factor-setup")
    )


def test_after_the_password_a_code_is_asked_and_a_wrong_one_is_audited(register_manager, password):
    client = password_login("vastaava", password)
    response = client.get(reverse("registry:customer-list"))
    assert response.url.startswith(reverse("two-factor-verify"))
    wrong = client.post(reverse("two-factor-verify"), {"token": "000000"})
    assert "token" in wrong.context["form"].errors
    assert AuditEvent.objects.filter(action="two_factor_failed", actor=register_manager).exists()
    assert client.get(reverse("registry:customer-list")).status_code == 302


def test_a_wrong_code_throttles_the_next_attempt(register_manager, password):
    client = password_login("vastaava", password)
    client.post(reverse("two-factor-verify"), {"token": "000000"})
    # Even the right code is refused while the device is throttled.
    refused = client.post(reverse("two-factor-verify"), {"token": totp_code(register_manager)})
    assert refused.status_code == 200
    assert "token" in refused.context["form"].errors


def test_the_right_code_opens_the_register(register_manager, password):
    client = password_login("vastaava", password)
    response = client.post(
        reverse("two-factor-verify") + "?next=/customers/",
        {"token": totp_code(register_manager), "next": "/customers/"},
    )
    assert response.url == "/customers/"
    assert client.get(reverse("admin:index")).status_code == 200


def test_setup_shows_a_qr_code_and_the_key_and_gives_backup_codes(staff_member, password):
    client = password_login("toimisto", password)
    page = client.get(reverse("two-factor-setup"))
    body = page.content.decode()
    assert "<svg" in body and page.context["secret"] in body
    device = TOTPDevice.objects.get(user=staff_member, confirmed=False)
    assert client.post(reverse("two-factor-setup"), {"token": "123456"}).context["form"].errors
    # Wait out the throttle that the wrong code started.
    TOTPDevice.objects.filter(pk=device.pk).update(
        confirmed=True, throttling_failure_count=0, throttling_failure_timestamp=None
    )
    code = totp_code(staff_member)
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=False)
    done = client.post(reverse("two-factor-setup"), {"token": code})
    codes = done.context["codes"]
    assert len(codes) == 10
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEvent.objects.filter(action="two_factor_enabled", actor=staff_member).exists()


def test_a_backup_code_works_once(register_manager, password):
    from django_otp.plugins.otp_static.models import StaticDevice

    backup = StaticDevice.objects.create(user=register_manager, name="backup codes")
    StaticToken.objects.create(device=backup, token="varakoodi1")
    first = password_login("vastaava", password)
    assert first.post(reverse("two-factor-verify"), {"token": "varakoodi1"}).status_code == 302
    second = password_login("vastaava", password)
    assert second.post(reverse("two-factor-verify"), {"token": "varakoodi1"}).status_code == 200


def test_the_access_review_shows_who_uses_two_factor(client, register_manager, staff_member):
    client.force_login(register_manager)
    accounts = {
        a.username: a for a in client.get(reverse("registry:access-review")).context["accounts"]
    }
    assert accounts["vastaava"].has_two_factor and not accounts["toimisto"].has_two_factor

"""TOTP two-factor authentication (django-otp)."""

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.accounts.reauth import SESSION_KEY as AUTHENTICATED_AT
from registry.audit.models import AuditEvent

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


def code_of(device):
    """The current code of any device, the one being set up included."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def owner_backup_codes(user):
    backup = StaticDevice.objects.create(user=user, name="backup codes", confirmed=True)
    StaticToken.objects.create(device=backup, token="omakoodi01")
    return backup


def verified_login(user, password):
    """Password and the authenticator's code, through the two login pages."""
    client = password_login(user.get_username(), password)
    client.post(reverse("two-factor-verify"), {"token": totp_code(user)})
    return client


def sent_to_verify(response):
    return response.status_code == 302 and response.url.startswith(reverse("two-factor-verify"))


def test_a_password_alone_cannot_set_up_a_new_authenticator(register_manager, password):
    """The probe's attack: password only, then a new authenticator of one's own."""
    owner_device = TOTPDevice.objects.get(user=register_manager)
    owner_backup_codes(register_manager)
    client = password_login("vastaava", password)
    setup = client.get(reverse("two-factor-setup"))
    # Had a secret been issued, its code goes in now.
    pending = TOTPDevice.objects.filter(user=register_manager, confirmed=False).first()
    client.post(reverse("two-factor-setup"), {"token": code_of(pending) if pending else "123456"})
    for url in (
        reverse("admin:index"),
        reverse("registry:register-export"),
        reverse("registry:audit-trail"),
    ):
        assert sent_to_verify(client.get(url)), url
    assert sent_to_verify(setup)
    assert list(TOTPDevice.objects.filter(user=register_manager)) == [owner_device]
    assert StaticToken.objects.filter(device__user=register_manager, token="omakoodi01").exists()
    assert (
        not AuditEvent.objects.filter(action__startswith="two_factor_")
        .exclude(action="two_factor_failed")
        .exists()
    )


def test_before_the_code_only_the_code_and_logging_out_are_open(register_manager, password):
    client = password_login("vastaava", password)
    for name in ("home", "password_change", "two-factor-setup", "reauthenticate", "login"):
        assert sent_to_verify(client.get(reverse(name))), name
    assert client.get(reverse("two-factor-verify")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302


def test_replacing_the_authenticator_needs_the_code_and_a_fresh_password(
    register_manager, password
):
    old_device = TOTPDevice.objects.get(user=register_manager)
    owner_backup_codes(register_manager)
    client = verified_login(register_manager, password)
    session = client.session
    session[AUTHENTICATED_AT] = 0  # the password was given long ago
    session.save()
    stale = client.get(reverse("two-factor-setup"))
    assert stale.status_code == 302 and stale.url.startswith(reverse("reauthenticate"))
    client.post(reverse("reauthenticate"), {"password": password})

    page = client.get(reverse("two-factor-setup"))
    assert page.status_code == 200 and page.context["replacing"]
    new_device = TOTPDevice.objects.get(user=register_manager, confirmed=False)
    # Until the new one is confirmed, the old authenticator and codes stay.
    client.post(reverse("two-factor-setup"), {"token": "000000"})
    assert TOTPDevice.objects.filter(pk=old_device.pk, confirmed=True).exists()
    assert StaticToken.objects.filter(token="omakoodi01").exists()

    TOTPDevice.objects.filter(pk=new_device.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    new_device.refresh_from_db()
    done = client.post(reverse("two-factor-setup"), {"token": code_of(new_device)})
    assert len(done.context["codes"]) == 10
    assert list(TOTPDevice.objects.filter(user=register_manager)) == [new_device]
    new_device.refresh_from_db()
    assert new_device.confirmed
    assert not StaticToken.objects.filter(token="omakoodi01").exists()
    assert set(
        StaticToken.objects.filter(device__user=register_manager).values_list("token", flat=True)
    ) == set(done.context["codes"])
    assert AuditEvent.objects.filter(
        action="two_factor_replaced", actor=register_manager, target_id=str(register_manager.pk)
    ).exists()
    # The session stays verified, with the new device.
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_first_setup_right_after_login_needs_no_second_password(staff_member, password):
    client = password_login("toimisto", password)
    assert client.get(reverse("two-factor-setup")).status_code == 200


def test_the_session_key_changes_when_the_code_is_given(register_manager, password):
    client = password_login("vastaava", password)
    before = client.cookies["sessionid"].value
    client.post(reverse("two-factor-verify"), {"token": totp_code(register_manager)})
    assert client.cookies["sessionid"].value != before
    assert client.get(reverse("registry:customer-list")).status_code == 200


def test_a_backup_code_is_accepted_in_capitals_and_with_spaces(register_manager, password):
    owner_backup_codes(register_manager)
    client = password_login("vastaava", password)
    response = client.post(reverse("two-factor-verify"), {"token": "OMAKOO DI01"})
    assert response.status_code == 302
    assert client.get(reverse("registry:customer-list")).status_code == 200


def test_the_access_review_shows_the_last_change_of_devices(
    client, register_manager, staff_member, password
):
    other = password_login("toimisto", password)
    other.get(reverse("two-factor-setup"))
    device = TOTPDevice.objects.get(user=staff_member)
    other.post(reverse("two-factor-setup"), {"token": code_of(device)})
    client.force_login(register_manager)
    response = client.get(reverse("registry:access-review"))
    accounts = {a.username: a for a in response.context["accounts"]}
    assert accounts["toimisto"].device_change == "two_factor_enabled"
    assert accounts["toimisto"].device_changed_at is not None
    assert accounts["vastaava"].device_changed_at is None
    # What was done (the trail's event), not the set-up page's imperative title.
    assert "Otti käyttöön kaksivaiheisen tunnistautumisen" in response.content.decode()


def test_a_superuser_removing_a_device_in_admin_is_audited(client, register_manager):
    root = UserFactory(username="paakayttaja", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=root, name="authenticator", confirmed=True)
    device = TOTPDevice.objects.get(user=register_manager)
    client.force_login(root)
    response = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(action="two_factor_removed")
    assert event.actor == root and event.target_id == str(register_manager.pk)


def test_admin_never_shows_the_key_of_an_authenticator(client, register_manager):
    root = UserFactory(username="paakayttaja", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=root, name="authenticator", confirmed=True)
    device = TOTPDevice.objects.get(user=register_manager)
    client.force_login(root)
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert page.status_code == 200
    assert device.key not in page.content.decode()

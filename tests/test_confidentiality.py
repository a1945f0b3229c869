"""The notice promises that employees who handle the register are bound by
confidentiality: an account is made only with the day its holder signed the
undertaking, and the access review shows the accounts without one."""

from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry.accounts.models import AccountSecurity
from registry.accounts.services import account_confidentiality_signed
from registry.audit.models import AuditEvent

from .factories import UserFactory
from .htmlforms import form_data

pytestmark = pytest.mark.django_db

User = get_user_model()

NEW_ACCOUNT = {
    "username": "uusi-ohjaaja",
    "usable_password": "true",
    "password1": "ohjaajan-alkusalasana-1",
    "password2": "ohjaajan-alkusalasana-1",
}


def add_account(client, **fields):
    return client.post(reverse("admin:auth_user_add"), {**NEW_ACCOUNT, **fields})


def test_the_add_form_asks_for_the_undertaking_first(client, register_manager):
    client.force_login(register_manager)
    page = client.get(reverse("admin:auth_user_add")).content.decode()
    assert page.index('name="confidentiality_signed_on"') < page.index('name="username"')
    assert "Salassapitositoumus allekirjoitettu" in page


def test_no_account_without_a_signed_undertaking(client, register_manager):
    client.force_login(register_manager)
    response = add_account(client)
    assert response.status_code == 200
    assert response.context["adminform"].form.has_error("confidentiality_signed_on", "required")
    assert not User.objects.filter(username="uusi-ohjaaja").exists()


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("tomorrow", "future"),
        ("0001-01-01", "implausible"),
        ("9999-12-31", "implausible"),
        ("31.2.2026", "invalid"),
        ("-1", "invalid"),
        ("9" * 10_000, "invalid"),
    ],
)
def test_an_impossible_day_is_refused_beside_the_field(client, register_manager, value, code):
    if value == "tomorrow":
        value = (timezone.localdate() + timedelta(days=1)).isoformat()
    client.force_login(register_manager)
    response = add_account(client, confidentiality_signed_on=value)
    assert response.status_code == 200
    assert response.context["adminform"].form.has_error("confidentiality_signed_on", code)
    assert not User.objects.filter(username="uusi-ohjaaja").exists()


def test_a_nul_in_the_day_is_refused_as_all_input_is(client, register_manager):
    client.force_login(register_manager)
    response = add_account(client, confidentiality_signed_on="2026-01-01\x00")
    assert response.status_code == 400
    assert not User.objects.filter(username="uusi-ohjaaja").exists()


def test_the_day_is_kept_with_the_new_account(client, register_manager):
    client.force_login(register_manager)
    today = timezone.localdate()
    response = add_account(client, confidentiality_signed_on=today.isoformat())
    assert response.status_code == 302, response.context["adminform"].form.errors
    security = AccountSecurity.objects.get(user__username="uusi-ohjaaja")
    assert security.confidentiality_signed_on == today
    assert security.password_change_required
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCESS_CHANGED, target_id=str(security.user_id)
    ).exists()


def test_the_day_of_an_older_account_is_recorded_on_its_page(
    client, register_manager, staff_member
):
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    page = client.get(url).content.decode()
    assert 'name="security-0-confidentiality_signed_on"' in page
    data = form_data(page, "user_form", **{"security-0-confidentiality_signed_on": "2025-03-14"})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    signed = AccountSecurity.objects.get(user=staff_member).confidentiality_signed_on
    assert signed == date(2025, 3, 14)
    # A correction later is audited by the field's name.
    page = client.get(url).content.decode()
    data = form_data(page, "user_form", **{"security-0-confidentiality_signed_on": "2025-03-13"})
    assert client.post(url, data).status_code == 302
    changes = AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCESS_CHANGED, target_id=str(staff_member.pk)
    ).order_by("id")
    # Compared as data: PostgreSQL's jsonb keeps the keys in an order of its own.
    assert [event.detail["change"] for event in changes] == [
        [{"added": {"name": "account security", "object": "toimisto"}}],
        [
            {
                "changed": {
                    "name": "account security",
                    "object": "toimisto",
                    "fields": ["Confidentiality undertaking signed on"],
                }
            }
        ],
    ]


def test_the_access_review_is_for_the_register_manager(client, staff_member, register_manager):
    url = reverse("registry:access-review")
    assert client.get(url).url.startswith(reverse("login"))
    client.force_login(staff_member)
    assert client.get(url).status_code == 403
    client.force_login(register_manager)
    assert client.get(url).status_code == 200


def test_the_access_review_lists_active_accounts_without_an_undertaking(
    client, register_manager, staff_member, instructor, inactive_user
):
    account_confidentiality_signed(user=register_manager, signed_on=date(2025, 3, 14))
    client.force_login(register_manager)
    response = client.get(reverse("registry:access-review"))
    assert [a.username for a in response.context["unsigned"]] == ["ohjaaja", "toimisto"]
    html = response.content.decode()
    assert "2 aktiivisen tunnuksen salassapitositoumusta ei ole kirjattu" in html
    change_url = reverse("admin:auth_user_change", args=[staff_member.pk])
    assert f'<li><a class="alert-link" href="{change_url}">toimisto</a></li>' in html
    # The table shows the day, or that it is missing (inactive accounts too).
    assert "14.3.2025" in html
    assert html.count("puuttuu") == 3


def test_the_access_review_costs_the_same_queries_for_more_accounts(client, register_manager):
    client.force_login(register_manager)
    url = reverse("registry:access-review")
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(5):
        account_confidentiality_signed(user=UserFactory(), signed_on=date(2025, 1, n + 1))
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(response.context["accounts"]) == 6
    assert len(many) == len(few)

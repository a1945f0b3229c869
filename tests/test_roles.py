"""Roles are groups from a data migration; only register managers reach admin."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from registry.roles import INSTRUCTOR, REGISTER_MANAGER, STAFF


@pytest.mark.django_db
def test_the_three_roles_exist():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        REGISTER_MANAGER,
        STAFF,
        INSTRUCTOR,
    }


@pytest.mark.django_db
def test_register_manager_can_manage_accounts_and_read_the_trail_but_not_delete_users():
    perms = set(
        Group.objects.get(name=REGISTER_MANAGER).permissions.values_list("codename", flat=True)
    )
    assert {"add_user", "change_user", "view_auditevent", "view_accessattempt"} <= perms
    assert "delete_user" not in perms
    assert "change_auditevent" not in perms and "delete_auditevent" not in perms


def test_only_the_register_manager_opens_admin(
    client, register_manager, staff_member, instructor, no_role_user
):
    for user in (staff_member, instructor, no_role_user):
        client.force_login(user)
        # Admin sends them to its login page, which tells a logged-in user 403.
        assert client.get(reverse("admin:index"), follow=True).status_code == 403, user
    client.force_login(register_manager)
    assert client.get(reverse("admin:index")).status_code == 200


def test_register_manager_creates_an_account_that_must_change_its_password(
    client, register_manager, password
):
    client.force_login(register_manager)
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "uusi-ohjaaja",
            "usable_password": "true",
            "password1": "ohjaajan-alkusalasana-1",
            "password2": "ohjaajan-alkusalasana-1",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    from django.test import Client

    newcomer = Client()
    newcomer.post(
        reverse("login"), {"username": "uusi-ohjaaja", "password": "ohjaajan-alkusalasana-1"}
    )
    assert newcomer.get("/").url == reverse("password_change")


def test_register_manager_cannot_grant_superuser_status(client, register_manager, staff_member):
    client.force_login(register_manager)
    page = client.get(reverse("admin:auth_user_change", args=[staff_member.pk]))
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.content.decode()
    assert 'name="groups"' in page.content.decode()


def test_nobody_deletes_accounts_in_admin(client, register_manager, staff_member):
    client.force_login(register_manager)
    url = reverse("admin:auth_user_delete", args=[staff_member.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403


def test_navigation_shows_admin_only_to_the_register_manager(
    client, register_manager, staff_member
):
    client.force_login(staff_member)
    assert reverse("admin:index") not in client.get("/").content.decode()
    client.force_login(register_manager)
    assert reverse("admin:index") in client.get("/").content.decode()

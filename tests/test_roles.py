"""Roles are groups from a data migration; only register managers reach admin."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.accounts.roles import GRANTS
from registry.roles import INSTRUCTOR, REGISTER_MANAGER, STAFF

from .factories import UserFactory
from .htmlforms import form_data


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
            "confidentiality_signed_on": "2025-06-02",
            "username": "uusi-ohjaaja",
            "usable_password": "true",
            "password1": "ohjaajan-alkusalasana-1",
            "password2": "ohjaajan-alkusalasana-1",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors

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


# --- A register manager and the superusers --------------------------------


@pytest.fixture
def superuser(db):
    """The emergency account made with `manage.py createsuperuser`."""
    user = UserFactory(username="hatatunnus", is_superuser=True, is_staff=True)
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return user


def account_form_data(client, user, **changes):
    """What the admin's change form of `user` posts when saved, as a browser
    sends it (only what the page renders), with `changes` on top; a change
    of "" unticks a box."""
    page = client.get(reverse("admin:auth_user_change", args=[user.pk]))
    ticked = {name: value for name, value in changes.items() if value != ""}
    unticked = {name: None for name, value in changes.items() if value == ""}
    data = form_data(page.content.decode(), "user_form", **ticked, **unticked)
    # Lists of ids as a multiple select sends them.
    for name in ("groups", "user_permissions"):
        if name in data and not isinstance(data[name], list):
            data[name] = [data[name]]
    return data


def test_a_register_manager_cannot_see_change_or_set_the_password_of_a_superuser(
    client, register_manager, superuser, password
):
    client.force_login(register_manager)
    listing = client.get(reverse("admin:auth_user_changelist"))
    assert listing.status_code == 200
    assert superuser.username not in listing.content.decode()
    # Admin answers as for an account that does not exist: back to its index.
    nobody = superuser.pk + 1000
    for name in ("admin:auth_user_change", "admin:auth_user_history"):
        response = client.get(reverse(name, args=[superuser.pk]))
        missing = client.get(reverse(name, args=[nobody]))
        assert (response.status_code, response.url) == (302, reverse("admin:index")), name
        assert (missing.status_code, missing.url) == (302, reverse("admin:index"))
    password_url = reverse("admin:auth_user_password_change", args=[superuser.pk])
    assert client.get(password_url).status_code == 404
    taken_over = "vallattu-tunnus-Kuusi-6"
    response = client.post(
        password_url,
        {"usable_password": "true", "password1": taken_over, "password2": taken_over},
    )
    assert response.status_code == 404
    crafted = client.post(
        reverse("admin:auth_user_change", args=[superuser.pk]),
        {"username": superuser.username, "is_active": "", "is_superuser": ""},
    )
    assert crafted.url == reverse("admin:index")
    superuser.refresh_from_db()
    assert superuser.check_password(password)
    assert superuser.is_active and superuser.is_superuser


def test_a_superuser_still_manages_superusers(client, superuser):
    other = UserFactory(username="toinen-hata", is_superuser=True, is_staff=True)
    client.force_login(superuser)
    assert client.get(reverse("admin:auth_user_change", args=[other.pk])).status_code == 200
    password_url = reverse("admin:auth_user_password_change", args=[other.pk])
    assert client.get(password_url).status_code == 200


def test_a_crafted_post_cannot_make_anyone_a_superuser(client, register_manager, staff_member):
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    response = client.post(url, account_form_data(client, staff_member, is_superuser="on"))
    assert response.status_code == 302
    staff_member.refresh_from_db()
    assert not staff_member.is_superuser


def test_a_register_manager_grants_only_permissions_they_hold(
    client, register_manager, staff_member
):
    delete_user = Permission.objects.get(codename="delete_user")
    assert not register_manager.has_perm("auth.delete_user")
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    page = client.get(url)
    offered = page.context["adminform"].form.fields["user_permissions"].queryset
    assert delete_user not in offered
    assert offered.filter(codename="view_customer").exists()

    response = client.post(
        url, account_form_data(client, staff_member, user_permissions=[delete_user.pk])
    )
    assert response.status_code == 200
    assert "user_permissions" in response.context["adminform"].form.errors
    assert not staff_member.user_permissions.exists()


def test_a_register_manager_cannot_put_anyone_into_a_more_powerful_group(
    client, register_manager, staff_member
):
    mighty = Group.objects.create(name="Kaikkivaltiaat")
    mighty.permissions.add(Permission.objects.get(codename="delete_user"))
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    offered = client.get(url).context["adminform"].form.fields["groups"].queryset
    # The roles of the register are all within the register manager's rights.
    assert set(offered.values_list("name", flat=True)) == {REGISTER_MANAGER, STAFF, INSTRUCTOR}
    response = client.post(url, account_form_data(client, staff_member, groups=[mighty.pk]))
    assert response.status_code == 200
    assert "groups" in response.context["adminform"].form.errors
    assert not staff_member.groups.filter(pk=mighty.pk).exists()


def test_what_a_superuser_granted_stays_when_a_register_manager_edits_the_account(
    client, register_manager, staff_member
):
    delete_user = Permission.objects.get(codename="delete_user")
    staff_member.user_permissions.add(delete_user)
    client.force_login(register_manager)
    url = reverse("admin:auth_user_change", args=[staff_member.pk])
    instructors = Group.objects.get(name=INSTRUCTOR)
    data = account_form_data(client, staff_member, first_name="Uusi")
    data["groups"] = [*data["groups"], instructors.pk]
    response = client.post(url, data)
    assert response.status_code == 302
    staff_member.refresh_from_db()
    assert staff_member.first_name == "Uusi"
    assert staff_member.groups.filter(pk=instructors.pk).exists()
    assert staff_member.user_permissions.filter(pk=delete_user.pk).exists()


def test_a_group_gets_only_permissions_its_editor_holds(client, register_manager):
    for codename in ("view_group", "change_group"):
        register_manager.user_permissions.add(Permission.objects.get(codename=codename))
    group = Group.objects.create(name="Kesätyöntekijät")
    delete_user = Permission.objects.get(codename="delete_user")
    view_customer = Permission.objects.get(codename="view_customer")
    client.force_login(register_manager)
    url = reverse("admin:auth_group_change", args=[group.pk])
    seen = client.get(url).context["adminform"].form.initial["seen"]
    response = client.post(
        url, {"name": group.name, "permissions": [delete_user.pk], "seen": seen}
    )
    assert response.status_code == 200
    assert "permissions" in response.context["adminform"].form.errors
    response = client.post(
        url, {"name": group.name, "permissions": [view_customer.pk], "seen": seen}
    )
    assert response.status_code == 302
    assert list(group.permissions.all()) == [view_customer]


def test_the_access_review_cannot_deactivate_a_superuser(client, register_manager, superuser):
    client.force_login(register_manager)
    review = client.get(reverse("registry:access-review")).content.decode()
    assert reverse("registry:account-deactivate", args=[superuser.pk]) not in review
    assert reverse("admin:auth_user_change", args=[superuser.pk]) not in review
    url = reverse("registry:account-deactivate", args=[superuser.pk])
    assert client.post(url).status_code == 404
    superuser.refresh_from_db()
    assert superuser.is_active


@pytest.mark.django_db
def test_the_groups_of_a_migrated_database_are_the_grants_table():
    """Who may do what is one table (registry/accounts/roles.py); the
    migrations make exactly those groups with exactly those permissions."""

    in_database = {
        group.name: sorted(
            f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()
        )
        for group in Group.objects.prefetch_related("permissions__content_type")
    }
    assert in_database == {name: sorted(set(codes)) for name, codes in GRANTS.items()}


@pytest.mark.django_db
def test_saving_an_account_without_a_role_warns_that_it_can_do_nothing(
    client, register_manager, no_role_user
):
    client.force_login(register_manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.post(
        reverse("admin:auth_user_change", args=[no_role_user.pk]),
        account_form_data(client, no_role_user),
        follow=True,
    )
    assert "has no role: the account can log in but do nothing" in response.content.decode()

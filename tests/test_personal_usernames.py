"""The notice promises every user a personal user name: a shared name such as
"admin" or "toimisto" would leave the audit trail unable to say who did what."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from registry.accounts.services import account_require_password_change
from registry.accounts.usernames import is_generic_username

from .factories import UserFactory
from .htmlforms import form_data
from .test_confidentiality import add_account

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.mark.parametrize(
    ("name", "generic"),
    [
        ("admin", True),
        ("Admin2", True),
        ("yllapito_1", True),
        ("Ylläpito", True),
        ("rekisterinpitäjä", True),
        ("12345", True),
        ("adm1n", True),
        ("\u00e1dmin", True),  # an accent
        ("adm\u0131n", True),  # a dotless i
        ("r00t", True),
        ("sysadmin", True),
        ("aino.ahola", False),
        ("esittely-toimisto", False),
        ("matti", False),
    ],
)
def test_which_names_are_not_personal(name, generic):
    assert is_generic_username(name) is generic


def test_admin_refuses_a_shared_name_for_a_new_account(client, register_manager):
    client.force_login(register_manager)
    response = add_account(client, username="Yllapito", confidentiality_signed_on="2026-01-05")
    assert response.status_code == 200
    assert response.context["adminform"].form.has_error("username", "generic_username")
    assert not User.objects.filter(username="Yllapito").exists()
    assert add_account(client, confidentiality_signed_on="2026-01-05").status_code == 302


def test_admin_refuses_renaming_to_a_shared_name_but_keeps_an_old_one(client, register_manager):
    client.force_login(register_manager)
    old = UserFactory(username="admin")
    url = reverse("admin:auth_user_change", args=[old.pk])
    # Another change to an account that still has its old shared name saves.
    data = form_data(client.get(url).content.decode(), "user_form", first_name="Aino")
    assert client.post(url, data).status_code == 302
    person = UserFactory(username="aino.ahola")
    url = reverse("admin:auth_user_change", args=[person.pk])
    data = form_data(client.get(url).content.decode(), "user_form", username="root")
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.has_error("username", "generic_username")
    person.refresh_from_db()
    assert person.username == "aino.ahola"


def test_a_personal_name_is_not_asked_again(client, staff_member):
    account_require_password_change(user=staff_member)
    client.force_login(staff_member)
    form = client.get(reverse("password_change")).context["form"]
    assert "username" not in form.fields


def test_the_new_name_must_be_free(client, register_manager, password):
    UserFactory(username="Aino.Ahola")
    shared = UserFactory(username="admin")
    client.force_login(shared)
    response = client.post(
        reverse("password_change"),
        {
            "username": "aino.ahola",
            "old_password": password,
            "new_password1": "oma-uusi-salasana-2026",
            "new_password2": "oma-uusi-salasana-2026",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].has_error("username", "unique")
    shared.refresh_from_db()
    assert shared.username == "admin"
    assert shared.check_password(password)


def first_login_rename(client, password, username):
    return client.post(
        reverse("password_change"),
        {
            "username": username,
            "old_password": password,
            "new_password1": "oma-uusi-salasana-2026",
            "new_password2": "oma-uusi-salasana-2026",
        },
    )


def test_a_name_in_full_width_letters_is_stored_as_the_login_reads_it(client, password):
    shared = UserFactory(username="admin")
    client.force_login(shared)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "aino") + ".ahola"
    assert first_login_rename(client, password, full_width).status_code == 302
    shared.refresh_from_db()
    assert shared.username == "aino.ahola"


@pytest.mark.parametrize(
    "look_alike",
    [
        "aino.ahol\u0430",  # a Cyrillic a: looks like aino.ahola
        "\u00c4IJ\u00c4.VIRTANEN",  # another user's name in capitals
    ],
)
def test_a_name_that_looks_like_another_users_is_refused(client, password, look_alike):
    UserFactory(username="aino.ahola")
    UserFactory(username="\u00e4ij\u00e4.virtanen")
    shared = UserFactory(username="admin")
    client.force_login(shared)
    response = first_login_rename(client, password, look_alike)
    assert response.status_code == 200
    assert response.context["form"].errors["username"]
    shared.refresh_from_db()
    assert shared.username == "admin"

"""The password policy: Django's validators and ours (registry.password_validation)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import (
    password_validators_help_texts,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from .factories import PASSWORD

User = get_user_model()


def refusal_codes(password, user=None):
    try:
        validate_password(password, user)
    except ValidationError as error:
        return {e.code for e in error.error_list}
    return set()


@pytest.mark.parametrize(
    ("password", "code"),
    [
        # The three the outside probe got accepted.
        ("office2office2", "password_repeated_part"),
        ("aaaaaaaaaaaa", "password_repeated_characters"),
        ("Balansia2026!", "password_forbidden_word"),
        # Their cousins.
        ("Kissa1Kissa1Kissa1", "password_repeated_part"),
        ("abababababab1", "password_too_few_characters"),
        ("abcdefgh-korppi", "password_sequence"),
        ("korppi-9876-järvi", "password_sequence"),
        ("Qwerty-korppi-7", "password_sequence"),
        ("B4lans1a-on-hyvä", "password_forbidden_word"),
        ("Viva-korppi-järvi-7", "password_forbidden_word"),
        ("Asiakas-rekisteri-7", "password_forbidden_word"),
    ],
)
def test_guessable_passwords_are_refused(password, code):
    assert code in refusal_codes(password)


@pytest.mark.parametrize(
    "password", ["korppi-Hyppää-järveen-7", PASSWORD, "Tuuli vie lunta 19 kertaa"]
)
def test_good_passwords_pass(password):
    assert refusal_codes(password, User(username="esa")) == set()


def test_twelve_characters_stay_the_minimum():
    assert "password_too_short" in refusal_codes("Kor-pi-7-Hy")
    assert refusal_codes("Kor-pi-7-Hyp") == set()


def test_the_user_name_may_not_be_inside_the_password():
    esa = User(username="esa")
    assert "password_contains_username" in refusal_codes("Kuusi-ESA-korppi-7", esa)
    assert "password_contains_username" in refusal_codes("Kuusi-3s4-korppi-7", esa)
    # A very short user name is a coincidence, not a choice.
    assert refusal_codes("Kuusi-jo-korppi-7", User(username="jo")) == set()


def test_the_company_name_comes_from_the_settings(settings):
    settings.REGISTER_CONTROLLER = {**settings.REGISTER_CONTROLLER, "name": "Sykettä Oy"}
    assert "password_forbidden_word" in refusal_codes("Sykettä-korppi-7-x")
    assert "password_forbidden_word" not in refusal_codes("Viva-korppi-järvi-7")


def test_the_rules_are_explained_in_finnish():
    with translation.override("fi"):
        texts = " ".join(password_validators_help_texts())
        assert "käyttäjätunnus" in texts.lower()
        with pytest.raises(ValidationError) as refused:
            validate_password("Balansia2026!")
    assert "balansia" in refused.value.messages[0]
    assert "yrityksen" in refused.value.messages[0]


def test_the_password_change_page_refuses_a_guessable_password(client, staff_member, password):
    client.force_login(staff_member)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": password,
            "new_password1": "Balansia2026!",
            "new_password2": "Balansia2026!",
        },
    )
    assert response.status_code == 200
    assert response.context["form"].has_error("new_password2", "password_forbidden_word")
    staff_member.refresh_from_db()
    assert staff_member.check_password(password)


def test_the_admin_add_user_form_refuses_a_guessable_password(client, register_manager):
    client.force_login(register_manager)
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "uusi-ohjaaja",
            "usable_password": "true",
            "password1": "office2office2",
            "password2": "office2office2",
        },
    )
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.has_error("password2", "password_repeated_part")
    assert not User.objects.filter(username="uusi-ohjaaja").exists()


@pytest.mark.django_db
def test_the_one_time_password_of_the_first_register_manager_passes_the_rules(capsys, monkeypatch):
    # The first random password holds a run; the command draws another.
    draws = iter(["abcd-kissa-korppi-77", "korppi-Hyppää-järveen-7"])
    monkeypatch.setattr("secrets.token_urlsafe", lambda _bytes: next(draws))
    call_command("ensure_register_manager")
    out = capsys.readouterr().out
    assert "one-time password: korppi-Hyppää-järveen-7" in out

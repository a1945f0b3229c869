"""Journeys in a real browser (Debian chromium through Playwright)."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_notice_login_dashboard_logout(page, live_server, staff_member, password):
    page.goto(live_server.url + "/")
    expect(page.get_by_role("heading", name="Tietosuojaseloste", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Rekisterinpitäjä")).to_be_visible()

    page.get_by_label("Käyttäjätunnus").fill("toimisto")
    page.get_by_label("Salasana").fill(password)
    page.get_by_role("button", name="Kirjaudu sisään").click()

    expect(page.get_by_role("heading", name="Etusivu")).to_be_visible()
    expect(page.get_by_text("Roolisi: Toimisto")).to_be_visible()

    page.get_by_role("button", name=re.compile("Kirjaudu ulos")).click()
    expect(page.get_by_role("heading", name="Tietosuojaseloste", exact=True)).to_be_visible()


def test_wrong_password_shows_an_error_and_keeps_the_user_name(page, live_server, staff_member):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Käyttäjätunnus").fill("toimisto")
    page.get_by_label("Salasana").fill("väärä-salasana-123")
    page.get_by_role("button", name="Kirjaudu sisään").click()
    expect(page.get_by_role("alert").first).to_contain_text(
        "syötä kelvollinen käyttäjätunnus ja salasana"
    )
    expect(page.get_by_label("Käyttäjätunnus")).to_have_value("toimisto")

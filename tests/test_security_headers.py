"""Response headers that keep personal data out of caches, frames and scripts."""

import pytest
from django.urls import reverse


def test_logged_in_pages_are_not_stored(client, staff_member):
    client.force_login(staff_member)
    response = client.get("/", secure=True)
    cache_control = response["Cache-Control"]
    assert "no-store" in cache_control and "private" in cache_control


def test_logged_in_page_headers(client, staff_member):
    client.force_login(staff_member)
    response = client.get("/", secure=True)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_error_pages_of_logged_in_users_are_not_stored_either(client, staff_member):
    client.force_login(staff_member)
    response = client.get("/ei-tallaista-sivua/")
    assert response.status_code == 404
    assert "no-store" in response["Cache-Control"]
    assert "Sivua ei löydy" in response.content.decode()


@pytest.mark.django_db
def test_http_is_redirected_to_https_in_production(settings):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/")
    assert response.status_code == 301
    assert response.url.startswith("https://")


def test_session_ends_when_idle_and_with_the_browser(settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_SAVE_EVERY_REQUEST
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


def test_a_post_without_csrf_token_is_refused_with_a_translated_page(staff_member):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_member)
    response = client.post(reverse("logout"))
    assert response.status_code == 403
    assert "Lomake on vanhentunut" in response.content.decode()


def test_templates_have_no_inline_script():
    """The CSP allows only our own files; an inline script would be blocked."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    offenders = [
        str(path)
        for path in root.rglob("*.html")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", path.read_text())
        or re.search(r"\son[a-z]+=\"", path.read_text())
        or re.search(r"\sstyle=\"", path.read_text())
    ]
    assert offenders == []

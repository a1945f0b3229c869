"""Response headers that keep personal data out of caches, frames and scripts,
and what the production server tells about itself."""

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry.accounts.middleware import SessionTouchMiddleware

ROOT = Path(__file__).resolve().parent.parent


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
    settings.SECURE_SSL_REDIRECT = True
    response = Client().get("/")
    assert response.status_code == 301
    assert response.url.startswith("https://")


def test_session_ends_when_idle_and_with_the_browser(settings):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    assert settings.SESSION_TOUCH_SECONDS == 60
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_ENGINE == "django.contrib.sessions.backends.db"


def test_a_used_session_is_kept_alive_saving_it_at_most_once_a_minute(staff_member):
    """SessionTouchMiddleware: a request saves the session (moving its end
    SESSION_COOKIE_AGE ahead) only when the last save is a minute old; an
    idle session still ends."""
    client = Client()
    client.force_login(staff_member)  # saved at login: not again at once
    key = client.session.session_key
    first_end = Session.objects.get(pk=key).expire_date

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/customers/").status_code == 200
    assert not [q for q in queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert Session.objects.get(pk=key).expire_date == first_end

    session = client.session
    session[SessionTouchMiddleware.KEY] -= 61  # the last save a minute ago
    session.save()
    saved_end = Session.objects.get(pk=key).expire_date
    client.get("/customers/")
    assert Session.objects.get(pk=key).expire_date > saved_end

    Session.objects.filter(pk=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/customers/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_a_post_without_csrf_token_is_refused_with_a_translated_page(staff_member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_member)
    response = client.post(reverse("logout"))
    assert response.status_code == 403
    assert "Lomake on vanhentunut" in response.content.decode()


def test_templates_have_no_inline_script():
    """The CSP allows only our own files; an inline script would be blocked."""

    root = Path(__file__).resolve().parent.parent / "templates"
    offenders = [
        str(path)
        for path in root.rglob("*.html")
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", path.read_text())
        or re.search(r"\son[a-z]+=\"", path.read_text())
        or re.search(r"\sstyle=\"", path.read_text())
    ]
    assert offenders == []


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def production_server(tmp_path):
    """gunicorn with gunicorn.conf.py, serving files collected by the
    production storage, on a free port of the loopback."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "STATIC_FROM_SOURCE": "false",
        "STATIC_ROOT": str(tmp_path / "static"),
        "STATIC_MANIFEST_DIR": str(tmp_path / "manifest"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECURE_SSL_REDIRECT": "false",
        "GUNICORN_WORKERS": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"),
            *("--bind", f"127.0.0.1:{port}", "balansia.wsgi"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def get(path):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response

    try:
        for _ in range(100):
            try:
                get("/static/favicon.svg")
                break
            except OSError:
                time.sleep(0.1)
        yield tmp_path, get
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_gunicorn_does_not_name_itself(production_server):
    _tmp, get = production_server
    for path in ("/static/favicon.svg", "/privacy/", "/ei-tallaista-sivua/"):
        response = get(path)
        assert response.getheader("Server") is None, path
        assert "gunicorn" not in str(response.headers).lower(), path


def test_the_list_of_static_files_is_not_served(production_server):
    tmp, get = production_server
    assert not (tmp / "static" / "staticfiles.json").exists()
    manifest = json.loads((tmp / "manifest" / "staticfiles.json").read_text())
    assert get("/static/staticfiles.json").status == 404
    # The hashed names still come from it.
    assert get(f"/static/{manifest['paths']['favicon.svg']}").status == 200

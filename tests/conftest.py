"""Personas and shared fixtures.

The personas, as the people of a working week at the course company:
- `register_manager`: the person responsible for the register (admin, audit);
- `staff_member`: office staff;
- `instructor`: teaches courses;
- `no_role_user`: has an account but no role yet;
- `inactive_user`: a former summer worker whose account was deactivated.
"""

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings as django_settings
from django.db import connection, migrations
from django.db.migrations.loader import MigrationLoader
from django.test import Client, override_settings
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import background
from registry.roles import INSTRUCTOR, REGISTER_MANAGER, STAFF

from . import hashers, liveserver
from .factories import (
    PASSWORD,
    CourseFactory,
    CustomerFactory,
    CustomerImportFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
    MessageFactory,
    RegisterExportFactory,
    UnsubscribeImportFactory,
    UserFactory,
)

CHROMIUM = Path("/usr/bin/chromium")

# pytest-django's, stopped after the browser's open connections (tests/liveserver.py).
live_server = liveserver.live_server


def rerun_data_migrations():
    """Re-create what the project's data migrations made (role groups and their
    permissions, the first consent wordings).

    A transactional test (the browser tests) leaves a flushed database, and
    Django's serialized rollback does not survive Playwright's greenlets. Our
    data migrations are idempotent, so they are simply run again.
    """

    loader = MigrationLoader(None, ignore_no_migrations=True)
    with connection.schema_editor(atomic=False) as editor:
        for key in sorted(loader.disk_migrations):
            if key[0] not in {"registry", "courses"}:
                continue
            for operation in loader.disk_migrations[key].operations:
                if isinstance(operation, migrations.RunPython):
                    operation.code(apps, editor)


@pytest.fixture(autouse=True)
def _data_migrations(request):
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        rerun_data_migrations()


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    """Passwords are hashed with Argon2 at its lowest cost (tests/hashers.py);
    production's hasher stays in the list, so its hashes are still checked."""
    with override_settings(PASSWORD_HASHERS=[hashers.FAST, *django_settings.PASSWORD_HASHERS]):
        yield


@pytest.fixture(autouse=True)
def _own_files(settings, tmp_path):
    """Each test writes its files into its own temporary folder: the erasure
    and marketing journals, exports, backups and mail files. Never into the checkout's var/
    (a laptop's own register may live there), and never into a folder that
    another test process of a parallel run (pytest-xdist) writes or prunes."""
    settings.ERASURE_JOURNAL_PATH = tmp_path / "erasure-journal.jsonl"
    settings.MARKETING_JOURNAL_PATH = tmp_path / "marketing-journal.jsonl"
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"


@pytest.fixture
def backup_key(settings):
    """A backup encryption key of the test's own: backups are never written
    in clear (tests of backups and restores; tests/restores.py)."""
    settings.BACKUP_ENCRYPTION_KEY = Fernet.generate_key().decode()


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def register_manager(db):
    """Register managers must use two-factor authentication: this one has it."""

    user = UserFactory(username="vastaava", roles=[REGISTER_MANAGER], is_staff=True)
    TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return user


def totp_code(user):
    """The current code of the user's authenticator (reuse of a code is allowed
    again, as a test may log the same person in twice within 30 seconds)."""

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


@pytest.fixture(autouse=True)
def _force_login_passes_the_second_factor(monkeypatch):
    """`client.force_login` logs in as if the second factor was given too, for a
    user who has a device; the second factor itself is tested through its views."""

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        device = next(iter(devices_for_user(user, confirmed=True)), None)
        if device is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def staff_member(db):
    return UserFactory(username="toimisto", roles=[STAFF])


@pytest.fixture
def instructor(db):
    return UserFactory(username="ohjaaja", roles=[INSTRUCTOR])


@pytest.fixture
def no_role_user(db):
    return UserFactory(username="vieras")


@pytest.fixture
def inactive_user(db):
    return UserFactory(username="kesatyontekija", roles=[STAFF], is_active=False)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Drive Debian's chromium; never a downloaded browser."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Browser tests must run under CI, but /usr/bin/chromium is missing.")
        pytest.skip("Debian chromium is not installed (make test installs it as root).")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def browser_context_args(browser_context_args):
    # Finnish is the default language, as for a user in Joensuu.
    return {**browser_context_args, "locale": "fi-FI"}


@pytest.fixture
def log_in(live_server, password):
    """Log a persona in through the login page of a Playwright page."""

    def log_in(page, user):
        page.context.clear_cookies()
        page.goto(live_server.url + "/accounts/login/")
        page.get_by_label("Käyttäjätunnus").fill(user.get_username())
        page.get_by_label("Salasana").fill(password)
        page.get_by_role("button", name="Kirjaudu sisään").click()
        if "/accounts/two-factor/" in page.url:
            page.get_by_label("Koodi").fill(totp_code(user))
            page.get_by_role("button", name="Jatka").click()
        page.wait_for_url(live_server.url + "/")

    return log_in


@pytest.fixture
def world(db, instructor, register_manager):
    """One object of each kind a view may be about, for the tables of views."""
    customer = CustomerFactory()
    own_course = CourseFactory(instructor=instructor)
    return {
        "instructor": instructor,
        "customer": customer,
        "other_customer": CustomerFactory(),
        "case": DataSubjectRequestFactory(customer=customer),
        "case_without_customer": DataSubjectRequestFactory(
            customer=None, requester_name="Tiina Testinen", requester_contact="040 000 0000"
        ),
        # Closed as "no data held": its answer letter can be downloaded.
        "answered_case_without_customer": DataSubjectRequestFactory(
            customer=None,
            requester_name="Teemu Testinen",
            requester_contact="040 000 0001",
            status="done",
            completed_on=timezone.localdate(),
            outcome="Rekisterissä ei ole pyytäjän henkilötietoja.",
        ),
        "own_course": own_course,
        "own_session": own_course.sessions.get(),
        "other_course": CourseFactory(),
        "enrollment": EnrollmentFactory(course=own_course),
        "customer_import": CustomerImportFactory(),
        "register_export": RegisterExportFactory(requested_by=register_manager),
        "other_register_export": RegisterExportFactory(),
        "marketing_export": RegisterExportFactory(
            requested_by=register_manager, kind="marketing", parameters={"channel": "email"}
        ),
        "audit_export": RegisterExportFactory(requested_by=register_manager, kind="audit"),
        "unsubscribe_import": UnsubscribeImportFactory(),
        "message": MessageFactory(customer=customer, course=own_course),
    }


@pytest.fixture
def export_dir(settings, tmp_path):
    """Exports' files go into the test's own folder."""
    settings.EXPORT_DIR = tmp_path / "exports"
    return settings.EXPORT_DIR


@pytest.fixture
def immediate_tasks(settings, monkeypatch):
    """Tasks run at once in the test's thread (django-tasks' immediate
    backend), and at once rather than after the commit: a test's transaction
    never commits. Tests of the worker itself use the database backend and
    `manage.py db_worker` (tests/test_tasks.py)."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    monkeypatch.setattr(background, "on_commit", lambda function, using=None: function())

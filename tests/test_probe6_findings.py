"""What the sixth outside probe found (2026-11-29), each test failing on the
code before its fix."""

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.background import PlainError
from registry.imports import services, unsubscribes
from registry.imports.models import IMPORT_PERMISSION
from registry.imports.tasks import apply_import, apply_unsubscribes
from registry.models import Consent, Customer

from .factories import ConsentFactory
from .test_imports import HEADER, csv_bytes, person
from .test_worker_rechecks_account import REFUSED, confirmed_import, confirmed_unsubscribes

pytestmark = pytest.mark.django_db


def deactivated_while(module, name, user, monkeypatch):
    """Deactivate `user` while the worker runs `module.name`: after the task's
    first check, before the writing."""
    original = getattr(module, name)

    def deactivating(*args, **kwargs):
        result = original(*args, **kwargs)
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        return result

    monkeypatch.setattr(module, name, deactivating)


# --- The worker checked the confirming account only before reading the file ---


def test_an_import_whose_account_is_deactivated_while_the_worker_reads_it_is_not_written(
    client, staff_member, django_capture_on_commit_callbacks, monkeypatch
):
    """Reading and checking 50,000 rows takes the worker many seconds: an
    account deactivated meanwhile got the import written in its name."""
    customer_import = confirmed_import(client, staff_member, django_capture_on_commit_callbacks)
    deactivated_while(services, "analysis_from_checked", staff_member, monkeypatch)
    with pytest.raises(PlainError, match=REFUSED):
        apply_import.call(None, customer_import.pk, staff_member.pk, "192.0.2.7")
    customer_import.refresh_from_db()
    assert customer_import.status == "pending" and customer_import.task_state == "failed"
    assert REFUSED in customer_import.task_error
    assert not Customer.objects.exists()


def test_an_import_whose_account_lost_its_role_while_the_worker_reads_it_is_not_written(
    client, staff_member, django_capture_on_commit_callbacks, monkeypatch
):
    customer_import = confirmed_import(client, staff_member, django_capture_on_commit_callbacks)
    original = services.analysis_from_checked

    def demoting(*args, **kwargs):
        staff_member.groups.clear()
        return original(*args, **kwargs)

    monkeypatch.setattr(services, "analysis_from_checked", demoting)
    with pytest.raises(PlainError, match=REFUSED):
        apply_import.call(None, customer_import.pk, staff_member.pk, "192.0.2.7")
    assert not Customer.objects.exists()


def test_unsubscribes_whose_account_is_deactivated_while_the_worker_reads_them_are_not_applied(
    client, register_manager, django_capture_on_commit_callbacks, monkeypatch
):
    aino = ConsentFactory(customer__email="aino.aijala@example.invalid").customer
    upload = confirmed_unsubscribes(
        client, register_manager, aino, django_capture_on_commit_callbacks
    )
    deactivated_while(unsubscribes, "_read_and_check", register_manager, monkeypatch)
    with pytest.raises(PlainError, match=REFUSED):
        apply_unsubscribes.call(None, upload.pk, register_manager.pk, "192.0.2.7")
    upload.refresh_from_db()
    assert upload.status == "pending" and upload.task_state == "failed"
    assert not Consent.objects.filter(method="newsletter_service").exists()


def test_the_import_command_writes_nothing_for_an_account_deactivated_while_it_reads(
    tmp_path, staff_member, monkeypatch
):
    """`manage.py import_customers --user` checks the account before reading
    the file; deactivated while the command reads, the account got the
    import written in its name."""
    path = tmp_path / "asiakkaat.csv"
    path.write_bytes(csv_bytes([HEADER, person()]))
    deactivated_while(services, "analysis_from_checked", staff_member, monkeypatch)
    with pytest.raises(CommandError, match=REFUSED):
        call_command("import_customers", str(path), "--user", staff_member.username)
    assert not Customer.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite locks no rows")
@pytest.mark.django_db(transaction=True)
def test_a_deactivation_waits_for_the_writing_that_checked_the_account(staff_member):
    """The writing's check keeps the account's row locked until it commits:
    a deactivation (admin saves that row) waits for it; the account's own
    pages meanwhile, which write audit events naming it, do not."""
    waited, audited = [], []

    def deactivate():
        started = time.monotonic()
        get_user_model().objects.filter(pk=staff_member.pk).update(is_active=False)
        waited.append(time.monotonic() - started)
        connections.close_all()

    def audit():
        audit_event_create(action=AuditEvent.Action.CUSTOMER_SEARCHED, by=staff_member)
        audited.append(True)
        connections.close_all()

    with transaction.atomic():
        services.account_still_allowed(staff_member, IMPORT_PERMISSION, lock=True)
        page = threading.Thread(target=audit)
        page.start()
        page.join(timeout=5)
        assert audited  # not held up by the lock
        other = threading.Thread(target=deactivate)
        other.start()
        time.sleep(0.5)
        assert not waited  # still waiting for the writing's commit
    other.join()
    assert waited and waited[0] >= 0.4

"""The real `manage.py db_worker --batch`, in processes of its own, against
the test database: an import and an export go through it, and two workers
never run one task twice.

PostgreSQL: the workers use the test database directly. SQLite: the test
database lives in memory, which another process cannot open, so it is copied
into a file for the workers and copied back afterwards (SQLite's backup API).
"""

import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from openpyxl import load_workbook

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.imports import services
from registry.imports.unsubscribes import unsubscribes_apply_start, unsubscribes_upload
from registry.marketing.models import MarketingExportRow
from registry.models import Consent, Customer
from registry.services import (
    audit_trail_export_request,
    marketing_list_export_request,
    register_export_request,
)

from .factories import ConsentFactory, CustomerFactory, UserFactory
from .test_imports import HEADER, csv_bytes, person
from .worker_tasks import record_run

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.django_db(transaction=True)


def database_url(tmp_path):
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    user, host, port = settings["USER"], settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


def share_database(tmp_path):
    """The environment of a worker process: the test database (SQLite: a copy)."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        copy = sqlite3.connect(tmp_path / "worker.sqlite3")
        connection.connection.backup(copy)
        copy.close()
    return {
        **os.environ,
        "DATABASE_URL": database_url(tmp_path),
        "EXPORT_DIR": str(tmp_path / "exports"),
        "DJANGO_SETTINGS_MODULE": "balansia.settings",
    }


def take_database_back(tmp_path):
    """SQLite: what the workers wrote, back into the test's database."""
    if connection.vendor == "sqlite":
        copy = sqlite3.connect(tmp_path / "worker.sqlite3")
        copy.backup(connection.connection)
        copy.close()


def run_workers(tmp_path, count=1, timeout=120):
    """Run `count` workers at once until no task is left; return their outputs."""
    env = share_database(tmp_path)
    command = [sys.executable, "manage.py", "db_worker", "--batch", "--no-reload", "-v2"]
    workers = [
        subprocess.Popen(
            [*command, "--worker-id", f"test-worker-{n}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(count)
    ]
    outputs = [worker.communicate(timeout=timeout)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * count, outputs
    take_database_back(tmp_path)
    return outputs


def test_an_import_is_checked_and_applied_by_the_worker(tmp_path, staff_member):
    rows = [person(), person(first="Eino", email="eino@example.invalid", phone="040 222 3344")]
    customer_import = services.import_upload(
        file_name="asiakkaat.csv", content=csv_bytes([HEADER, *rows]), by=staff_member
    )
    customer_import.refresh_from_db()
    assert customer_import.task_state == "queued" and customer_import.task_id
    run_workers(tmp_path)
    customer_import.refresh_from_db()
    assert customer_import.task_state == "done", customer_import.task_error
    assert customer_import.preview["counts"]["create"] == 2 and customer_import.row_count == 2

    customer_import.options = {**customer_import.options, "source": "web_registration"}
    customer_import.save()
    services.import_apply_start(customer_import=customer_import, by=staff_member)
    assert Customer.objects.count() == 0  # nothing in the request
    run_workers(tmp_path)
    customer_import.refresh_from_db()
    assert customer_import.status == "applied", customer_import.task_error
    assert customer_import.task_state == "done"
    assert Customer.objects.count() == 2


def test_an_unsubscribe_file_is_checked_and_applied_by_the_worker(tmp_path, register_manager):
    aino = CustomerFactory(email="aino.aijala@example.invalid")
    ConsentFactory(customer=aino)
    upload = unsubscribes_upload(
        file_name="pois.csv",
        content=b"Email,Status\nAINO.AIJALA@example.invalid,spam\nei.ketaan@example.invalid,\n",
        by=register_manager,
    )
    upload.refresh_from_db()
    assert upload.task_state == "queued" and upload.task_id and upload.preview == {}
    run_workers(tmp_path)
    upload.refresh_from_db()
    assert upload.task_state == "done", upload.task_error
    assert upload.row_count == 2 and upload.preview["counts"]["withdraw"] == 1
    assert upload.preview["sections"]["withdraw"][0]["customers"] == [aino.pk]

    unsubscribes_apply_start(upload=upload, by=register_manager)
    assert not Consent.objects.filter(method="newsletter_service").exists()  # nothing yet
    run_workers(tmp_path)
    upload.refresh_from_db()
    assert upload.status == "applied", upload.task_error
    assert upload.task_state == "done" and upload.content is None
    withdrawal = Consent.objects.get(method="newsletter_service")
    assert withdrawal.customer_id == aino.pk and withdrawal.complaint
    event = AuditEvent.objects.get(action="unsubscribes_imported")
    assert event.actor == register_manager and event.detail["customers"] == 1


def test_two_workers_run_each_of_fifty_tasks_exactly_once(tmp_path):
    results = [record_run.enqueue(number) for number in range(50)]
    outputs = run_workers(tmp_path, count=2)
    runs = Counter(
        int(n)
        for n in AuditEvent.objects.filter(action="test_task_ran").values_list(
            "target_id", flat=True
        )
    )
    assert runs == Counter(range(50)), "a task ran twice or never"
    finished = [record_run.get_result(result.id) for result in results]
    assert {result.status.name for result in finished} == {"SUCCESSFUL"}
    assert all(len(result.worker_ids) == 1 for result in finished)
    # Both took part (each took what the other had not locked).
    assert {result.worker_ids[0] for result in finished} == {"test-worker-0", "test-worker-1"}, (
        outputs
    )


def test_a_whole_register_export_is_written_by_the_worker(tmp_path, register_manager, settings):
    settings.EXPORT_DIR = tmp_path / "exports"
    CustomerFactory.create_batch(3)
    export = register_export_request(file_format="xlsx", purpose="siirto", by=register_manager)
    export.refresh_from_db()
    assert export.task_state == "queued" and not settings.EXPORT_DIR.exists()
    run_workers(tmp_path)
    export.refresh_from_db()
    assert export.task_state == "done", export.task_error
    assert export.row_count == 3 and export.progress_done == 3
    assert stat.S_IMODE(export.path.stat().st_mode) == 0o600
    workbook = load_workbook(export.path, read_only=True)
    assert len(list(workbook.active.iter_rows())) == 4


def read_csv(path):
    return path.read_text(encoding="utf-8-sig").splitlines()


def test_a_big_marketing_list_is_recorded_and_written_by_the_worker(
    tmp_path, register_manager, settings
):
    settings.EXPORT_DIR = tmp_path / "exports"
    for customer in CustomerFactory.create_batch(3):
        ConsentFactory(customer=customer)
    ConsentFactory(customer=CustomerFactory(first_name="+1+1", last_name="Aalto"))
    export = marketing_list_export_request(
        channel="email", purpose="kevään uutiskirje", count=4, by=register_manager
    )
    export.refresh_from_db()
    assert export.task_state == "queued" and not MarketingExportRow.objects.exists()
    event = AuditEvent.objects.get(action="marketing_list_exported")
    assert event.detail["purpose"] == "kevään uutiskirje" and event.detail["rows"] == 4
    run_workers(tmp_path)
    export.refresh_from_db()
    assert export.task_state == "done", export.task_error
    assert export.kind == "marketing" and export.row_count == 4
    assert MarketingExportRow.objects.count() == 4
    assert stat.S_IMODE(export.path.stat().st_mode) == 0o600
    lines = read_csv(export.path)
    assert len(lines) == 5 and lines[1].startswith("'+1+1;Aalto;")


def test_a_long_audit_trail_export_is_written_by_the_worker(tmp_path, register_manager, settings):
    settings.EXPORT_DIR = tmp_path / "exports"
    clerk = UserFactory(username="toimisto")
    for number in range(3):
        audit_event_create(action="customer_viewed", by=clerk, detail={"n": number})
    audit_event_create(action="@SUM(A1)", by=clerk)
    audit_event_create(action="customer_viewed", by=register_manager)
    filters = {"user": clerk, "action": "", "since": None, "until": None}
    export = audit_trail_export_request(filters=filters, count=4, by=register_manager)
    event = AuditEvent.objects.get(action="audit_trail_exported")
    assert event.detail == {"filters": {"user": "toimisto"}, "rows": 4}
    run_workers(tmp_path)
    export.refresh_from_db()
    assert export.task_state == "done", export.task_error
    assert export.kind == "audit" and export.row_count == 4
    assert stat.S_IMODE(export.path.stat().st_mode) == 0o600
    lines = read_csv(export.path)
    assert lines[0].startswith("time;user;action") and len(lines) == 5
    assert any(";'@SUM(A1);" in line for line in lines)


def test_a_worker_killed_in_the_middle_of_an_import_changes_nothing(
    tmp_path, staff_member, client, settings
):
    """The worker is killed (SIGKILL) after writing its first batch of
    customers and consents: the transaction is rolled back, and once its silence is longer
    than TASK_STALE_SECONDS the page says the import failed, to be tried again."""
    rows = [
        person(first="Aino", last=f"Äijälä-{name}", email=f"a{i}@example.invalid", phone="")
        for i, name in enumerate(["Aho", "Berg", "Dahl", "Eklund", "Forss"])
    ]
    customer_import = services.import_upload(
        file_name="asiakkaat.csv",
        content=csv_bytes([HEADER, *rows]),
        by=staff_member,
        check_rows=False,
    )
    customer_import.options = {**customer_import.options, "source": "web_registration"}
    customer_import.save()
    services.import_apply_start(customer_import=customer_import, by=staff_member)
    env = share_database(tmp_path)
    marker = tmp_path / "marker"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.slow_worker", str(marker), "--batch", "--no-reload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):
            if marker.exists():
                break
            time.sleep(0.1)
        assert marker.exists(), "the worker never reached the writing"
    finally:
        worker.kill()
        worker.wait(timeout=10)
    take_database_back(tmp_path)
    customer_import.refresh_from_db()
    assert Customer.objects.count() == 0
    assert customer_import.status == "pending" and customer_import.task_state == "running"
    assert customer_import.task_step == "write"
    settings.TASK_STALE_SECONDS = 0
    client.force_login(staff_member)
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert 'id="task-failed"' in page and 'name="preview"' in page

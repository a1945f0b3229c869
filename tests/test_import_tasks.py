"""The import as tasks: the upload only keeps the file, the worker checks and
imports it, the page shows the progress, a failure, a dead worker, a cancel.
(The real `manage.py db_worker` runs in tests/test_worker.py.)"""

import datetime
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from registry.audit.models import AuditEvent
from registry.imports import services, writing
from registry.imports.models import CustomerImport
from registry.imports.tasks import preview_import
from registry.models import Customer

from .test_imports import HEADER, csv_bytes, person

pytestmark = pytest.mark.django_db


def post_file(client, rows):
    response = client.post(
        reverse("registry:import-upload"),
        {"file": SimpleUploadedFile("asiakkaat.csv", csv_bytes([HEADER, *rows]))},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return CustomerImport.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1])


NAMES = ["Aho", "Berg", "Carlsson", "Dahl", "Eklund", "Forss", "Grön", "Hakala"]


def people(count):
    return [
        person(first="Aino", last=f"Äijälä-{name}", email=f"a{i}@example.invalid", phone="")
        for i, name in enumerate(NAMES[:count])
    ]


def mapping_data(customer_import, **changes):
    data = {f"column_{i}": target for i, target in enumerate(customer_import.mapping)}
    data.update(source="web_registration", consent_method="web_form")
    data.update(changes)
    return data


def test_the_upload_keeps_the_file_and_queues_the_check_for_the_worker(
    client, staff_member, django_capture_on_commit_callbacks, monkeypatch
):
    client.force_login(staff_member)
    read = []
    original = services.read_table
    monkeypatch.setattr(
        services, "read_table", lambda *a, **kw: read.append(kw) or original(*a, **kw)
    )
    with django_capture_on_commit_callbacks(execute=True):
        customer_import = post_file(client, people(3))
    # Only the first rows were read in the request; the rest waits for the worker.
    assert read == [{"first": 3}]
    customer_import.refresh_from_db()
    assert customer_import.task_state == "queued" and customer_import.task_step == "analyse"
    # Nothing checked yet: only the examples of the columns are kept.
    assert list(customer_import.preview) == ["samples"] and customer_import.row_count == 0
    waiting = DBTaskResult.objects.get(id=customer_import.task_id)
    assert waiting.status == "READY"
    assert waiting.task_path == "registry.imports.tasks.preview_import"
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert "data-task-progress" in page and "js/task-progress.js" in page
    assert "Odotetaan" in page or "Waiting" in page


def test_cancel_drops_a_waiting_task(client, staff_member, django_capture_on_commit_callbacks):
    client.force_login(staff_member)
    with django_capture_on_commit_callbacks(execute=True):
        customer_import = post_file(client, people(2))
    customer_import.refresh_from_db()
    response = client.post(customer_import.get_absolute_url(), {"cancel": ""})
    assert response.status_code == 302
    customer_import.refresh_from_db()
    assert customer_import.status == "cancelled" and customer_import.content is None
    assert not DBTaskResult.objects.exists()


def test_the_page_shows_rows_done_of_the_total_with_a_bar(client, staff_member):
    client.force_login(staff_member)
    customer_import = post_file(client, people(2))
    CustomerImport.objects.filter(pk=customer_import.pk).update(
        task_state="running",
        task_step="analyse",
        progress_done=1500,
        progress_total=6000,
        heartbeat_at=timezone.now(),
    )
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert '<progress class="w-100" id="task-bar" max="6000" value="1500"' in page
    assert "1500 / 6000" in page and "(25 %)" in page
    assert 'name="cancel"' in page


@pytest.mark.usefixtures("immediate_tasks")
def test_the_worker_checks_the_rows_and_the_page_shows_the_preview(client, staff_member):
    client.force_login(staff_member)
    customer_import = post_file(client, people(3))
    customer_import.refresh_from_db()
    assert customer_import.task_state == "done" and customer_import.row_count == 3
    assert customer_import.preview["counts"] == {"create": 3, "match": 0, "reject": 0}
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert 'id="preview-table"' in page and "data-task-progress" not in page


@pytest.mark.usefixtures("immediate_tasks")
def test_confirm_imports_in_the_worker_with_the_requests_address(client, staff_member):
    client.force_login(staff_member)
    customer_import = post_file(client, people(3))
    response = client.post(
        customer_import.get_absolute_url(),
        {**mapping_data(customer_import), "confirm": ""},
        REMOTE_ADDR="192.0.2.7",
    )
    assert response.status_code == 302
    customer_import.refresh_from_db()
    assert customer_import.status == "applied" and customer_import.created_count == 3
    assert customer_import.task_state == "done"
    event = customer_import_event(customer_import)
    assert event.ip_address == "192.0.2.7" and event.actor == staff_member


def customer_import_event(customer_import):
    return AuditEvent.objects.get(action="customers_imported", target_id=str(customer_import.pk))


@pytest.mark.usefixtures("immediate_tasks")
def test_a_failed_check_is_shown_with_its_reason_and_logged_with_the_task_id(
    client, staff_member, settings, caplog
):
    settings.IMPORT_MAX_ROWS = 2
    client.force_login(staff_member)
    with caplog.at_level(logging.ERROR, logger="registry.background"):
        customer_import = post_file(client, people(5))
    customer_import.refresh_from_db()
    assert customer_import.task_state == "failed"
    assert (
        "more than 2 rows" in customer_import.task_error or "2 riviä" in customer_import.task_error
    )
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert 'id="task-failed"' in page and customer_import.task_error in page
    [record] = [r for r in caplog.records if r.name == "registry.background"]
    assert customer_import.task_id and customer_import.task_id in record.getMessage()


@pytest.mark.usefixtures("immediate_tasks")
def test_an_error_in_the_middle_of_the_writing_leaves_the_register_as_it_was(
    client, staff_member, monkeypatch
):
    client.force_login(staff_member)
    customer_import = post_file(client, people(5))
    calls = []

    def fail_in_the_third_batch(row):
        calls.append(1)
        if len(calls) == 5:  # the first row of the third batch of two
            raise RuntimeError("disk full")
        return original(row)

    # (Called for each row by both ways of writing, COPY and bulk_create.)
    original = writing.row_search_text
    monkeypatch.setattr(writing, "row_search_text", fail_in_the_third_batch)
    monkeypatch.setattr(services, "import_apply", _with_batch_size(services.import_apply, 2))
    client.post(
        customer_import.get_absolute_url(), {**mapping_data(customer_import), "confirm": ""}
    )
    customer_import.refresh_from_db()
    assert len(calls) == 5  # two batches were written before the error...
    assert Customer.objects.count() == 0  # ...and rolled back with it
    assert customer_import.status == "pending" and customer_import.task_state == "failed"
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert 'id="task-failed"' in page
    # The reason of an unexpected error is in the log, not on the page.
    assert "disk full" not in page


def _with_batch_size(function, batch_size):
    def call(**kwargs):
        return function(**kwargs, batch_size=batch_size)

    return call


def test_a_worker_that_died_shows_failed_try_again(client, staff_member, settings):
    """A worker killed in the middle leaves "running" and an old heartbeat;
    after TASK_STALE_SECONDS the page says it failed, and confirming again
    starts a new task."""
    client.force_login(staff_member)
    customer_import = post_file(client, people(2))
    CustomerImport.objects.filter(pk=customer_import.pk).update(
        task_state="running",
        task_step="write",
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=settings.TASK_STALE_SECONDS - 5),
    )
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert "data-task-progress" in page  # still alive as far as anyone can tell
    CustomerImport.objects.filter(pk=customer_import.pk).update(
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=settings.TASK_STALE_SECONDS + 5)
    )
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert "data-task-progress" not in page and 'id="task-failed"' in page
    assert 'name="preview"' in page  # the form is back: try again


def test_a_task_for_a_cancelled_import_does_nothing(staff_member):
    customer_import = services.import_upload(
        file_name="a.csv", content=csv_bytes([HEADER, person()]), by=staff_member
    )
    services.import_cancel(customer_import=customer_import)
    assert preview_import.call(None, customer_import.pk) is None
    customer_import.refresh_from_db()
    assert customer_import.preview == {} and customer_import.status == "cancelled"


def failed_task(finished_at):
    return DBTaskResult.objects.create(
        status="FAILED",
        finished_at=finished_at,
        run_after=finished_at,
        args_kwargs={"args": [1], "kwargs": {}},
        task_path="registry.imports.tasks.apply_import",
        backend_name="default",
        exception_class_path="builtins.RuntimeError",
        traceback="",
    )


def test_the_register_managers_dashboard_counts_failed_tasks_of_the_last_day(
    client, register_manager, staff_member, settings
):
    client.force_login(register_manager)
    assert 'id="failed-tasks"' not in client.get("/").content.decode()
    failed_task(timezone.now() - datetime.timedelta(hours=2))
    failed_task(timezone.now() - datetime.timedelta(days=2))  # older: not counted
    # A worker that died does not record a failure: its silence counts.
    customer_import = services.import_upload(
        file_name="a.csv", content=csv_bytes([HEADER, person()]), by=staff_member
    )
    CustomerImport.objects.filter(pk=customer_import.pk).update(
        task_state="running",
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=settings.TASK_STALE_SECONDS + 5),
    )
    page = client.get("/").content.decode()
    assert 'id="failed-tasks"' in page
    assert "2 taustatyötä epäonnistui" in page
    client.force_login(staff_member)  # not the monitoring card's reader
    assert 'id="failed-tasks"' not in client.get("/").content.decode()

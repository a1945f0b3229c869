"""The unsubscribe import as tasks, as the customer import's: the upload only
keeps the file, the worker checks every address for the preview and applies
it, the page shows the progress, a failure, a dead worker, a cancel; a
second confirmation starts nothing more. (The real `manage.py db_worker`
runs in tests/test_worker.py.)"""

import datetime
import logging
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from registry.audit.models import AuditEvent
from registry.imports import unsubscribes
from registry.imports.models import UnsubscribeImport
from registry.imports.tasks import apply_unsubscribes, preview_unsubscribes
from registry.models import Consent

from .factories import ConsentFactory, CustomerFactory

pytestmark = pytest.mark.django_db

UPLOAD = reverse("registry:unsubscribe-upload")


@pytest.fixture
def aino(db):
    customer = CustomerFactory(
        first_name="Aino", last_name="Äijälä", email="aino.aijala@example.invalid"
    )
    ConsentFactory(customer=customer)
    return customer


def addresses(*emails):
    return (
        "Email Address,UNSUB_TIME\n" + "".join(f"{e},2026-03-05 12:00\n" for e in emails)
    ).encode()


def post_file(client, content, name="unsubscribed.csv"):
    response = client.post(UPLOAD, {"file": SimpleUploadedFile(name, content, "text/csv")})
    assert response.status_code == 302, response.content.decode()[:2000]
    return UnsubscribeImport.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1])


def checked(upload):
    """The upload after the worker's check (its task, called here)."""
    assert preview_unsubscribes.call(None, upload.pk) is not None
    upload.refresh_from_db()
    assert upload.task_state == "done"
    return upload


def tasks_of(path):
    return DBTaskResult.objects.filter(task_path=f"registry.imports.tasks.{path}")


def test_the_upload_keeps_the_file_and_queues_the_check_for_the_worker(
    client, register_manager, aino, django_capture_on_commit_callbacks, monkeypatch
):
    client.force_login(register_manager)
    read = []
    original = unsubscribes.read_table
    monkeypatch.setattr(
        unsubscribes, "read_table", lambda *a, **kw: read.append(kw) or original(*a, **kw)
    )
    with django_capture_on_commit_callbacks(execute=True):
        upload = post_file(client, addresses(aino.email, "ei.ketaan@example.invalid"))
    # Only the first rows were read in the request; the rest waits for the worker.
    assert read == [{"first": unsubscribes.COLUMN_SAMPLE}]
    upload.refresh_from_db()
    assert upload.task_state == "queued" and upload.task_step == "analyse"
    assert upload.preview == {} and upload.row_count == 0 and upload.content
    waiting = DBTaskResult.objects.get(id=upload.task_id)
    assert waiting.status == "READY"
    assert waiting.task_path == "registry.imports.tasks.preview_unsubscribes"
    event = AuditEvent.objects.get(action="import_uploaded")
    assert event.detail["file"] == "unsubscribed.csv" and event.target_id == str(upload.pk)
    page = client.get(upload.get_absolute_url())
    text = page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert "data-task-progress" in text and "js/task-progress.js" in text
    assert "Odotetaan" in text or "Waiting" in text
    # Without JavaScript: a link to look again, and the cancel button.
    assert '<a href="">' in text and 'name="cancel"' in text and 'name="confirm"' not in text
    # No names shown yet, so nothing read.
    assert aino.last_name not in text
    assert not AuditEvent.objects.filter(action="customer_searched").exists()


def test_the_page_shows_addresses_done_of_the_total_with_a_bar(client, register_manager):
    client.force_login(register_manager)
    upload = post_file(client, addresses("a@example.invalid"))
    UnsubscribeImport.objects.filter(pk=upload.pk).update(
        task_state="running",
        task_step="analyse",
        progress_done=1500,
        progress_total=6000,
        heartbeat_at=timezone.now(),
    )
    text = client.get(upload.get_absolute_url()).content.decode()
    assert '<progress class="w-100" id="task-bar" max="6000" value="1500"' in text
    assert "1500 / 6000" in text and "(25 %)" in text
    uploads = client.get(UPLOAD).content.decode()
    assert "(25 %)" in uploads  # the list of latest files follows it too


@pytest.mark.usefixtures("immediate_tasks")
def test_the_worker_checks_the_file_and_the_page_shows_the_preview(client, register_manager, aino):
    client.force_login(register_manager)
    upload = post_file(client, addresses(aino.email.upper(), "ei.ketaan@example.invalid"))
    upload.refresh_from_db()
    assert upload.task_state == "done" and upload.row_count == 2
    assert upload.preview["counts"]["withdraw"] == 1 and upload.preview["matched"] == 1
    # The kept preview holds the customers' ids, not their names: the page
    # reads the names as they are when it is shown.
    assert "Äijälä" not in str(upload.preview)
    aino.last_name = "Äijälä-Berg"
    aino.save()
    text = client.get(upload.get_absolute_url()).content.decode()
    assert "data-task-progress" not in text and "Äijälä-Berg" in text
    assert 'name="confirm"' in text
    read = AuditEvent.objects.get(action="customer_searched")
    assert read.detail["via"] == "unsubscribes"
    assert list(read.shown_customers.values_list("customer_id", flat=True)) == [aino.pk]


@pytest.mark.usefixtures("immediate_tasks")
def test_a_failed_check_is_shown_with_its_reason_and_logged_with_the_task_id(
    client, register_manager, settings, caplog
):
    """A file whose first rows are fine but which is too long: the upload
    takes it, the worker refuses it, the page says why (no 500)."""
    settings.IMPORT_MAX_ROWS = 2
    client.force_login(register_manager)
    with caplog.at_level(logging.ERROR, logger="registry.background"):
        upload = post_file(client, addresses(*(f"a{n}@example.invalid" for n in range(5))))
    upload.refresh_from_db()
    assert upload.task_state == "failed" and upload.task_step == "read"
    assert "2 riviä" in upload.task_error or "more than 2 rows" in upload.task_error
    page = client.get(upload.get_absolute_url())
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="task-failed"' in text and upload.task_error in text
    assert 'name="confirm"' not in text and 'name="cancel"' in text
    [record] = [r for r in caplog.records if r.name == "registry.background"]
    assert upload.task_id and upload.task_id in record.getMessage()


def test_cancel_drops_a_waiting_task(client, register_manager, django_capture_on_commit_callbacks):
    client.force_login(register_manager)
    with django_capture_on_commit_callbacks(execute=True):
        upload = post_file(client, addresses("a@example.invalid"))
    response = client.post(upload.get_absolute_url(), {"cancel": ""})
    assert response.url == UPLOAD
    upload.refresh_from_db()
    assert upload.status == "cancelled" and upload.content is None and upload.preview == {}
    assert not DBTaskResult.objects.exists()
    assert preview_unsubscribes.call(None, upload.pk) is None


def test_a_second_confirmation_starts_nothing_more(
    client, register_manager, aino, django_capture_on_commit_callbacks
):
    client.force_login(register_manager)
    upload = checked(post_file(client, addresses(aino.email)))
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # a double click
            response = client.post(upload.get_absolute_url(), {"confirm": ""})
            assert response.status_code == 302
    [waiting] = tasks_of("apply_unsubscribes")
    upload.refresh_from_db()
    assert upload.task_state == "queued" and upload.task_step == "check"
    assert not Consent.objects.filter(method="newsletter_service").exists()  # not in the request
    text = client.get(upload.get_absolute_url()).content.decode()
    assert "data-task-progress" in text and 'name="confirm"' not in text
    apply_unsubscribes.call(None, upload.pk, register_manager.pk, "192.0.2.7")
    apply_unsubscribes.call(None, upload.pk, register_manager.pk, "192.0.2.7")  # run twice
    assert Consent.objects.filter(method="newsletter_service").count() == 1
    upload.refresh_from_db()
    assert upload.status == "applied" and upload.task_state == "done"
    # A confirmation after it is done: said so, nothing more.
    response = client.post(upload.get_absolute_url(), {"confirm": ""}, follow=True)
    assert list(response.context["messages"])
    assert Consent.objects.filter(method="newsletter_service").count() == 1
    assert AuditEvent.objects.filter(action="unsubscribes_imported").count() == 1
    assert waiting.task_path.endswith("apply_unsubscribes")


@pytest.mark.usefixtures("immediate_tasks")
def test_an_error_in_the_writing_leaves_the_ledger_as_it_was(
    client, register_manager, aino, monkeypatch
):
    client.force_login(register_manager)
    upload = post_file(client, addresses(aino.email))

    def disk_full():
        raise RuntimeError("disk full")

    with monkeypatch.context() as patched:
        patched.setattr(unsubscribes, "reach_changed", disk_full)
        client.post(upload.get_absolute_url(), {"confirm": ""})
    upload.refresh_from_db()
    assert upload.status == "pending" and upload.task_state == "failed"
    assert upload.task_step == "write"
    assert not Consent.objects.filter(method="newsletter_service").exists()
    assert not AuditEvent.objects.filter(action="unsubscribes_imported").exists()
    text = client.get(upload.get_absolute_url()).content.decode()
    assert 'id="task-failed"' in text and "disk full" not in text
    # The preview is still there: confirm again.
    assert 'name="confirm"' in text
    client.post(upload.get_absolute_url(), {"confirm": ""})
    upload.refresh_from_db()
    assert upload.status == "applied"
    assert Consent.objects.filter(method="newsletter_service").count() == 1


def test_a_worker_that_died_shows_failed_check_again(client, register_manager, settings):
    client.force_login(register_manager)
    upload = post_file(client, addresses("a@example.invalid"))
    UnsubscribeImport.objects.filter(pk=upload.pk).update(
        task_state="running",
        task_step="analyse",
        heartbeat_at=timezone.now() - datetime.timedelta(seconds=settings.TASK_STALE_SECONDS + 5),
    )
    text = client.get(upload.get_absolute_url()).content.decode()
    assert "data-task-progress" not in text and 'id="task-failed"' in text
    assert 'name="preview"' in text and 'name="confirm"' not in text
    response = client.post(upload.get_absolute_url(), {"preview": ""})
    assert response.status_code == 302
    upload.refresh_from_db()
    assert upload.task_state == "queued" and upload.task_step == "analyse"


def test_a_confirmation_before_the_check_is_refused(client, register_manager, settings):
    client.force_login(register_manager)
    upload = post_file(client, addresses("a@example.invalid"))
    UnsubscribeImport.objects.filter(pk=upload.pk).update(task_state="")
    response = client.post(upload.get_absolute_url(), {"confirm": ""}, follow=True)
    assert response.status_code == 200 and list(response.context["messages"])
    assert not tasks_of("apply_unsubscribes").exists()


def test_an_expired_file_is_discarded_and_cannot_be_confirmed(
    client, register_manager, aino, settings
):
    client.force_login(register_manager)
    upload = checked(post_file(client, addresses(aino.email)))
    old = timezone.now() - datetime.timedelta(hours=settings.IMPORT_PENDING_HOURS + 1)
    UnsubscribeImport.objects.filter(pk=upload.pk).update(created_at=old)
    text = client.get(upload.get_absolute_url()).content.decode()
    assert 'name="confirm"' not in text
    client.post(upload.get_absolute_url(), {"confirm": ""})
    assert not tasks_of("apply_unsubscribes").exists()
    call_command("expire_imports", stdout=StringIO())
    upload.refresh_from_db()
    assert upload.status == "cancelled" and upload.content is None and upload.preview == {}
    # A task still queued for it does nothing.
    assert apply_unsubscribes.call(None, upload.pk, register_manager.pk, None) is None
    assert not Consent.objects.filter(method="newsletter_service").exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_who_may_use_the_pages(client, register_manager, staff_member, method):
    """Anonymous: to the login page; office staff (no marketing lists): 403;
    the register manager: the page. A POST of someone else queues nothing."""
    upload = unsubscribes.unsubscribes_upload(
        file_name="a.csv", content=addresses("a@example.invalid"), by=register_manager
    )
    checked(upload)
    data = {"confirm": ""} if method == "post" else None
    for url in [UPLOAD, upload.get_absolute_url()]:
        response = getattr(client, method)(url, data)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
        client.force_login(staff_member)
        assert getattr(client, method)(url, data).status_code == 403
        client.logout()
    assert not tasks_of("apply_unsubscribes").exists()
    client.force_login(register_manager)
    assert client.get(UPLOAD).status_code == 200
    assert client.get(upload.get_absolute_url()).status_code == 200
    missing = reverse("registry:unsubscribe-detail", args=[upload.pk + 1000])
    assert getattr(client, method)(missing, data).status_code == 404

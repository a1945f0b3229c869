"""The whole-register export (register manager): asked for in a request,
written by the task worker into a file, downloaded once by the person who
asked. (The real `manage.py db_worker` writes one in tests/test_worker.py.)"""

import csv
import datetime
import io
import stat

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from openpyxl import load_workbook

from registry import services
from registry.audit.models import AuditEvent
from registry.models import RegisterExport
from registry.rights.erasure import customer_erase
from registry.roles import REGISTER_MANAGER

from .factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_tasks", "export_dir")]


def export(client, data):
    """Ask for an export, follow it to its page and download it: the response."""
    asked = client.post(reverse("registry:register-export"), data)
    assert asked.status_code == 302, asked.content.decode()[:3000]
    page = client.get(asked.url)
    assert 'id="export-ready"' in page.content.decode()
    return client.post(asked.url + "download/")


def content_of(response):
    return b"".join(response.streaming_content)


def test_csv_holds_every_customer_safely_and_is_audited(client, register_manager):
    CustomerFactory(first_name="=HYPERLINK(1)", phone="+358401234567")
    CustomerFactory.create_batch(2)
    client.force_login(register_manager)
    response = export(client, {"file_format": "csv", "purpose": "siirto uuteen järjestelmään"})
    assert response["Content-Disposition"].startswith('attachment; filename="asiakasrekisteri-')
    text = content_of(response).decode()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["etunimi", "sukunimi", "sähköposti", "puhelin"]
    assert len(rows) == 4
    assert rows[1][0] == "'=HYPERLINK(1)" and rows[1][3] == "040 1234567"
    event = AuditEvent.objects.get(action=AuditEvent.Action.REGISTER_EXPORTED)
    assert event.detail == {"rows": 3, "format": "csv", "purpose": "siirto uuteen järjestelmään"}


def test_xlsx_export_streams_a_file(client, register_manager):
    CustomerFactory(first_name="=1+1")
    client.force_login(register_manager)
    response = export(client, {"file_format": "xlsx", "purpose": "varmistus"})
    workbook = load_workbook(io.BytesIO(content_of(response)))
    values = [[cell.value for cell in row] for row in workbook.active.iter_rows()]
    assert values[1][0] == "'=1+1" and len(values) == 2


def test_no_purpose_no_export(client, register_manager):
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:register-export"), {"file_format": "csv", "purpose": ""}
    )
    assert "purpose" in response.context["form"].errors
    assert not AuditEvent.objects.filter(action="register_exported").exists()


def test_the_export_gives_days_in_local_time_and_phones_as_people_write_them(
    client, register_manager
):

    # 23:30 UTC on 31 May is already 1 June in Finland.
    added = datetime.datetime(2026, 5, 31, 23, 30, tzinfo=datetime.UTC)
    CustomerFactory(phone="+46701234567", created_at=added, last_activity_at=added)
    client.force_login(register_manager)
    response = export(client, {"file_format": "csv", "purpose": "tarkistus"})
    text = content_of(response).decode()
    header, row = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    values = dict(zip(header, row, strict=True))
    assert timezone.get_current_timezone_name() == "Europe/Helsinki"
    assert values["lisätty"] == "2026-06-01" and values["viimeisin toiminta"] == "2026-06-01"
    assert values["puhelin"] == "'+46 70 123 45 67"


def test_the_file_is_only_the_askers_to_download_once_then_gone(
    client, register_manager, export_dir
):
    CustomerFactory.create_batch(2)
    client.force_login(register_manager)
    asked = client.post(
        reverse("registry:register-export"), {"file_format": "csv", "purpose": "siirto"}
    )
    done = RegisterExport.objects.get()
    assert done.task_state == "done" and done.row_count == 2
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o600
    assert list(export_dir.iterdir()) == [done.path]
    # Another register manager does not even see it.
    other = UserFactory(username="toinen", roles=[REGISTER_MANAGER], is_staff=True)
    TOTPDevice.objects.create(user=other, name="authenticator", confirmed=True)
    client.force_login(other)
    assert client.get(asked.url).status_code == 404
    assert client.post(asked.url + "download/").status_code == 404
    client.force_login(register_manager)
    assert len(content_of(client.post(asked.url + "download/")).splitlines()) == 3
    assert list(export_dir.iterdir()) == []  # deleted as it was sent
    again = client.post(asked.url + "download/", follow=True)
    assert 'id="export-gone"' in again.content.decode()


def test_the_page_shows_the_progress_while_the_worker_writes(client, register_manager):
    client.force_login(register_manager)
    waiting = RegisterExport.objects.create(
        requested_by=register_manager,
        file_format="xlsx",
        task_state="running",
        progress_done=40_000,
        progress_total=200_000,
        heartbeat_at=timezone.now(),
    )
    page = client.get(waiting.get_absolute_url()).content.decode()
    assert 'max="200000" value="40000"' in page and "(20 %)" in page
    assert "js/task-progress.js" in page
    assert client.post(waiting.get_absolute_url() + "download/").status_code == 302


def test_an_export_waits_an_hour_then_the_daily_command_deletes_it(
    client, register_manager, export_dir, settings
):
    CustomerFactory()
    client.force_login(register_manager)
    asked = client.post(
        reverse("registry:register-export"), {"file_format": "csv", "purpose": "siirto"}
    )
    done = RegisterExport.objects.get()
    call_command("expire_exports", stdout=io.StringIO())
    assert done.path.exists()  # within the hour
    RegisterExport.objects.update(
        requested_at=timezone.now() - datetime.timedelta(minutes=settings.EXPORT_KEEP_MINUTES + 1)
    )
    page = client.get(asked.url).content.decode()
    assert 'id="export-gone"' in page
    out = io.StringIO()
    call_command("expire_exports", stdout=out)
    assert out.getvalue().startswith("Deleted the files of 1 exports")
    assert not done.path.exists() and list(export_dir.iterdir()) == []


def test_a_failed_export_says_so_and_the_dashboard_counts_it(
    client, register_manager, monkeypatch
):
    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(services, "export_file_write", broken)
    monkeypatch.setattr(services, "export_file_copy", broken)  # PostgreSQL's CSV
    client.force_login(register_manager)
    asked = client.post(
        reverse("registry:register-export"), {"file_format": "csv", "purpose": "siirto"}
    )
    page = client.get(asked.url).content.decode()
    assert 'id="task-failed"' in page and "No space" not in page
    failed = RegisterExport.objects.get()
    assert failed.task_state == "failed"


def test_the_export_page_lists_your_exports_of_the_last_hour(client, register_manager):
    client.force_login(register_manager)
    mine = RegisterExport.objects.create(requested_by=register_manager, file_format="csv")
    other = RegisterExport.objects.create(requested_by=UserFactory(), file_format="xlsx")
    page = client.get(reverse("registry:register-export")).content.decode()
    assert 'id="waiting-exports"' in page and mine.get_absolute_url() in page
    assert other.get_absolute_url() not in page
    RegisterExport.objects.update(requested_at=timezone.now() - datetime.timedelta(hours=2))
    assert (
        'id="waiting-exports"'
        not in client.get(reverse("registry:register-export")).content.decode()
    )


def test_an_erasure_deletes_every_waiting_export_file(client, register_manager, export_dir):
    customer = CustomerFactory(first_name="Poistettava")
    client.force_login(register_manager)
    client.post(reverse("registry:register-export"), {"file_format": "csv", "purpose": "siirto"})
    waiting = RegisterExport.objects.get()
    assert "Poistettava" in waiting.path.read_text(encoding="utf-8")
    customer_erase(customer=customer, by=register_manager)
    waiting.refresh_from_db()
    assert list(export_dir.iterdir()) == [] and waiting.deleted_at is not None
    assert not waiting.downloadable

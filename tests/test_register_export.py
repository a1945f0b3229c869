"""The whole-register export (register manager)."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from registry.audit.models import AuditEvent

from .factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_csv_holds_every_customer_safely_and_is_audited(client, register_manager):
    CustomerFactory(first_name="=HYPERLINK(1)", phone="+358401234567")
    CustomerFactory.create_batch(2)
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:register-export"),
        {"file_format": "csv", "purpose": "siirto uuteen järjestelmään"},
    )
    assert response["Content-Disposition"].startswith('attachment; filename="asiakasrekisteri-')
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["etunimi", "sukunimi", "sähköposti", "puhelin"]
    assert len(rows) == 4
    assert rows[1][0] == "'=HYPERLINK(1)" and rows[1][3] == "040 1234567"
    event = AuditEvent.objects.get(action=AuditEvent.Action.REGISTER_EXPORTED)
    assert event.detail == {"rows": 3, "format": "csv", "purpose": "siirto uuteen järjestelmään"}


def test_xlsx_export_streams_a_file(client, register_manager):
    CustomerFactory(first_name="=1+1")
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:register-export"), {"file_format": "xlsx", "purpose": "varmistus"}
    )
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
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
    response = client.post(
        reverse("registry:register-export"), {"file_format": "csv", "purpose": "tarkistus"}
    )
    text = b"".join(response.streaming_content).decode()
    header, row = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    values = dict(zip(header, row, strict=True))
    assert timezone.get_current_timezone_name() == "Europe/Helsinki"
    assert values["lisätty"] == "2026-06-01" and values["viimeisin toiminta"] == "2026-06-01"
    assert values["puhelin"] == "'+46 70 123 45 67"

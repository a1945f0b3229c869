"""Holes found by the third outside probe (of the queued exports, the paged
attendance lists and the customer list built in the view), each with a test
that failed before its fix."""

import datetime
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.audit.selectors import AUDIT_TRAIL_HEADER, audit_trail_rows
from registry.audit.services import customer_viewed
from registry.models import Customer, RegisterExport
from registry.services import register_export_rows

from .factories import CourseFactory, CustomerFactory
from .test_reauthentication import make_stale

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("stored", ["abc", "+999123", "+358"])
def test_a_phone_stored_past_validation_does_not_break_the_customer_list(
    client, staff_member, stored
):
    """An update() stores an invalid number as typed (the phone field keeps
    its raw input); the list reads the column's text, and one such row made
    every page of the list showing it answer 500."""
    customer = CustomerFactory(last_name="Puhelinvika")
    Customer.objects.filter(pk=customer.pk).update(phone=stored)
    client.force_login(staff_member)
    response = client.get(reverse("registry:customer-list"), {"q": "Puhelinvika"})
    assert response.status_code == 200
    assert stored in response.content.decode()


def test_a_phone_stored_past_validation_does_not_stop_the_register_export():
    """The whole-register export reads the phone's stored text too: one such
    row failed the task, and with it the register manager's export."""
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(phone="+999123")
    columns, rows = register_export_rows()
    phone = columns.index("phone")
    assert [row[phone] for row in rows] == ["+999123"]


@pytest.mark.usefixtures("immediate_tasks")
def test_a_download_asked_with_a_stale_login_comes_back_to_the_exports_page(
    client, register_manager, password, settings, tmp_path
):
    """The download is a POST; with a stale login the password is confirmed
    first and the browser comes back with a GET of the download's address.
    That was a blank 405; it is the export's page, whose button downloads
    the file (still there: nothing was sent)."""
    settings.EXPORT_DIR = tmp_path / "exports"
    CustomerFactory()
    client.force_login(register_manager)
    asked = client.post(
        reverse("registry:register-export"), {"file_format": "csv", "purpose": "siirto"}
    )
    download = asked.url + "download/"
    make_stale(client)
    refused = client.post(download)
    confirmed = client.post(refused.url, {"password": password, "next": download})
    assert confirmed.url == download
    back = client.get(confirmed.url)
    assert back.status_code == 302 and back.url == asked.url
    assert 'id="export-ready"' in client.get(back.url).content.decode()
    assert client.post(download).status_code == 200


# Not `page`: that is the browser fixture's name (pytest-playwright), and a
# parameter of that name made these browser tests, run after the others.
@pytest.mark.parametrize("number", ["²", "\u0661", "9" * 10000])
def test_a_saved_roll_call_returns_only_to_a_plain_page_number(client, instructor, number):
    """A save returns to ?page= of its list; a superscript or Arabic-Indic
    digit, or 10,000 digits, went back into the Location header as sent."""
    start = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=1)
    course = CourseFactory(
        instructor=instructor, sessions=[(start, start + datetime.timedelta(hours=1))]
    )
    session = course.sessions.get()
    url = reverse("courses:roll-call", args=[course.pk, session.pk])
    client.force_login(instructor)
    saved = client.post(f"{url}?page={number}", {})
    assert saved.status_code == 302 and saved.url == url
    assert client.post(f"{url}?page=2", {}).url == f"{url}?page=2"


@pytest.mark.parametrize("bad", ["customer=-5", "user=abc", "since=2026-02-30"])
def test_an_audit_trail_export_with_an_invalid_filter_exports_nothing(
    client, register_manager, staff_member, bad
):
    """The trail's page leaves an invalid filter out and shows its error; its
    Export button posts the same query, and exported the whole trail, more
    than the register manager asked for. The export is refused instead, back
    to the page showing the error."""
    customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    url = reverse("registry:audit-export") + f"?user={staff_member.pk}&{bad}"
    refused = client.post(url)
    assert refused.status_code == 302
    assert refused.url == reverse("registry:audit-trail") + f"?user={staff_member.pk}&{bad}"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED).exists()
    assert not RegisterExport.objects.exists()
    valid = reverse("registry:audit-export") + f"?user={staff_member.pk}"
    assert client.post(valid).status_code == 200


def test_the_audit_trail_exports_each_events_detail_as_json(staff_member):
    """The detail column was Python's repr of a dict ({'rows': 59, ...}):
    no CSV reader or spreadsheet user can parse it back; JSON they can."""
    customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    event = AuditEvent.objects.get()
    (row,) = audit_trail_rows(AuditEvent.objects.all())
    assert json.loads(row[AUDIT_TRAIL_HEADER.index("detail")]) == event.detail

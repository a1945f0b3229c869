"""The monitoring of access counts every read of customer records.

The privacy notice: access is monitored by the register manager. The
unusual-activity alert, the access review and the health page count the
customer records each user read from the audit trail; each action of the
trail is either such a read, with how many records it counts, or listed as
not one (registry/audit/reads.py). The audit of the monitoring found the
downloads of an import's rejected rows and the exports of the audit trail
uncounted, and import pages that showed the rows of a file with no event.
"""

import pytest
from django.urls import reverse

from registry.accounts.selectors import access_review, unusual_activity
from registry.audit.models import AuditEvent
from registry.audit.reads import NOT_READS, READS, Read
from registry.audit.services import audit_event_create, customer_viewed
from registry.imports.models import CustomerImport

from .factories import CustomerFactory, CustomerImportFactory
from .test_import_views import post_file
from .test_imports import HEADER, csv_bytes, person

pytestmark = pytest.mark.django_db


def records_by(username):
    return [a["records"] for a in unusual_activity() if a["username"] == username]


def test_every_audit_action_is_a_read_or_listed_as_not_one():
    """A new action fails here until it is classified: a read of customer
    records with its count (one, or the event's `rows`), or not a read with
    the reason."""
    actions = set(AuditEvent.Action)
    assert not set(READS) & set(NOT_READS)
    unclassified = actions - set(READS) - set(NOT_READS)
    assert not unclassified, f"classify in registry/audit/reads.py: {sorted(unclassified)}"
    assert set(READS) | set(NOT_READS) == actions  # nothing that is no action
    assert all(isinstance(read, Read) for read in READS.values())
    assert all(isinstance(why, str) and why for why in NOT_READS.values())


def test_a_read_counts_one_or_its_rows_as_classified(staff_member, settings):
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 0
    customer = CustomerFactory()
    # A page about one customer counts one, whatever its detail says.
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_VIEWED, by=staff_member, detail={"rows": 500}
    )
    customer_viewed(customer=customer, by=staff_member, request=None)
    assert records_by("toimisto") == [2]
    # A file counts its rows; one without a count (an old event) one.
    audit_event_create(
        action=AuditEvent.Action.PARTICIPANT_LIST_EXPORTED, by=staff_member, detail={"rows": 7}
    )
    audit_event_create(action=AuditEvent.Action.MARKETING_LIST_EXPORTED, by=staff_member)
    assert records_by("toimisto") == [10]
    # What is no read counts nothing, a `rows` in it neither.
    audit_event_create(
        action=AuditEvent.Action.CUSTOMERS_IMPORTED, by=staff_member, detail={"rows": 900}
    )
    assert records_by("toimisto") == [10]


def test_the_rejected_rows_download_counts_its_rows(client, staff_member, settings):
    """The file holds every rejected row (names, addresses): each a record."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 2
    rows = [
        {"row": n, "cells": ["Testi", f"Henkilö{n}", "ei-osoite"], "reasons": ["x"]}
        for n in (2, 3, 4)
    ]
    customer_import = CustomerImportFactory(rejected_rows=rows, rejected_count=3, row_count=3)
    client.force_login(staff_member)
    response = client.get(reverse("registry:import-rejected", args=[customer_import.pk]))
    assert response.status_code == 200
    assert records_by("toimisto") == [3]
    account = access_review().get(username="toimisto")
    assert account.exports == 1


def test_the_audit_trail_export_counts_its_events(client, register_manager, staff_member):
    """Each event of the file may name a customer (its target, search words,
    a change's old values): the export counts its events, as a list its rows."""
    for _ in range(4):
        customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    response = client.post(reverse("registry:audit-export") + f"?user={staff_member.pk}")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED)
    assert event.detail["rows"] == 4
    account = access_review().get(username="vastaava")
    assert account.exports == 1


def test_the_audit_trail_export_raises_the_alert(client, register_manager, settings):
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 3
    for _ in range(4):
        audit_event_create(action=AuditEvent.Action.LOGIN, by=register_manager)
    client.force_login(register_manager)
    client.post(reverse("registry:audit-export") + f"?user={register_manager.pk}")
    exported = AuditEvent.objects.get(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED)
    assert exported.detail["rows"] >= 4  # the logins, and the fixture's own events
    assert records_by("vastaava") == [exported.detail["rows"]]


def test_a_request_page_and_its_answer_count_one_each(register_manager, settings):
    """A request without a customer shows its requester; the answer letter
    names them: a record each."""
    settings.UNUSUAL_ACTIVITY_PER_HOUR = 1
    audit_event_create(action=AuditEvent.Action.CASE_VIEWED, by=register_manager)
    audit_event_create(action=AuditEvent.Action.CASE_ANSWER_EXPORTED, by=register_manager)
    assert records_by("vastaava") == [2]


# --- Pages that showed a file's rows without any event ---------------------------


def test_an_imports_rejected_rows_on_its_page_are_a_read(client, staff_member):
    """The page shows the rejected rows (names and addresses of the file);
    with none of them a customer's address it wrote no event at all."""
    customer_import = CustomerImportFactory()
    client.force_login(staff_member)
    page = client.get(customer_import.get_absolute_url())
    assert "Henkilö" in page.content.decode()
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_SEARCHED)
    assert event.actor == staff_member
    assert event.detail["via"] == "import_rejected" and event.detail["rows"] == 1


@pytest.mark.usefixtures("immediate_tasks")
def test_an_imports_preview_rows_are_a_read(client, staff_member):
    """The preview shows a page of the file's rows (names, emails, phones,
    addresses); with none of them in the register it wrote no event at all."""
    client.force_login(staff_member)
    rows = [HEADER, person(), person(first="Virhe", email="virhe@", phone=""), person()]
    response = post_file(client, csv_bytes(rows))
    customer_import = CustomerImport.objects.get()
    page = client.get(response.url)
    assert "Äijälä" in page.content.decode()
    event = AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_SEARCHED).get()
    assert event.detail["via"] == "import_preview" and event.detail["rows"] == 3
    assert customer_import.pk  # the page was the import's

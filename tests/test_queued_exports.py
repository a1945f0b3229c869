"""Marketing lists and audit trail exports over EXPORT_INLINE_MAX_ROWS rows:
asked for in a request (audited there, with the purpose), written by the task
worker into a file, downloaded once by the person who asked, on the same
pages as the whole-register export. Up to the limit they are sent at once.
(The real `manage.py db_worker` writes both in tests/test_worker.py.)"""

import csv
import io
import stat

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from registry import services
from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create, customer_viewed
from registry.marketing.models import MarketingExport, MarketingExportRow
from registry.models import RegisterExport

from .factories import ConsentFactory, CustomerFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_tasks", "export_dir")]


@pytest.fixture
def small_limit(settings):
    settings.EXPORT_INLINE_MAX_ROWS = 3


def with_permission(user, codename):
    user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def read_csv(content):
    text = content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def on_email_list(count, staff_member, **fields):
    customers = CustomerFactory.create_batch(count, **fields)
    for customer in customers:
        ConsentFactory(customer=customer, recorded_by=staff_member)
    return customers


def ask_marketing(client, purpose="kevään uutiskirje 2027"):
    return client.post(
        reverse("registry:marketing-list"), {"channel": "email", "city": "", "purpose": purpose}
    )


# --- marketing lists ------------------------------------------------------


def test_the_list_page_says_when_a_list_goes_to_the_background(
    client, register_manager, staff_member, small_limit
):
    on_email_list(3, staff_member)
    client.force_login(register_manager)
    url = reverse("registry:marketing-list")
    assert (
        'id="export-in-background"' not in client.get(url, {"channel": "email"}).content.decode()
    )
    on_email_list(1, staff_member)
    assert 'id="export-in-background"' in client.get(url, {"channel": "email"}).content.decode()


def test_a_list_at_the_limit_is_sent_at_once(client, register_manager, staff_member, small_limit):
    on_email_list(3, staff_member)
    client.force_login(register_manager)
    response = ask_marketing(client)
    assert response.status_code == 200
    assert len(read_csv(b"".join(response.streaming_content))) == 4
    assert not RegisterExport.objects.exists()
    assert MarketingExportRow.objects.count() == 3


def test_a_list_over_the_limit_is_written_by_the_worker_and_taken_once(
    client, register_manager, staff_member, small_limit, export_dir
):
    on_email_list(3, staff_member)
    on_email_list(1, staff_member, first_name="=HYPERLINK(1)", last_name="Ööpinen")
    client.force_login(register_manager)
    asked = ask_marketing(client)
    export = RegisterExport.objects.get()
    assert asked.status_code == 302 and asked.url == export.get_absolute_url()
    assert export.kind == "marketing" and export.task_state == "done", export.task_error
    # Audited in the request, with the purpose; who was on it recorded.
    event = AuditEvent.objects.get(action=AuditEvent.Action.MARKETING_LIST_EXPORTED)
    marketing_export = MarketingExport.objects.get()
    assert event.actor == register_manager and event.target_id == str(marketing_export.pk)
    assert event.detail["purpose"] == "kevään uutiskirje 2027" and event.detail["rows"] == 4
    assert marketing_export.rows.count() == 4 and marketing_export.row_count == 4
    assert stat.S_IMODE(export.path.stat().st_mode) == 0o600

    page = client.get(asked.url).content.decode()
    assert 'id="export-ready"' in page and "Vie markkinointilista" in page
    response = client.post(asked.url + "download/")
    assert response["Content-Disposition"].startswith(
        'attachment; filename="markkinointilista-email-'
    )
    rows = read_csv(b"".join(response.streaming_content))
    assert rows[0] == ["etunimi", "sukunimi", "sähköposti"] and len(rows) == 5
    assert ["'=HYPERLINK(1)", "Ööpinen"] in [row[:2] for row in rows]  # formulas inert
    assert list(export_dir.iterdir()) == []  # deleted as it was sent
    again = client.post(asked.url + "download/", follow=True)
    assert 'id="export-gone"' in again.content.decode()
    assert [message.level_tag for message in again.context["messages"]] == ["error"]


def test_a_queued_list_needs_a_purpose_as_one_sent_at_once(
    client, register_manager, staff_member, small_limit
):
    on_email_list(4, staff_member)
    client.force_login(register_manager)
    response = ask_marketing(client, purpose=" ")
    assert "purpose" in response.context["form"].errors and response.context["count"] == 4
    assert not RegisterExport.objects.exists() and not AuditEvent.objects.filter(
        action="marketing_list_exported"
    )


def test_a_marketing_export_is_only_the_askers_and_needs_the_permission(
    client, register_manager, staff_member, small_limit
):
    on_email_list(4, staff_member)
    marketer = with_permission(UserFactory(username="markkinoija"), "use_marketing_lists")
    client.force_login(marketer)  # staff given the permission may export lists
    asked = ask_marketing(client)
    assert asked.status_code == 302
    download = asked.url + "download/"
    # Another with the same permission: 404, the file stays.
    client.force_login(register_manager)
    assert client.get(asked.url).status_code == 404
    assert client.post(download).status_code == 404
    # Without any export permission: 403.
    client.force_login(staff_member)
    assert client.get(asked.url).status_code == 403
    assert client.post(download).status_code == 403
    # Anonymous: to the login page.
    client.logout()
    assert client.get(asked.url).url.startswith(reverse("login"))
    assert client.post(download).url.startswith(reverse("login"))
    # The permission taken away: not even one's own.
    marketer.user_permissions.clear()
    marketer.user_permissions.add(Permission.objects.get(codename="export_customers"))
    client.force_login(marketer)
    assert client.get(asked.url).status_code == 403
    marketer.user_permissions.add(Permission.objects.get(codename="use_marketing_lists"))
    client.force_login(marketer)
    assert client.get(asked.url).status_code == 200
    assert len(read_csv(b"".join(client.post(download).streaming_content))) == 5


def test_the_marketing_list_page_needs_the_permission_for_big_lists_too(
    client, staff_member, small_limit
):
    on_email_list(4, staff_member)
    client.force_login(staff_member)
    assert ask_marketing(client).status_code == 403
    client.logout()
    assert ask_marketing(client).url.startswith(reverse("login"))
    assert not RegisterExport.objects.exists()


# --- the audit trail ------------------------------------------------------


def test_a_short_audit_trail_is_sent_at_once(client, register_manager, staff_member, small_limit):
    for _n in range(3):
        customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    response = client.post(reverse("registry:audit-export") + f"?user={staff_member.pk}")
    assert response.status_code == 200
    assert len(read_csv(b"".join(response.streaming_content))) == 4
    assert not RegisterExport.objects.exists()


def test_a_long_audit_trail_is_written_by_the_worker_and_taken_once(
    client, register_manager, staff_member, small_limit, export_dir
):
    for _n in range(3):
        customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    # A value that a spreadsheet would run, in the trail itself.
    audit_event_create(action="=cmd|' /C calc'!A0", by=staff_member)
    customer_viewed(customer=CustomerFactory(), by=register_manager, request=None)
    client.force_login(register_manager)
    asked = client.post(reverse("registry:audit-export") + f"?user={staff_member.pk}")
    export = RegisterExport.objects.get()
    assert asked.status_code == 302 and asked.url == export.get_absolute_url()
    assert export.kind == "audit" and export.task_state == "done", export.task_error
    event = AuditEvent.objects.get(action=AuditEvent.Action.AUDIT_TRAIL_EXPORTED)
    assert event.actor == register_manager
    assert event.detail == {"filters": {"user": staff_member.username}, "rows": 4}
    assert stat.S_IMODE(export.path.stat().st_mode) == 0o600
    page = client.get(asked.url).content.decode()
    assert 'id="export-ready"' in page and "4 tapahtuman tiedosto" in page

    response = client.post(asked.url + "download/")
    assert response["Content-Disposition"].startswith('attachment; filename="tapahtumaloki-')
    rows = read_csv(b"".join(response.streaming_content))
    assert rows[0][:3] == ["time", "user", "action"] and len(rows) == 5
    assert {row[1] for row in rows[1:]} == {staff_member.username}  # the filter held
    assert "'=cmd|' /C calc'!A0" in [row[2] for row in rows[1:]]
    assert list(export_dir.iterdir()) == []
    again = client.post(asked.url + "download/", follow=True)
    assert 'id="export-gone"' in again.content.decode()


def test_an_audit_trail_export_is_only_the_askers(
    client, register_manager, staff_member, small_limit
):
    for _n in range(4):
        customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    asked = client.post(reverse("registry:audit-export"))
    assert asked.status_code == 302
    # A marketer may follow exports of their own kind only.
    marketer = with_permission(UserFactory(username="markkinoija"), "use_marketing_lists")
    client.force_login(marketer)
    assert client.get(asked.url).status_code == 404
    assert client.post(asked.url + "download/").status_code == 404
    client.force_login(staff_member)
    assert client.get(asked.url).status_code == 403
    assert client.post(reverse("registry:audit-export")).status_code == 403
    client.logout()
    assert client.get(asked.url).url.startswith(reverse("login"))
    assert client.post(reverse("registry:audit-export")).url.startswith(reverse("login"))
    assert RegisterExport.objects.count() == 1


def test_the_register_export_page_lists_only_register_exports(
    client, register_manager, staff_member, small_limit
):
    on_email_list(4, staff_member)
    client.force_login(register_manager)
    ask_marketing(client)
    page = client.get(reverse("registry:register-export"))
    assert list(page.context["waiting"]) == []


def test_a_file_written_after_an_erasure_discarded_its_export_is_not_kept(
    register_manager, staff_member, export_dir
):
    on_email_list(2, staff_member)
    export = RegisterExport.objects.create(
        requested_by=register_manager, kind="register", file_format="csv"
    )
    services.register_exports_discard()  # an erasure, while the task waited
    export.refresh_from_db()
    services.export_write(export)
    export.refresh_from_db()
    assert export.file_name == "" and list(export_dir.iterdir()) == []


def test_the_marketing_and_audit_pages_link_to_ones_waiting_exports(
    client, register_manager, staff_member, small_limit
):
    on_email_list(4, staff_member)
    for _n in range(4):
        customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)
    client.force_login(register_manager)
    marketing = ask_marketing(client).url
    audit = client.post(reverse("registry:audit-export")).url
    lists_page = client.get(reverse("registry:marketing-list")).content.decode()
    trail_page = client.get(reverse("registry:audit-trail")).content.decode()
    assert f'href="{marketing}"' in lists_page and f'href="{audit}"' not in lists_page
    assert f'href="{audit}"' in trail_page and f'href="{marketing}"' not in trail_page
    # Another register manager sees none of them.
    other = UserFactory(username="toinen")
    other.user_permissions.add(
        Permission.objects.get(codename="use_marketing_lists"),
        Permission.objects.get(codename="view_auditevent"),
    )
    client.force_login(other)
    assert (
        'id="waiting-exports"'
        not in client.get(reverse("registry:marketing-list")).content.decode()
    )
    assert (
        'id="waiting-exports"' not in client.get(reverse("registry:audit-trail")).content.decode()
    )

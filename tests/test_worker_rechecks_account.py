"""The worker writes an import in the name of the account that confirmed it,
maybe minutes later: it checks again that the account is still active and
still allowed to, and changes nothing otherwise (the review of 2026-11-29)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from registry.background import PlainError
from registry.imports.models import CustomerImport
from registry.imports.tasks import (
    apply_import,
    apply_unsubscribes,
    preview_import,
)
from registry.models import Consent, Customer

from .factories import ConsentFactory
from .test_import_views import mapping_data
from .test_imports import HEADER, csv_bytes, person
from .test_unsubscribe_tasks import addresses, checked, post_file

pytestmark = pytest.mark.django_db

REFUSED = "ei ole enää käytössä tai sillä ei ole enää oikeutta"  # Finnish: the worker's language


def confirmed_import(client, user, django_capture_on_commit_callbacks):
    """A customer import checked by the worker and confirmed: its writing
    waits in the queue."""
    client.force_login(user)
    response = client.post(
        reverse("registry:import-upload"),
        {"file": SimpleUploadedFile("asiakkaat.csv", csv_bytes([HEADER, person()]))},
    )
    customer_import = CustomerImport.objects.get(pk=response.url.rstrip("/").rsplit("/", 1)[1])
    assert preview_import.call(None, customer_import.pk) is not None
    customer_import.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            customer_import.get_absolute_url(), {**mapping_data(customer_import), "confirm": ""}
        )
    assert response.status_code == 302
    customer_import.refresh_from_db()
    assert customer_import.task_state == "queued" and customer_import.status == "pending"
    return customer_import


def confirmed_unsubscribes(client, user, customer, django_capture_on_commit_callbacks):
    """An unsubscribe file naming `customer`, checked by the worker and
    confirmed: its application waits in the queue."""
    client.force_login(user)
    upload = checked(post_file(client, addresses(customer.email)))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(upload.get_absolute_url(), {"confirm": ""})
    upload.refresh_from_db()
    assert upload.task_state == "queued"
    return upload


def the_import_was_refused(customer_import, user):
    with pytest.raises(PlainError, match=REFUSED):
        apply_import.call(None, customer_import.pk, user.pk, "192.0.2.7")
    customer_import.refresh_from_db()
    assert customer_import.status == "pending" and customer_import.task_state == "failed"
    assert REFUSED in customer_import.task_error
    assert not Customer.objects.exists()


def test_an_import_confirmed_by_an_account_deactivated_since_is_not_written(
    client, staff_member, django_capture_on_commit_callbacks
):
    customer_import = confirmed_import(client, staff_member, django_capture_on_commit_callbacks)
    staff_member.is_active = False
    staff_member.save()
    the_import_was_refused(customer_import, staff_member)
    page = client.get(customer_import.get_absolute_url())
    assert page.status_code == 302  # the deactivated account is logged out


def test_an_import_confirmed_by_an_account_whose_role_lost_the_right_is_not_written(
    client, staff_member, register_manager, django_capture_on_commit_callbacks
):
    customer_import = confirmed_import(client, staff_member, django_capture_on_commit_callbacks)
    staff_member.groups.clear()
    the_import_was_refused(customer_import, staff_member)
    client.force_login(register_manager)
    page = client.get(customer_import.get_absolute_url()).content.decode()
    assert REFUSED in page  # the reason is shown on the import's page


def test_the_import_is_written_while_the_account_may_still_do_it(
    client, staff_member, django_capture_on_commit_callbacks
):
    customer_import = confirmed_import(client, staff_member, django_capture_on_commit_callbacks)
    assert apply_import.call(None, customer_import.pk, staff_member.pk, "192.0.2.7") == 1
    assert Customer.objects.count() == 1


def test_unsubscribes_confirmed_by_an_account_deactivated_since_are_not_applied(
    client, register_manager, django_capture_on_commit_callbacks
):
    aino = ConsentFactory(customer__email="aino.aijala@example.invalid").customer
    upload = confirmed_unsubscribes(
        client, register_manager, aino, django_capture_on_commit_callbacks
    )
    register_manager.is_active = False
    register_manager.save()
    with pytest.raises(PlainError, match=REFUSED):
        apply_unsubscribes.call(None, upload.pk, register_manager.pk, "192.0.2.7")
    upload.refresh_from_db()
    assert upload.status == "pending" and upload.task_state == "failed"
    assert not Consent.objects.filter(method="newsletter_service").exists()

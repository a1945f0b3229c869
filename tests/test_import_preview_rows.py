"""The rows of an import's preview, kept as rows of their own
(ImportPreviewRow): written a chunk at a time by the check, replaced by the
next check, and gone with the preview (import, cancel, expiry, erasure)."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from registry.imports import analysis, services
from registry.imports.models import CustomerImport, ImportPreviewRow
from registry.imports.services import (
    import_apply,
    import_cancel,
    import_choices_save,
    import_preview,
    import_preview_kept,
    import_preview_rows,
    import_upload,
    imports_expire,
)
from registry.rights.erasure import customer_erase

from .factories import CustomerFactory
from .test_imports import HEADER, csv_bytes, person

pytestmark = pytest.mark.django_db


def previewed(user, rows=5):
    lines = [HEADER, *(person(email=f"r{i}@example.invalid", phone="") for i in range(rows))]
    customer_import = import_upload(
        file_name="asiakkaat.csv", content=csv_bytes(lines), by=user, check_rows=False
    )
    import_preview(customer_import, fresh=True)
    return customer_import


def kept_rows(customer_import):
    return ImportPreviewRow.objects.filter(customer_import=customer_import)


def test_the_check_writes_the_rows_a_chunk_at_a_time(staff_member, monkeypatch):
    monkeypatch.setattr(analysis, "DECIDE_CHUNK", 2)
    written = []
    write = services._preview_rows_write
    monkeypatch.setattr(
        services,
        "_preview_rows_write",
        lambda ci, key, rows: written.append(len(rows)) or write(ci, key, rows),
    )
    customer_import = previewed(staff_member, rows=5)
    assert written == [2, 2, 1]
    preview = import_preview_kept(customer_import)
    rows = list(kept_rows(customer_import).order_by("place"))
    assert [(row.place, row.outcome, row.outcome_place) for row in rows] == [
        (place, "create", place) for place in range(5)
    ]
    assert {row.preview_key for row in rows} == {preview["key"]}
    assert [row["number"] for row in import_preview_rows(customer_import, preview)] == [
        2,
        3,
        4,
        5,
        6,
    ]


def test_a_new_check_replaces_the_rows_and_a_failed_one_leaves_none(staff_member, monkeypatch):
    customer_import = previewed(staff_member)
    first = import_preview_kept(customer_import)["key"]
    import_preview(customer_import, fresh=True)
    second = import_preview_kept(customer_import)["key"]
    assert second != first
    assert set(kept_rows(customer_import).values_list("preview_key", flat=True)) == {second}

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    # The check stops after writing its first chunk (as a cancel stops it).
    monkeypatch.setattr(analysis, "DECIDE_CHUNK", 2)
    monkeypatch.setattr(services, "_preview_keep", stop)
    with pytest.raises(Stop):
        import_preview(customer_import, fresh=True)
    assert set(kept_rows(customer_import).values_list("preview_key", flat=True)) == {second}
    customer_import.refresh_from_db()
    assert import_preview_kept(customer_import)["key"] == second


def test_a_check_of_an_import_handled_meanwhile_keeps_nothing(staff_member, monkeypatch):
    customer_import = previewed(staff_member)
    keep = services._preview_keep

    def cancelled_meanwhile(ci, *args, **kwargs):
        import_cancel(customer_import=ci)
        return keep(ci, *args, **kwargs)

    monkeypatch.setattr(services, "_preview_keep", cancelled_meanwhile)
    import_preview(customer_import, fresh=True)
    assert not kept_rows(customer_import).exists()
    customer_import.refresh_from_db()
    assert customer_import.status == "cancelled" and customer_import.preview == {}


def refresh(customer_import, user):
    options = analysis.ImportOptions.from_json(customer_import.options)
    import_choices_save(
        customer_import=customer_import,
        mapping=customer_import.mapping,
        options=options,
        refresh=True,
    )


def imported(customer_import, user):
    import_apply(customer_import=customer_import, by=user)


def cancelled(customer_import, user):
    import_cancel(customer_import=customer_import)


def expired(customer_import, user):
    imports_expire(now=timezone.now() + datetime.timedelta(days=2))


def erased(customer_import, user):
    customer_erase(customer=CustomerFactory(), by=user)


@pytest.mark.parametrize("discard", [refresh, imported, cancelled, expired, erased])
def test_the_rows_go_with_the_preview(staff_member, register_manager, discard):
    customer_import = previewed(staff_member)
    other = previewed(staff_member)
    assert kept_rows(customer_import).count() == 5
    discard(customer_import, register_manager if discard is erased else staff_member)
    assert not kept_rows(customer_import).exists()
    # A waiting import's preview stays, unless the erasure cancelled them all.
    assert kept_rows(other).exists() == (discard not in (expired, erased))


def test_a_preview_kept_whole_by_an_older_version_is_forgotten_by_the_migration(staff_member):
    migration = importlib.import_module("registry.migrations.0021_import_preview_rows")
    whole = import_upload(
        file_name="a.csv", content=csv_bytes([HEADER, person()]), by=staff_member, check_rows=False
    )
    CustomerImport.objects.filter(pk=whole.pk).update(
        preview={"mapping": whole.mapping, "rows": [{"number": 2}], "samples": [["Aino"]]}
    )
    current = previewed(staff_member)
    kept = CustomerImport.objects.get(pk=current.pk).preview
    migration.forget_previews_kept_whole(apps, None)
    assert CustomerImport.objects.get(pk=whole.pk).preview == {"samples": [["Aino"]]}
    assert CustomerImport.objects.get(pk=current.pk).preview == kept

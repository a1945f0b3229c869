"""On PostgreSQL the whole-register CSV is formatted and written by the
database (COPY): its file must be the very file the Python path writes, on
hostile data too. (The Python path is tested in test_register_export.py.)"""

import datetime
import threading
import tracemalloc

import pytest
from django.db import connection

from registry import exports, services
from registry.background import TaskCancelled, TaskState, task_mark_queued, task_run
from registry.models import Customer, RegisterExport
from registry.rights.erasure import customer_erase

from .factories import CustomerFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's"),
]

#: Would-be formulas, quoting, line breaks, COPY's own line end, unicode, empty.
HOSTILE = [
    "=HYPERLINK(1)",
    "+358",
    "-1",
    "@SUM(A1)",
    "\tsarkain",
    "\rrivinvaihto",
    "\nrivinsiirto",
    "\uff1d1+1",
    "\uff0b358",
    "\uff0d1",
    "\uff20SUM(A1)",
    "'jo lainattu",
    'lainaus " keskellä',
    '"',
    "puoli;piste",
    "ends;",
    "rivi\nrivi",
    "rivi\r\nrivi",
    "loppuu\r",
    ';"\r"\n',
    'x;"\r"\n=1',
    "\\.",
    " välilyönti",
    # Blanks before a formula (the probe): a spreadsheet may skip them.
    " =1+1",
    "\u00a0=HYPERLINK(2)",
    "\u200b@SUM(A1)",
    "\u3000\uff0b358",
    "\ufeff\t-1",
    "  ",
    "Äijälä ÅÖ 😀 ß",
    "",
]

PHONES = [
    "+358401234567",
    "+358501234567",
    # Finnish numbers the library formats: landlines of two- and three-digit
    # area codes, a national service number, a mobile one digit too long.
    "+35891234567",
    "+358171234567",
    "+358201234567",
    "+35840123456789",
    # Abroad: a mobile and landlines of several countries and lengths.
    "+46701234567",
    "+442079460958",
    "+4681234567",
    "+4930123456",
    "+12025550123",
    "+33142685300",
    "",
]

#: Stored past validation (update()): the export shows them as stored, inert.
INVALID_PHONES = ["=1+1", "+1", "040-ABC"]


@pytest.fixture
def hostile_register(register_manager):
    added = datetime.datetime(2026, 5, 31, 23, 30, tzinfo=datetime.UTC)
    for number, text in enumerate(HOSTILE):
        other = HOSTILE[-1 - number]
        CustomerFactory(
            first_name=text,
            last_name=other,
            email=f"{text}{number}@example.invalid" if text else "",
            phone=PHONES[number % len(PHONES)],
            street_address=text,
            postal_code=other,
            city=text,
            country="" if number % 3 else "FI",
            created_at=added,
            last_activity_at=added + datetime.timedelta(days=number),
        )
    for number, phone in enumerate(INVALID_PHONES):
        Customer.objects.filter(first_name=HOSTILE[number]).update(phone=phone)
    customer_erase(customer=CustomerFactory(first_name="Poistettava"), by=register_manager)


def both_files(file_format, user):
    """The fast file and the Python path's file of the same register."""
    fast = RegisterExport.objects.create(requested_by=user, file_format=file_format)
    slow = RegisterExport.objects.create(requested_by=user, file_format=file_format)
    assert services.register_export_write(fast) == len(HOSTILE)
    columns, rows = services.register_export_rows()
    header = services.register_export_header(columns)
    assert services._export_file_write(slow, header, rows, total=len(HOSTILE)) == len(HOSTILE)
    fast.refresh_from_db()
    slow.refresh_from_db()
    assert fast.row_count == slow.row_count == len(HOSTILE)
    return fast.path, slow.path


@pytest.mark.usefixtures("export_dir", "hostile_register")
@pytest.mark.parametrize("rows_per_copy", [20_000, 4, 1])
def test_the_csv_by_copy_is_the_python_csv_byte_for_byte(
    register_manager, monkeypatch, rows_per_copy
):
    monkeypatch.setattr(services, "REGISTER_COPY_ROWS", rows_per_copy)
    fast, slow = both_files("csv", register_manager)
    written = slow.read_bytes()
    assert b"Poistettava" not in written and b"'=HYPERLINK(1)" in written
    assert b"040 1234567" in written and b"'+44 20 7946 0958" in written
    assert b"09 1234567" in written and b"017 1234567" in written
    assert b"'+1 202-555-0123" in written and b"'=1+1" in written
    assert b"' =1+1" in written and "'\u00a0=HYPERLINK(2)".encode() in written
    assert fast.read_bytes() == written


@pytest.mark.usefixtures("export_dir")
def test_an_empty_register_gives_the_header_only(register_manager):
    fast = RegisterExport.objects.create(requested_by=register_manager, file_format="csv")
    assert services.register_export_write(fast) == 0
    fast.refresh_from_db()
    assert fast.path.read_bytes().decode().count("\r\n") == 1


class CancelledProgress:
    def step(self, name, *, total=None):
        pass

    def report(self, done, total, *, force=False):
        raise TaskCancelled


def test_an_export_cancelled_while_copied_leaves_no_file(register_manager, export_dir):
    CustomerFactory()
    export = RegisterExport.objects.create(requested_by=register_manager, file_format="csv")
    with pytest.raises(TaskCancelled):
        services.register_export_write(export, progress=CancelledProgress())
    assert list(export_dir.iterdir()) == []


def elsewhere(work):
    """Run `work` in another thread, on a connection of its own; its result."""
    result = []

    def run():
        try:
            result.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


def committed_progress(export):
    """The export's task as others see it now."""
    seen = RegisterExport.objects.get(pk=export.pk)
    return seen.progress_done, seen.task_state, seen.task_stale, seen.heartbeat_at


def watch_copied_rows(monkeypatch, watch):
    """Call `watch(data)` as each row comes from COPY (one write each), first."""
    write = exports._CopyTarget.write

    def watched(target, data):
        watch(data)
        write(target, data)

    monkeypatch.setattr(exports._CopyTarget, "write", watched)


@pytest.fixture
def running_export(register_manager):
    """A CSV export the worker has started (task_run), and its Progress."""
    export = RegisterExport.objects.create(requested_by=register_manager, file_format="csv")
    task_mark_queued(export, "write")
    with task_run(RegisterExport, export.pk, None) as progress:
        yield export, progress


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("export_dir")
def test_a_long_copy_reports_its_progress_as_it_goes(running_export, monkeypatch):
    """The register is copied a few thousand rows at a time, and others see
    the progress (and the heartbeat) after each: a long export is never
    silent for TASK_STALE_SECONDS. The rows are still read as of one moment:
    a customer added meanwhile is not in the file."""
    export, progress = running_export
    monkeypatch.setattr(services, "REGISTER_COPY_ROWS", 4)
    CustomerFactory.create_batch(10)
    seen = []

    def watch(written):
        seen.append(elsewhere(lambda: committed_progress(export)))
        if len(seen) == 5:
            elsewhere(lambda: CustomerFactory(first_name="Myöhäinen"))

    watch_copied_rows(monkeypatch, watch)
    assert services.register_export_write(export, progress=progress) == 10
    # What others saw as each row came from COPY.
    assert [done for done, *_rest in seen] == [0, 0, 0, 0, 4, 4, 4, 4, 8, 8]
    assert all(state == TaskState.State.RUNNING and not stale for _d, state, stale, _h in seen)
    beats = [beat for *_rest, beat in seen]
    assert beats == sorted(beats) and len(set(beats)) == 3
    export.refresh_from_db()
    assert (export.progress_done, export.progress_total) == (10, 10)
    assert "Myöhäinen" not in export.path.read_text(encoding="utf-8")


@pytest.mark.django_db(transaction=True)
def test_an_export_deleted_between_copies_stops_and_leaves_no_file(
    running_export, export_dir, monkeypatch
):
    export, progress = running_export
    monkeypatch.setattr(services, "REGISTER_COPY_ROWS", 4)
    CustomerFactory.create_batch(10)
    copied = []

    def delete_at_the_first(written):
        copied.append(written)
        if len(copied) == 1:
            elsewhere(RegisterExport.objects.filter(pk=export.pk).delete)

    watch_copied_rows(monkeypatch, delete_at_the_first)
    with pytest.raises(TaskCancelled):
        services.register_export_write(export, progress=progress)
    assert len(copied) == 4
    assert list(export_dir.iterdir()) == []


def export_peak(user):
    """The most memory (Python's) the COPY export of the register took at once."""
    export = RegisterExport.objects.create(requested_by=user, file_format="csv")
    tracemalloc.start()
    try:
        services.register_export_write(export)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def add_landline_customers(first, count):
    """`count` customers with Finnish landlines, each its own (the library formats them)."""
    Customer.objects.bulk_create(
        Customer(
            first_name="Lanka",
            last_name=f"Puhelin{number}",
            email=f"lanka{number}@example.invalid",
            phone=f"+35891{number:07d}",
            country="FI",
        )
        for number in range(first, first + count)
    )


@pytest.mark.usefixtures("export_dir")
def test_the_memory_of_the_copy_export_does_not_grow_with_the_register(
    register_manager, monkeypatch
):
    """The landlines (and other numbers Python formats) of a few thousand
    rows at a time: four times the register takes about the same memory
    (0.50 and 0.62 MB when measured; all of them in one JSON parameter took
    1.3 and 5.4 MB)."""
    monkeypatch.setattr(services, "REGISTER_COPY_ROWS", 1000)
    monkeypatch.setattr(exports, "COPY_WRITE_BYTES", 64 * 1024)
    add_landline_customers(0, 3000)
    export_peak(register_manager)  # the library's metadata, loaded once
    smaller = export_peak(register_manager)
    add_landline_customers(3000, 9000)
    larger = export_peak(register_manager)
    assert larger < smaller * 1.5, (smaller, larger)

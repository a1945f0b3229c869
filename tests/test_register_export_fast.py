"""On PostgreSQL the whole-register CSV is formatted and written by the
database (COPY): its file must be the very file the Python path writes, on
hostile data too. (The Python path is tested in test_register_export.py.)"""

import datetime

import pytest
from django.db import connection

from registry import services
from registry.background import TaskCancelled
from registry.models import RegisterExport
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
    "Äijälä ÅÖ 😀 ß",
    "",
]

PHONES = ["+358401234567", "+358501234567", "+35891234567", "+46701234567", "+442079460958", ""]


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
def test_the_csv_by_copy_is_the_python_csv_byte_for_byte(register_manager):
    fast, slow = both_files("csv", register_manager)
    written = slow.read_bytes()
    assert b"Poistettava" not in written and b"'=HYPERLINK(1)" in written
    assert b"040 1234567" in written and b"'+44 20 7946 0958" in written
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

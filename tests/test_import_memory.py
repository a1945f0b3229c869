"""An import's memory grows with a chunk of rows, not with the whole file:
the preview keeps each row as JSON text once it is decided, the import makes
rows of those texts a chunk at a time. Holding every row's check at once took
4.8 KB a row in the preview and 2.8 KB in the import here, and 274 MB for
50,000 rows (docs/benchmarks.md, "The import in less memory")."""

import datetime
import functools
import io
import tracemalloc

import pytest
from django.core.management import call_command

from registry.imports import analysis
from registry.imports.analysis import ImportOptions
from registry.imports.reading import read_table
from registry.imports.services import (
    import_apply,
    import_choices_save,
    import_preview,
    import_upload,
)
from registry.management.commands import import_customers
from registry.models import ConsentText, Customer

from .test_imports import HEADER, csv_bytes, person

ROWS = 2000

#: A chunk much smaller than the file, as in an import of 50,000 rows.
CHUNK = 200

#: Bytes a row at most at the peak of each step, beyond what it started
#: with. Measured on SQLite (2,000 rows): preview 0.9 KB, import 1.4 KB a
#: row; with every row held at once, 4.8 and 2.8 KB, and with the preview's
#: rows held as JSON texts until all were checked (and the file's cells
#: copied once more at the end of the reading), 1.7 KB for the preview.
PREVIEW_BYTES_A_ROW = 1300
IMPORT_BYTES_A_ROW = 2000


def peak_growth(work):
    """The bytes Python allocated at most while `work` ran, beyond what it
    held when it started."""
    tracemalloc.start()
    try:
        started = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - started
    finally:
        tracemalloc.stop()


@pytest.mark.django_db
def test_the_preview_and_the_import_hold_a_chunk_of_rows_at_a_time(staff_member, monkeypatch):
    monkeypatch.setattr(analysis, "DECIDE_CHUNK", CHUNK, raising=False)
    rows = [
        [
            *person(
                email=f"aino.{number}@example.invalid",
                phone=f"050 {1000000 + number}",
            ),
            "kyllä" if number % 3 else "",
        ]
        for number in range(ROWS)
    ]
    customer_import = import_upload(
        file_name="asiakkaat.csv",
        content=csv_bytes([[*HEADER, "Uutiskirje"], *rows]),
        by=staff_member,
        check_rows=False,
    )
    wording = ConsentText.objects.create(channel="email", version=99, wording="Uutiskirje.")
    import_choices_save(
        customer_import=customer_import,
        mapping=customer_import.mapping,
        options=ImportOptions(consent_date=datetime.date(2026, 3, 1), email_text=wording),
    )

    counts = []
    preview = peak_growth(lambda: counts.append(import_preview(customer_import, fresh=True)))
    done = []
    imported = peak_growth(
        lambda: done.append(
            # Written a chunk at a time too (COPY or bulk_create's objects).
            import_apply(customer_import=customer_import, by=staff_member, batch_size=CHUNK)
        )
    )

    assert counts == [{"create": ROWS, "match": 0, "reject": 0}]
    assert done[0].created_count == ROWS
    assert preview < ROWS * PREVIEW_BYTES_A_ROW, preview / ROWS
    assert imported < ROWS * IMPORT_BYTES_A_ROW, imported / ROWS


#: `manage.py import_customers`, which checks and imports as the pages do:
#: bytes a row at most at its peak. Measured on SQLite (2,000 rows): import
#: 1.7 KB, dry run 1.0 KB a row; with every row's check held at once (and
#: checked twice over by an import), 4.3 and 2.0 KB.
COMMAND_BYTES_A_ROW = {"import": 2200, "dry-run": 1500}


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["import", "dry-run"])
def test_the_command_line_import_holds_a_chunk_of_rows_at_a_time(
    staff_member, monkeypatch, tmp_path, mode
):
    dry_run = mode == "dry-run"
    monkeypatch.setattr(analysis, "DECIDE_CHUNK", CHUNK, raising=False)
    # Written a chunk at a time too, as above (by default a thousand rows).
    monkeypatch.setattr(
        import_customers, "import_apply", functools.partial(import_apply, batch_size=CHUNK)
    )
    rows = [
        [
            *person(email=f"aino.{number}@example.invalid", phone=f"050 {1000000 + number}"),
            "kyllä" if number % 3 else "",
        ]
        for number in range(ROWS)
    ]
    # Every tenth row rejected: their reasons are printed and written out.
    for row in rows[::10]:
        row[5] = "postinumero"
    path = tmp_path / "asiakkaat.csv"
    path.write_bytes(csv_bytes([[*HEADER, "Uutiskirje"], *rows]))
    ConsentText.objects.create(channel="email", version=99, wording="Uutiskirje.")
    arguments = [str(path), "--consent-date", "2026-03-01", "--email-text", "99"]
    arguments += ["--dry-run"] if dry_run else ["--user", staff_member.username]
    arguments += ["--rejects", str(tmp_path / "hylatyt.csv")]
    out = io.StringIO()
    peak = peak_growth(lambda: call_command("import_customers", *arguments, stdout=out))

    rejected = ROWS // 10
    assert f"Added: {ROWS - rejected}, already in the register: 0, rejected: {rejected}." in (
        out.getvalue()
    )
    printed = [line for line in out.getvalue().splitlines() if line.startswith("  row ")]
    assert len(printed) == rejected and all("Postinumero" in line for line in printed)
    written = (tmp_path / "hylatyt.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(written) == rejected + 1
    assert Customer.objects.count() == (0 if dry_run else ROWS - rejected)
    assert peak < ROWS * COMMAND_BYTES_A_ROW[mode], peak / ROWS


def test_reading_a_file_holds_its_cells_once():
    """The table read from a file (its cells, held until each row is checked)
    is the most a preview holds: its reading made a padded copy of every row
    at the end, 1.45 times the table at the peak (the preview's peak)."""
    rows = [person(email=f"aino.{number}@example.invalid") for number in range(5000)]
    content = csv_bytes([HEADER, *rows])
    tracemalloc.start()
    try:
        started = tracemalloc.get_traced_memory()[0]
        table = read_table(content)
        held, peak = (value - started for value in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    assert len(table.rows) == 5000 and table.rows[0][1][:2] == ["Aino", "Äijälä"]
    # Measured 1.28 (1.45 with the copy).
    assert peak < 1.4 * held, peak / held

"""`manage.py db_worker` whose import stops for good after writing its first
batch, for tests/test_worker.py to kill it there: writes a marker file, then
sleeps. Run as `python -m tests.slow_worker <marker> <db_worker arguments>`."""

import sys
import time
from pathlib import Path

import django
from django.core.management import execute_from_command_line


def main():
    marker = Path(sys.argv[1])
    django.setup()
    # After django.setup(): the writing imports the models.
    from registry.imports.writing import AddedRowsWriter  # noqa: PLC0415

    def hanging_after(write_batch):
        def write_then_hang(self, rows):
            write_batch(self, rows)
            marker.write_text("first batch written")
            time.sleep(600)

        return write_then_hang

    # Both ways of writing a batch: COPY (PostgreSQL) and bulk_create (SQLite).
    AddedRowsWriter._copy = hanging_after(AddedRowsWriter._copy)
    AddedRowsWriter._create = hanging_after(AddedRowsWriter._create)
    execute_from_command_line(["manage.py", "db_worker", *sys.argv[2:]])


if __name__ == "__main__":
    main()

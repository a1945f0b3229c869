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
    from registry.models import Consent  # noqa: PLC0415 - after django.setup()

    original = Consent.objects.bulk_create

    def write_then_hang(objs, *args, **kwargs):
        created = original(objs, *args, **kwargs)
        marker.write_text("first batch written")
        time.sleep(600)
        return created

    Consent.objects.bulk_create = write_then_hang
    execute_from_command_line(["manage.py", "db_worker", *sys.argv[2:]])


if __name__ == "__main__":
    main()

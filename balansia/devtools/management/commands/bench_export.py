"""Time one whole-register export and its peak memory growth (fresh process).

`make bench` runs it once per format in a new process, so that the peak
resident size says what the export itself costs. The file is written as the
task worker writes it (registry.services.register_export_write); the CSV is
also streamed as a response would be. `--writer openpyxl` writes the XLSX
with openpyxl's write-only mode instead, for the side-by-side figure in
docs/benchmarks.md.
"""

import resource
import tempfile
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.test import override_settings
from openpyxl import Workbook

from registry.exports import csv_response, inert_row
from registry.models import Customer, RegisterExport
from registry.services import register_export_header, register_export_rows, register_export_write


class Command(BaseCommand):
    help = "Measure a whole-register export (used by make bench)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument(
            "--writer",
            choices=["ours", "openpyxl", "stream"],
            default="ours",
            help="ours: the worker's file; openpyxl: XLSX by openpyxl; stream: CSV as a response",
        )

    def handle(self, *args, format, writer, **options):
        user = get_user_model().objects.filter(is_superuser=True).first()
        if user is None:
            raise CommandError(
                "The export is asked for by a superuser: run `manage.py bench` once "
                "(it adds the user `bench`) or `manage.py createsuperuser`."
            )
        count = Customer.objects.count()  # warm the connection before the baseline
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with (
            tempfile.TemporaryDirectory() as directory,
            override_settings(EXPORT_DIR=Path(directory)),
        ):
            started = time.perf_counter()
            if writer == "stream":
                columns, rows = register_export_rows()
                response = csv_response("bench.csv", register_export_header(columns), rows)
                size = sum(len(chunk) for chunk in response.streaming_content)
            elif writer == "openpyxl":
                size = self._openpyxl(Path(directory) / "bench.xlsx")
            else:
                # A saved row: the writer deletes a file whose export is gone.
                export = RegisterExport.objects.create(requested_by=user, file_format=format)
                register_export_write(export)
                export.refresh_from_db()
                size = export.path.stat().st_size
                export.path.unlink()
                export.delete()
            elapsed = time.perf_counter() - started
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        self.stdout.write(
            f"{format} export of {count} customers ({writer}): {elapsed:.2f} s, "
            f"{size / 1e6:.1f} MB, peak memory growth {growth:.1f} MB"
        )

    def _openpyxl(self, path):
        columns, rows = register_export_rows()
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        sheet.append(inert_row(register_export_header(columns)))
        for row in rows:
            sheet.append(inert_row(row))
        workbook.save(path)
        return path.stat().st_size

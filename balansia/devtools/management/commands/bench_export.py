"""Time one whole-register export and its peak memory growth (fresh process).

`make bench` runs it once per format in a new process, so that the peak
resident size says what the export itself costs.
"""

import resource
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.test import RequestFactory

from registry.exports import csv_response, xlsx_file_response
from registry.models import Customer
from registry.services import register_export


class Command(BaseCommand):
    help = "Measure a whole-register export (used by make bench)."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")

    def handle(self, *args, format, **options):
        user = get_user_model().objects.filter(is_superuser=True).first()
        count = Customer.objects.count()  # warm the connection before the baseline
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        columns, rows = register_export(
            file_format=format, purpose="benchmark", by=user, request=RequestFactory().get("/")
        )
        header = list(columns)
        response = (xlsx_file_response if format == "xlsx" else csv_response)(
            "bench", header, rows
        )
        size = sum(len(chunk) for chunk in response.streaming_content)
        elapsed = time.perf_counter() - started
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        self.stdout.write(
            f"{format} export of {count} customers: {elapsed:.2f} s, {size / 1e6:.1f} MB, "
            f"peak memory growth {growth:.1f} MB"
        )

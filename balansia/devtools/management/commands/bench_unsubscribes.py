"""Time an unsubscribe file from the newsletter service (used by make bench).

A Mailchimp-shaped CSV of unsubscribed addresses is built in memory: most are
customers of the register (in another letter case), some are not, a few are
complaints, hard bounces or unreadable. It is uploaded, previewed and applied
through the same services as the unsubscribe pages: the upload as the web
request does it (the first rows only), the preview and the application as the
task worker does them (timed here in this process, without the worker's
queue); the application runs in a transaction that is rolled back, so the
ledger ends as it began (apart from the upload's own row, its kept preview and
its audit event).
"""

import csv
import io
import random
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from registry.imports.unsubscribes import (
    Outcome,
    unsubscribes_apply,
    unsubscribes_preview,
    unsubscribes_upload,
)
from registry.models import Customer
from registry.roles import REGISTER_MANAGER

HEADER = ["Email Address", "First Name", "Last Name", "UNSUB_TIME", "UNSUB_REASON"]


class Command(BaseCommand):
    help = "Measure an unsubscribe file's preview and application (used by make bench)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=20_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, rows, seed, **options):
        content = self._file(rows, seed)
        user = self._user()
        timings = {}

        started = time.perf_counter()
        upload = unsubscribes_upload(
            file_name="bench-unsubscribed.csv", content=content, by=user, check_rows=False
        )
        timings["upload (the request: first rows)"] = time.perf_counter() - started

        started = time.perf_counter()
        preview = unsubscribes_preview(upload)
        timings["preview (worker: read, match)"] = time.perf_counter() - started

        started = time.perf_counter()
        with transaction.atomic():
            _upload, done = unsubscribes_apply(upload=upload, by=user)
            timings["apply (worker: check, write)"] = time.perf_counter() - started
            transaction.set_rollback(True)

        self.stdout.write(
            f"Unsubscribe file of {rows} addresses ({len(content) / 1e6:.1f} MB CSV) against "
            f"a register of {Customer.objects.count()} customers:"
        )
        for step, seconds in timings.items():
            self.stdout.write(f"  {step:<34} {seconds:6.2f} s")
        counts = preview.counts
        self.stdout.write(
            f"  withdrawn {counts[Outcome.WITHDRAW]} ({counts['complaints']} complaints), "
            f"already {counts[Outcome.ALREADY]}, bounces {counts[Outcome.BOUNCE]}, "
            f"not in the register {counts[Outcome.NOT_FOUND]}, "
            f"unreadable {counts[Outcome.UNREADABLE]}; "
            f"ledger events written (rolled back) {done.counts['customers']}"
        )

    def _user(self):
        user, _created = get_user_model().objects.get_or_create(username="bench-unsubscribes")
        user.groups.add(Group.objects.get(name=REGISTER_MANAGER))
        return user

    def _file(self, rows, seed):
        pick = random.Random(seed)  # noqa: S311 - test data, not secrets
        emails = list(
            Customer.objects.exclude(email="")
            .order_by("?")
            .values_list("email", flat=True)[: int(rows * 0.9)]
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(HEADER)
        for number in range(rows):
            roll = pick.random()
            if number < len(emails):
                email = emails[number].upper() if roll < 0.5 else emails[number]
            else:
                email = f"ei-rekisterissa-{seed}-{number}@example.invalid"
            if roll > 0.995:
                email = "not an address"
            reason = "The emails are spam and should be reported" if roll < 0.02 else "Other"
            writer.writerow([email, "", "", "2026-03-05 12:34:56", reason])
        return buffer.getvalue().encode("utf-8")

"""Time an import of a large spreadsheet, then undo it (used by make bench).

A CSV of fictional Finnish customers (Faker fi_FI) is built in memory, with
what real files hold: a few invalid emails, rows repeated within the file and
rows already in the register. It is uploaded, previewed, imported and undone
through the same services as the import pages, so the database ends as it began
(apart from the audit trail and the import's own row).
"""

import csv
import io
import random
import resource
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.utils import timezone
from faker import Faker

from registry.imports.analysis import ImportOptions
from registry.imports.services import import_apply, import_preview, import_undo, import_upload
from registry.models import ConsentText, Customer
from registry.roles import STAFF

HEADER = [
    "Etunimi",
    "Sukunimi",
    "Sähköposti",
    "Puhelin",
    "Katuosoite",
    "Postinumero",
    "Postitoimipaikka",
    "Uutiskirje",
]


class Command(BaseCommand):
    help = "Measure the import of a large CSV file, and its undo (used by make bench)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=50_000)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, rows, seed, **options):
        content = self._file(rows, seed)
        user = self._user()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timings = {}

        started = time.perf_counter()
        customer_import = import_upload(file_name="bench.csv", content=content, by=user)
        timings["upload (read the file)"] = time.perf_counter() - started
        customer_import.options = ImportOptions(
            consent_date=timezone.localdate(), email_text=self._wording()
        ).as_json()
        customer_import.save(update_fields=["options"])

        started = time.perf_counter()
        counts = import_preview(customer_import)
        timings["preview (check every row)"] = time.perf_counter() - started

        started = time.perf_counter()
        done = import_apply(customer_import=customer_import, by=user)
        timings["import (check again and write)"] = time.perf_counter() - started

        started = time.perf_counter()
        report = import_undo(customer_import=done, by=user)
        timings["undo"] = time.perf_counter() - started

        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        self.stdout.write(
            f"Import of {rows} rows ({len(content) / 1e6:.1f} MB CSV) into a register of "
            f"{Customer.objects.count()} customers:"
        )
        for step, seconds in timings.items():
            self.stdout.write(f"  {step:<34} {seconds:6.2f} s")
        self.stdout.write(
            f"  added {done.created_count}, already in the register {counts['match']}, "
            f"rejected {counts['reject']}; undo removed {report['removed']}; "
            f"peak memory growth {growth:.0f} MB"
        )

    def _wording(self):
        wording = ConsentText.objects.filter(channel="email").order_by("-version").first()
        return wording or ConsentText.objects.create(
            channel="email", version=1, wording="Uutiskirje sähköpostiin (benchmark)."
        )

    def _user(self):
        user, _created = get_user_model().objects.get_or_create(username="bench-import")
        user.groups.add(Group.objects.get(name=STAFF))
        return user

    def _file(self, rows, seed):
        fake = Faker("fi_FI")
        fake.seed_instance(seed)
        pick = random.Random(seed)  # noqa: S311 - test data, not secrets
        existing = list(
            Customer.objects.exclude(email="").order_by("pk").values_list("email", flat=True)[:500]
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        writer.writerow(HEADER)
        for number in range(rows):
            email = f"tuonti{seed}-{number}@example.invalid"
            roll = pick.random()
            if roll < 0.01 and existing:
                email = pick.choice(existing)  # already in the register
            elif roll < 0.02:
                email = email.replace("@", "")  # invalid
            elif roll < 0.03 and number:
                email = f"tuonti{seed}-{number - 1}@example.invalid"  # twice in the file
            writer.writerow(
                [
                    fake.first_name(),
                    fake.last_name(),
                    email,
                    f"050 {number:07d}",
                    fake.street_address(),
                    fake.postcode(),
                    fake.city(),
                    "kyllä" if roll > 0.7 else "",
                ]
            )
        return buffer.getvalue().encode("utf-8")

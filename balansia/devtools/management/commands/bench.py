"""Time the register's pages against a stock Django admin on the same data."""

import json
import statistics
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count, F, Q
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from courses.models import Course
from registry.models import Customer
from registry.reach import new_generation


class Command(BaseCommand):
    help = "Benchmark (see README, docs/benchmarks.md). Needs data from seed_demo."

    #: The pages whose cost should stay flat as the register grows (issue 23).
    CORE = (
        "customer list, first page",
        "search 'nen'",
        "one exact email",
        "phone typed as 040 …",
        "deep page (200)",
        "customer detail",
        "participant list",
        "marketing list, email",
        "marketing count afresh",
        "floor: privacy notice",
    )

    #: Pages timed with something done (untimed) before each request.
    BEFORE = {
        # The register changed just before: the count is made, not found.
        "marketing count afresh": new_generation,
    }

    def add_arguments(self, parser):
        parser.add_argument("--runs", type=int, default=15)
        parser.add_argument(
            "--core",
            action="store_true",
            help="only the pages compared across sizes (docs/benchmarks.md, issue 23)",
        )
        parser.add_argument(
            "--json", dest="json_path", help="also write the figures into this file"
        )

    def handle(self, *args, runs, core, json_path, **options):
        if Customer.objects.count() < 1000:
            raise CommandError(
                "Seed the database first: manage.py seed_demo --customers 200000 ..."
            )
        if connection.vendor == "postgresql":
            # Every timed page writes audit events (a run adds thousands, a
            # sitting 150,000): fresh statistics, as autovacuum keeps them on a
            # server, or a machine with autovacuum off plans the customer
            # page's events on stale ones (a seq scan of the trail, 54 ms).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE registry_auditevent, registry_auditeventcustomer")
        with override_settings(
            ROOT_URLCONF="balansia.devtools.stock_admin", ALLOWED_HOSTS=["testserver"]
        ):
            client = self._client()
            some = Customer.objects.order_by("id")[Customer.objects.count() // 2]
            course = (
                Course.objects.filter(enrollments__isnull=False)
                .order_by("-capacity", "id")
                .first()
            )
            # The grid of the course with the most participants x sessions.
            largest = (
                Course.objects.annotate(
                    people=Count(
                        "enrollments", filter=Q(enrollments__status="enrolled"), distinct=True
                    ),
                    times=Count("sessions", distinct=True),
                )
                .order_by(F("people") * F("times"), "id")
                .last()
            )
            session = largest.sessions.filter(starts_at__lte=timezone.now()).last() or (
                largest.sessions.first()
            )
            national = "0" + str(some.phone)[4:]
            cases = [
                ("customer list, first page", "/customers/", "/stock-admin/registry/customer/"),
                ("search 'nen'", "/customers/?q=nen", "/stock-admin/registry/customer/?q=nen"),
                (
                    "one exact email",
                    f"/customers/?q={some.email}",
                    f"/stock-admin/registry/customer/?q={some.email}",
                ),
                (
                    "phone typed as 040 …",
                    f"/customers/?q={national}",
                    f"/stock-admin/registry/customer/?q={national}",
                ),
                (
                    "deep page (200)",
                    "/customers/?page=200",
                    "/stock-admin/registry/customer/?p=200",
                ),
                (
                    "customer detail",
                    f"/customers/{some.pk}/",
                    f"/stock-admin/registry/customer/{some.pk}/change/",
                ),
                (
                    "participant list",
                    f"/courses/{course.pk}/",
                    f"/stock-admin/courses/enrollment/?course__id__exact={course.pk}",
                ),
                (
                    f"attendance grid {largest.people}x{largest.times}",
                    f"/courses/{largest.pk}/attendance/",
                    None,
                ),
                (
                    "roll call of one session",
                    f"/courses/{largest.pk}/sessions/{session.pk}/roll-call/",
                    None,
                ),
                ("marketing list, email", "/marketing/?channel=email", None),
                ("marketing count afresh", "/marketing/?channel=email", None),
                # The floor of any page for a logged-in user (session, user,
                # two-factor device, the base template), for scale.
                ("floor: privacy notice", "/privacy/", None),
                # The reports (issue 22), each over its default period of 12 months.
                ("report: customers", "/reports/customers/", None),
                ("report: consents", "/reports/consents/", None),
                ("report: requests", "/reports/requests/", None),
                ("report: courses", "/reports/courses/", None),
                ("report: health", "/reports/health/", None),
            ]
            if core:
                cases = [case for case in cases if case[0] in self.CORE]
            figures = {"customers": Customer.objects.count(), "runs": runs, "pages": {}}
            head = f"{'operation':<28} {'ours ms':>9} {'p95':>7} {'q':>3}"
            self.stdout.write(f"{head}   {'admin ms':>9} {'p95':>7} {'q':>3}   {'p95 ratio':>9}")
            for label, ours, stock in cases:
                mine = self._time(client, ours, runs, before=self.BEFORE.get(label))
                theirs = self._time(client, stock, runs) if stock else None
                ratio = f"{theirs[1] / mine[1]:.1f}x" if theirs else "-"
                stock_text = (
                    f"{theirs[0]:9.1f} {theirs[1]:7.1f} {theirs[2]:3d}"
                    if theirs
                    else f"{'-':>9} {'-':>7} {'-':>3}"
                )
                ours_text = f"{mine[0]:9.1f} {mine[1]:7.1f} {mine[2]:3d}"
                self.stdout.write(f"{label:<28} {ours_text}   {stock_text}   {ratio:>9}")
                figures["pages"][label] = {"ours": mine, "admin": theirs}
            if json_path:
                Path(json_path).write_text(json.dumps(figures, indent=1))

    def _client(self):
        user, _ = get_user_model().objects.get_or_create(
            username="bench", defaults={"is_staff": True, "is_superuser": True}
        )
        device, _ = TOTPDevice.objects.get_or_create(
            user=user, name="bench", defaults={"confirmed": True}
        )
        client = Client()
        client.force_login(user)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return client

    def _time(self, client, url, runs, before=None):
        timings = []
        for _ in range(runs + 2):
            if before:
                before()
            connection.queries_log.clear()  # a bounded deque: keep each count exact
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url, secure=True)
                timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise CommandError(f"{url} answered {response.status_code}")
        timings = sorted(timings[2:])  # the first two warm caches
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        return statistics.median(timings), p95, len(queries.captured_queries)

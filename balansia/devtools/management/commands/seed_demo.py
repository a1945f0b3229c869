"""Fill the register with realistic, fictional Finnish data for demos and benchmarks."""

import io
import random
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

try:
    from faker import Faker
except ImportError:  # a dev extra; `make run` installs only what the product needs
    Faker = None

from courses.models import Attendance, Course, Enrollment, Session
from registry.models import Consent, ConsentText, Customer, search_text_of
from registry.reach import reach_changed
from registry.services import CUSTOMER_FIELDS

#: Email addresses are ASCII (the form's validator would refuse ä and ö).
ASCII = str.maketrans("äöåé", "aoae")


class Command(BaseCommand):
    help = (
        "Add fictional customers (Faker fi_FI), courses, enrolments and consents. "
        "Refuses a database that already holds customers unless --append."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000)
        parser.add_argument("--courses", type=int, default=40)
        parser.add_argument("--enrollments", type=int, default=5000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--append", action="store_true", help="Add to existing customers.")

    def handle(self, *args, customers, courses, enrollments, seed, append, **options):
        if Faker is None:
            raise CommandError(
                "seed_demo needs Faker, one of the dev extras: "
                "run `.venv/bin/pip install -e '.[dev]'` (or `make test` once)."
            )
        if Customer.objects.exists() and not append:
            raise CommandError("The database already holds customers; use --append to add more.")
        if enrollments > customers * courses:
            raise CommandError("More enrolments than customer-course pairs.")
        self.rng = random.Random(seed)  # noqa: S311 - demo data, reproducible by --seed
        self.pools = self._pools(seed)
        started = time.monotonic()
        with transaction.atomic(), self._indexes_rebuilt(enabled=not append):
            customer_ids = self._customers(customers)
            course_ids = self._courses(courses)
            self._sessions(course_ids)
            self._enrollments(enrollments, customer_ids, course_ids)
            self._attendance(course_ids)
            self._consents(customer_ids)
            reach_changed()
        # Fresh statistics after a bulk load, or the planner guesses (it took
        # 65 ms instead of 0.04 ms to find one email address without them).
        # VACUUM also sets PostgreSQL's visibility map, without which no scan
        # is index-only until autovacuum comes by; it cannot run in a
        # transaction (as in a test).
        vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
        analysed = time.monotonic()
        with connection.cursor() as cursor:
            for model in (Customer, Course, Session, Enrollment, Attendance, Consent):
                table = model._meta.db_table
                cursor.execute(f"VACUUM (ANALYZE) {table}" if vacuum else f"ANALYZE {table}")
        self.stdout.write(f"  statistics: {time.monotonic() - analysed:.1f} s")
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.1f} s."))

    #: The tables filled by COPY.
    COPIED = (Customer, Session, Enrollment, Attendance, Consent)

    @contextmanager
    def _indexes_rebuilt(self, *, enabled):
        """PostgreSQL, a fresh register: the secondary indexes, unique and
        foreign-key constraints of the COPIED tables are dropped before the
        load and made again after it, from their definitions as the database
        holds them (so exactly as migrated; a test compares). An index built
        once over a million rows costs a fraction of keeping it up to date
        row by row (the trigram index most), and a foreign key added after
        is one join instead of ten million deferred checks at commit."""
        if not enabled or connection.vendor != "postgresql":
            yield
            return
        tables = [model._meta.db_table for model in self.COPIED]
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) "
                "AND contype IN ('f', 'u') ORDER BY contype DESC, conname",
                [tables],
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                "WHERE indrelid = ANY(%s::regclass[]) AND NOT indisprimary AND NOT EXISTS ("
                "SELECT 1 FROM pg_constraint WHERE conindid = indexrelid AND conrelid = indrelid)",
                [tables],
            )
            indexes = cursor.fetchall()
            # The names come from the catalogue, as regclass prints them (quoted if need be).
            for table, name, _definition in constraints:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
            for name, _definition in indexes:
                cursor.execute(f"DROP INDEX {name}")
        yield
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _name, definition in indexes:
                cursor.execute(definition)
            for table, name, definition in reversed(constraints):
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")
        self.stdout.write(f"  indexes and constraints: {time.monotonic() - started:.1f} s")

    def _progress(self, label, done, total):
        if total and (done == total or done % max(total // 10, 1) == 0):
            self.stdout.write(f"  {label}: {done}/{total}")
            sys.stdout.flush()

    def _pools(self, seed):
        fake = Faker("fi_FI")
        fake.seed_instance(seed)
        return {
            "first": [fake.first_name() for _ in range(400)],
            "last": [fake.last_name() for _ in range(800)],
            "street": [fake.street_name() for _ in range(300)],
            "place": [(fake.postcode(), fake.city()) for _ in range(300)],
        }

    def _customer_rows(self, count, start):
        now = timezone.now()
        rng, pools = self.rng, self.pools
        sources = [value for value, _label in Customer.Source.choices]
        for index in range(count):
            number = start + index
            first, last = rng.choice(pools["first"]), rng.choice(pools["last"])
            email = f"{first}.{last}.{number}@example.invalid".lower().translate(ASCII)
            phone = f"+35840{number % 10_000_000:07d}"
            postal_code, city = rng.choice(pools["place"])
            age = rng.randint(0, 6 * 365)
            created = now - timedelta(days=age)
            yield (
                first,
                last,
                email,
                phone,
                f"{rng.choice(pools['street'])} {rng.randint(1, 80)}",
                postal_code,
                city,
                "FI",
                rng.choice(sources),
                created,
                created,
                # Active within 300 days of joining, and never after now.
                created + timedelta(days=rng.randint(0, min(age, 300))),
                search_text_of(first_name=first, last_name=last, email=email, phone=phone),
            )

    COLUMNS = (*CUSTOMER_FIELDS, "created_at", "updated_at", "last_activity_at", "search_text")

    def _customers(self, count):
        start = Customer.objects.count() + 1  # only numbers the fictional addresses
        self._copy(Customer, self.COLUMNS, self._customer_rows(count, start), count, "customers")
        newest = Customer.objects.order_by("-id").values_list("id", flat=True)[:count]
        return list(reversed(newest))

    def _courses(self, count):
        titles = [
            "Aamujooga",
            "Pilates",
            "Kehonhuolto",
            "Mindfulness",
            "Hathajooga",
            "Venyttely",
            "Meditaatio",
        ]
        places = ["Sali 1", "Sali 2", "Joensuun toimitila", "Rantasauna"]
        now = timezone.now().replace(minute=0, second=0, microsecond=0)
        courses = []
        for index in range(count):
            # Past and coming courses, mostly of the last two years.
            start = now + timedelta(days=self.rng.randint(-700, 150))
            if index % self.LECTURE_EVERY == 0:
                # A lecture now and then takes many; it may grow to hold the
                # enrolments asked for beyond what the groups hold.
                title, location, capacity = f"Verkkoluento {index + 1}", self.ONLINE, 60
            else:
                title = f"{self.rng.choice(titles)} {index + 1}"
                location, capacity = self.rng.choice(places), self.rng.choice(self.CAPACITIES)
            courses.append(
                Course(
                    title=title,
                    starts_at=start,
                    ends_at=start + timedelta(minutes=90),
                    location=location,
                    capacity=capacity,
                )
            )
        made = Course.objects.bulk_create(courses, batch_size=2000)
        self.stdout.write(f"  courses: {count}/{count}")
        return [course.pk for course in made]

    #: Places of a group; every LECTURE_EVERYth course is a lecture.
    CAPACITIES = [8, 10, 12, 12, 14, 15, 16, 20]
    LECTURE_EVERY = 20
    ONLINE = "Verkossa"

    #: (weekday, hour, minute) of a series: weekday evenings, Saturday mornings.
    SLOTS = [(0, 18, 0), (1, 17, 30), (2, 18, 0), (3, 19, 0), (1, 18, 30), (5, 10, 0)]
    CANCEL_REASONS = ["Ohjaaja sairastui", "Pyhäpäivä", "Sali remontissa"]

    def _sessions(self, course_ids):
        """Mostly weekly series of 6-12 sessions (some every other week), some
        one-offs; a few sessions cancelled with a reason or moved. Each
        course's start and end become its first and last session's."""
        rng = self.rng
        zone = timezone.get_current_timezone()
        rows, bounds = [], {}
        now = timezone.now()
        for course_id, starts_at in Course.objects.filter(pk__in=course_ids).values_list(
            "pk", "starts_at"
        ):
            weekday, hour, minute = rng.choice(self.SLOTS)
            day = timezone.localtime(starts_at).date()
            day += timedelta(days=(weekday - day.weekday()) % 7)
            first = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            length = timedelta(minutes=rng.choice([60, 75, 90]))
            if rng.random() < 0.2:
                count, every = 1, 1
            else:
                count, every = rng.randint(6, 12), rng.choice([1, 1, 1, 2])
            held = []
            for n in range(count):
                start = first + timedelta(weeks=every * n)
                cancelled, reason, moved_from = False, "", None
                roll = rng.random()
                if count > 1 and roll < 0.04:
                    cancelled, reason = True, rng.choice(self.CANCEL_REASONS)
                elif count > 1 and roll < 0.08:
                    moved_from, start = start, start + timedelta(days=1)
                rows.append(
                    (
                        course_id,
                        start,
                        start + length,
                        "Sali 2" if moved_from else "",
                        cancelled,
                        reason,
                        now if cancelled else None,
                        moved_from,
                        1,
                    )
                )
                if not cancelled:
                    held.append(start)
            held = held or [first]
            bounds[course_id] = (min(held), max(held) + length)
        columns = (
            "course_id",
            "starts_at",
            "ends_at",
            "location",
            "is_cancelled",
            "cancelled_reason",
            "cancelled_at",
            "moved_from",
            "version",
        )
        self._copy(Session, columns, iter(rows), len(rows), "sessions")
        courses = Course.objects.in_bulk(list(bounds))
        for course_id, (first, last) in bounds.items():
            courses[course_id].starts_at, courses[course_id].ends_at = first, last
        Course.objects.bulk_update(courses.values(), ["starts_at", "ends_at"], batch_size=2000)

    def _attendance(self, course_ids):
        """Marks only for the sessions that have happened: most came. Nobody
        calls the roll of an online lecture (Verkossa): it has none (a million
        enrolments, most of them on lectures, would otherwise make some 35
        million marks)."""
        now = timezone.now()
        sessions = {}
        for session_id, course_id, ends_at in (
            Session.objects.filter(
                course_id__in=course_ids, is_cancelled=False, starts_at__lte=now
            )
            .exclude(course__location=self.ONLINE)
            .values_list("pk", "course_id", "ends_at")
        ):
            sessions.setdefault(course_id, []).append((session_id, ends_at))
        enrolled = Enrollment.objects.filter(
            course_id__in=list(sessions), status=Enrollment.Status.ENROLLED
        ).values_list("pk", "course_id")
        statuses = ["came"] * 16 + ["absent"] * 3 + ["excused"] * 2

        def rows():
            for enrollment_id, course_id in enrolled.iterator():
                for session_id, ends_at in sessions[course_id]:
                    yield (session_id, enrollment_id, self.rng.choice(statuses), ends_at)

        columns = ("session_id", "enrollment_id", "status", "marked_at")
        self._copy(Attendance, columns, rows(), None, "attendance")

    def _enrollments(self, count, customer_ids, course_ids):
        """`count` enrolments as the services would leave them: nobody over a
        course's capacity, a waiting list only on full coming courses, a few
        cancellations, everyone enrolled before the course began. What the
        groups cannot hold goes to the lectures, which grow to take it (the
        benchmarks ask for a million enrolments)."""
        rng, now = self.rng, timezone.now()
        courses = list(
            Course.objects.filter(pk__in=course_ids).values_list("pk", "capacity", "starts_at")
        )
        plan = {}
        for course_id, capacity, starts_at in courses:
            coming = starts_at > now
            enrolled = capacity if rng.random() < 0.4 else rng.randint(capacity // 2, capacity)
            waiting = rng.randint(1, 4) if coming and enrolled == capacity else 0
            plan[course_id] = [enrolled, waiting, rng.randint(0, 2)]
        lectures = [pk for pk, capacity, _starts in courses if capacity >= 60]
        self._fit(plan, count, lectures, most=len(customer_ids))
        capacities = {pk: capacity for pk, capacity, _starts in courses}
        grown = [
            Course(pk=pk, capacity=sizes[0])
            for pk, sizes in plan.items()
            if sizes[0] > capacities[pk]
        ]
        Course.objects.bulk_update(grown, ["capacity"], batch_size=2000)
        starts = {pk: starts_at for pk, _capacity, starts_at in courses}

        def rows():
            for course_id, (enrolled, waiting, cancelled) in plan.items():
                people = rng.sample(customer_ids, enrolled + waiting + cancelled)
                # Enrolled before the course began (or, for a coming one, by now).
                latest = min(starts[course_id], now)
                statuses = ["enrolled"] * enrolled + ["cancelled"] * cancelled
                rng.shuffle(statuses)
                statuses += ["waitlisted"] * waiting  # the last to come are waiting
                for number, (customer_id, status) in enumerate(zip(people, statuses, strict=True)):
                    when = latest - timedelta(days=60) * (1 - number / len(people))
                    yield (customer_id, course_id, status, "office", when, when)

        columns = (
            "customer_id",
            "course_id",
            "status",
            "source",
            "enrolled_at",
            "status_changed_at",
        )
        total = sum(sum(sizes) for sizes in plan.values())
        self._copy(Enrollment, columns, rows(), total, "enrolments")

    def _fit(self, plan, count, lectures, most):
        """Make the plan hold `count` enrolments in all: fewer enrolled in the
        groups if it holds too many; the rest to the lectures if too few (then
        to any course), at most `most` people on one course."""
        total = sum(sum(sizes) for sizes in plan.values())
        for course_id in self.rng.sample(list(plan), len(plan)):
            if total <= count:
                break
            sizes = plan[course_id]
            for index in (2, 1, 0):
                cut = min(sizes[index], total - count)
                sizes[index] -= cut
                total -= cut
        # Shared evenly by the lectures (the first one took all the customers
        # before: a lecture of 200,000 made a 56 MB course page), then
        # whatever they cannot hold to any course.
        share = -(-(count - total) // len(lectures)) if lectures and total < count else 0
        for course_ids, limit in (
            (lectures, share),
            ([*lectures, *(pk for pk in plan if pk not in lectures)], count),
        ):
            for course_id in course_ids:
                if total >= count:
                    break
                sizes = plan[course_id]
                more = max(0, min(most - sum(sizes), limit, count - total))
                sizes[0] += more
                total += more

    def _consents(self, customer_ids):
        recorder = get_user_model().objects.filter(is_active=True).order_by("id").first()
        if recorder is None:
            # An inactive, fictional account records the demo consents.
            recorder, _ = get_user_model().objects.get_or_create(
                username="demo-kirjaaja", defaults={"is_active": False}
            )
        text = ConsentText.objects.filter(channel="email").order_by("version").first()
        now = timezone.now()

        def rows():
            for customer_id in customer_ids:
                roll = self.rng.random()
                # Given or objected at some point of the last two and a half years.
                when = now - timedelta(
                    days=self.rng.randint(0, 900), minutes=self.rng.randint(0, 600)
                )
                if roll < 0.35:
                    yield (
                        customer_id,
                        "email",
                        "given",
                        "web_form",
                        text.pk,
                        recorder.pk,
                        when,
                        when,
                    )
                elif roll < 0.40:
                    yield (
                        customer_id,
                        "direct_marketing",
                        "objection",
                        "letter",
                        None,
                        recorder.pk,
                        when,
                        when,
                    )

        columns = (
            "customer_id",
            "channel",
            "event",
            "method",
            "text_id",
            "recorded_by_id",
            "occurred_at",
            "recorded_at",
        )
        self._copy(Consent, columns, rows(), None, "consents")

    def _copy(self, model, columns, rows, total, label):
        """COPY on PostgreSQL (fast), batched INSERTs elsewhere."""
        table = model._meta.db_table
        batch, done, started = [], 0, time.monotonic()
        for row in rows:
            batch.append(row)
            if len(batch) == 20_000:
                self._write(table, columns, batch)
                done += len(batch)
                batch = []
                self._progress(label, done, total)
        if batch:
            self._write(table, columns, batch)
            done += len(batch)
        self.stdout.write(f"  {label}: {done} in {time.monotonic() - started:.1f} s")

    def _write(self, table, columns, batch):
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                buffer = io.StringIO()
                for row in batch:
                    buffer.write(
                        "\t".join(r"\N" if v is None else str(v).replace("\t", " ") for v in row)
                        + "\n"
                    )
                buffer.seek(0)
                cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
            else:
                adapt = connection.ops.adapt_datetimefield_value
                batch = [
                    [adapt(v) if isinstance(v, datetime) else v for v in row] for row in batch
                ]
                placeholders = ", ".join(["%s"] * len(columns))
                # Table and column names are this module's constants, not input.
                sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
                cursor.executemany(sql, batch)

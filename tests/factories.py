import functools
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.utils import timezone
from faker import Faker

from courses.models import Session
from courses.services import course_dates_sync
from registry.models import ConsentText
from registry.roles import role_code

#: Every persona's password; long enough for the validators.
PASSWORD = "kurssi-kevät-2027-salasana"


@functools.cache
def _password_hash():
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"henkilo{n}")
    first_name = factory.Faker("first_name", locale="fi_FI")
    last_name = factory.Faker("last_name", locale="fi_FI")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.invalid")
    # Argon2 is slow on purpose; hash the shared password once, not per user.
    password = factory.LazyFunction(lambda: _password_hash())
    is_active = True

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """`UserFactory(roles=["Toimisto"])` puts the user into those groups."""
        if create and extracted:
            groups = list(Group.objects.filter(name__in=extracted))
            # The groups come from a data migration; a flushed database has none.
            assert len(groups) == len(extracted), f"missing role groups: {extracted}"
            self.groups.add(*groups)


#: Cities tests filter by: a random customer never lives in one of them, so
#: that a test counting "the customers in Joensuu" counts only its own (two
#: flakes came from Faker picking Joensuu or Kuopio).
CITIES_OF_TESTS = {"Joensuu", "Kuopio", "Liperi", "Outokumpu", "Helsinki", "Kontiolahti"}
_FAKE = Faker("fi_FI")


def random_city():
    while (city := _FAKE.city()) in CITIES_OF_TESTS:
        pass
    return city


class CustomerFactory(factory.django.DjangoModelFactory):
    """A fictional Finnish customer (Faker fi_FI)."""

    class Meta:
        model = "registry.Customer"

    first_name = factory.Faker("first_name", locale="fi_FI")
    last_name = factory.Faker("last_name", locale="fi_FI")
    email = factory.Sequence(lambda n: f"asiakas{n}@example.invalid")
    # Finnish mobile numbers 040 000 0000 upwards: valid, and never a real subscriber's.
    phone = factory.Sequence(lambda n: f"+35840{n:07d}")
    street_address = factory.Faker("street_address", locale="fi_FI")
    postal_code = factory.Faker("postcode", locale="fi_FI")
    city = factory.LazyFunction(lambda: random_city())
    country = "FI"
    source = "information_request"


class ConsentFactory(factory.django.DjangoModelFactory):
    """An email consent given in person, with the first email wording."""

    class Meta:
        model = "registry.Consent"

    customer = factory.SubFactory(CustomerFactory)
    channel = "email"
    event = "given"
    method = "in_person"
    text = factory.LazyFunction(
        lambda: ConsentText.objects.filter(channel="email").order_by("version").first()
    )
    recorded_by = factory.SubFactory(UserFactory)
    # As consent_record writes it; a ledger row from before the column (0014)
    # is made with recorded_by_role="" explicitly.
    recorded_by_role = factory.LazyAttribute(lambda o: role_code(o.recorded_by))


class CourseFactory(factory.django.DjangoModelFactory):
    """A course next week, two hours long."""

    class Meta:
        model = "courses.Course"
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Joogakurssi {n}")
    starts_at = factory.LazyFunction(
        lambda: timezone.now().replace(microsecond=0) + timedelta(days=7)
    )
    ends_at = factory.LazyAttribute(lambda course: course.starts_at + timedelta(hours=2))
    location = "Sali 1"
    capacity = 12

    @factory.post_generation
    def sessions(self, create, extracted, **kwargs):
        """One session at the course's own time, unless `sessions=[(start, end), ...]`
        are given (then the course's start and end become theirs)."""
        if not create:
            return
        times = extracted if extracted is not None else [(self.starts_at, self.ends_at)]
        Session.objects.bulk_create(
            Session(course=self, starts_at=start, ends_at=end) for start, end in times
        )
        course_dates_sync(self)


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "courses.Enrollment"

    customer = factory.SubFactory(CustomerFactory)
    course = factory.SubFactory(CourseFactory)
    status = "enrolled"
    source = "office"


class DataSubjectRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.DataSubjectRequest"

    reference = factory.Sequence(lambda n: f"DSR-TEST{n:04d}")
    customer = factory.SubFactory(CustomerFactory)
    kind = "access"
    received_on = factory.LazyFunction(timezone.localdate)
    identity_verification = "Henkilökortti tarkistettu toimistolla"
    deadline = factory.LazyAttribute(lambda case: case.received_on + timedelta(days=30))
    handled_by = factory.SubFactory(UserFactory)


class CustomerImportFactory(factory.django.DjangoModelFactory):
    """An applied import whose one rejected row is kept for download."""

    class Meta:
        model = "registry.CustomerImport"

    created_by = factory.SubFactory(UserFactory)
    file_name = "asiakkaat.csv"
    file_format = "csv"
    headers = ["Etunimi", "Sukunimi", "Sähköposti"]
    mapping = ["first_name", "last_name", "email"]
    status = "applied"
    applied_at = factory.LazyFunction(timezone.now)
    row_count = 1
    rejected_count = 1
    rejected_rows = factory.LazyFunction(
        lambda: [
            {
                "row": 2,
                "cells": ["Testi", "Henkilö", "ei-osoite"],
                "reasons": ["Sähköposti: Anna kelvollinen sähköpostiosoite."],
            }
        ]
    )


class RegisterExportFactory(factory.django.DjangoModelFactory):
    """An export (the whole register unless `kind` says otherwise) whose file
    the worker has not written yet."""

    class Meta:
        model = "registry.RegisterExport"

    requested_by = factory.SubFactory(UserFactory)
    file_format = "csv"
    task_state = "queued"


class UnsubscribeImportFactory(factory.django.DjangoModelFactory):
    """A waiting file of unsubscribes from the newsletter service."""

    class Meta:
        model = "registry.UnsubscribeImport"

    created_by = factory.SubFactory(UserFactory)
    file_name = "unsubscribed_members_export.csv"
    content = b"Email Address,UNSUB_TIME\nei.kukaan@example.invalid,2026-03-05 12:00:00\n"
    row_count = 1


class MarketingExportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "registry.MarketingExport"

    exported_by = factory.SubFactory(UserFactory)
    channel = "post"
    purpose = "Kevään kurssiesite"
    row_count = 1


class MarketingExportRowFactory(factory.django.DjangoModelFactory):
    """A customer on a post marketing list (no ledger event needed)."""

    class Meta:
        model = "registry.MarketingExportRow"

    export = factory.SubFactory(MarketingExportFactory)
    customer = factory.SubFactory(CustomerFactory)


class MessageFactory(factory.django.DjangoModelFactory):
    """A reminder sent to an enrolled customer."""

    class Meta:
        model = "courses.Message"

    customer = factory.SubFactory(CustomerFactory)
    course = factory.SubFactory(CourseFactory)
    kind = "reminder"
    to = factory.LazyAttribute(lambda message: message.customer.email)
    subject = factory.LazyAttribute(lambda message: f"Muistutus: {message.course.title}")
    body = "Hei,\n\nkurssi alkaa pian.\n"
    state = "sent"
    attempts = 1
    sent_at = factory.LazyFunction(timezone.now)

"""The data subject's rights: requests, access, rectification, erasure, retention."""

import datetime
import io
import json
from datetime import timedelta
from unittest.mock import ANY

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from courses.models import Enrollment
from courses.participants import participant_list_export
from registry import erasure
from registry.accounts.services import account_deactivate
from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create, customer_searched, customer_viewed
from registry.forms import VersionField
from registry.imports.services import import_apply, import_cancel, import_upload
from registry.journal import read_marketing_journal
from registry.models import Consent, ConsentText, Customer
from registry.rights.documents import access_document
from registry.rights.erasure import customer_erase, read_journal
from registry.rights.forms import DataSubjectRequestForm
from registry.rights.models import DataSubjectRequest, one_month_after
from registry.rights.selectors import access_report, retention_candidates
from registry.rights.services import CaseRefused, case_log, case_update
from registry.roles import INSTRUCTOR, REGISTER_MANAGER, STAFF
from registry.services import (
    consent_record,
    customer_merge,
    customer_update,
    register_export_request,
)

from .factories import (
    ConsentFactory,
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
    UserFactory,
)
from .test_imports import csv_bytes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("received", "deadline"),
    [
        (datetime.date(2027, 1, 15), datetime.date(2027, 2, 15)),
        (datetime.date(2027, 1, 31), datetime.date(2027, 2, 28)),
        (datetime.date(2028, 1, 31), datetime.date(2028, 2, 29)),
        (datetime.date(2027, 12, 10), datetime.date(2028, 1, 10)),
    ],
)
def test_the_deadline_is_one_month_from_receipt(received, deadline):
    assert one_month_after(received) == deadline


def test_request_pages_are_for_the_register_manager_only(client, staff_member, register_manager):
    case = DataSubjectRequestFactory()
    urls = [
        reverse("registry:request-list"),
        reverse("registry:request-detail", args=[case.pk]),
        reverse("registry:request-create", args=[case.customer.pk]),
        reverse("registry:access-report", args=[case.customer.pk]),
        reverse("registry:customer-erase", args=[case.customer.pk]),
        reverse("registry:retention"),
    ]
    for url in urls:
        assert client.get(url).url.startswith(reverse("login"))
    client.force_login(staff_member)
    for url in urls:
        assert client.get(url).status_code == 403, url
    client.force_login(register_manager)
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_logging_a_request_sets_the_deadline_and_is_audited(client, register_manager):
    customer = CustomerFactory()
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:request-create", args=[customer.pk]),
        {
            "kind": "access",
            "received_on": "2026-11-20",
            "identity_verification": "Vastaus rekisteröidystä sähköpostista",
            "submission": DataSubjectRequestForm.new_token(),
        },
    )
    case = DataSubjectRequest.objects.get()
    assert response.url == case.get_absolute_url()
    assert case.deadline == datetime.date(2026, 12, 20)
    assert case.reference.startswith("DSR-")
    assert AuditEvent.objects.filter(action="request_logged", target_id=str(case.pk)).exists()


def test_extending_a_deadline_needs_a_reason_and_stays_within_three_months(
    client, register_manager
):
    case = DataSubjectRequestFactory(
        received_on=datetime.date(2026, 11, 20), deadline=datetime.date(2026, 12, 20)
    )
    client.force_login(register_manager)
    url = reverse("registry:request-detail", args=[case.pk])
    unchanged = {
        "status": "open",
        "identity_verification": case.identity_verification,
        "outcome": "",
        "version": VersionField.token(case),
    }
    response = client.post(url, {**unchanged, "deadline": "2027-01-20", "extension_reason": ""})
    assert "extension_reason" in response.context["form"].errors
    response = client.post(
        url, {**unchanged, "deadline": "2027-03-01", "extension_reason": "laaja"}
    )
    assert "deadline" in response.context["form"].errors
    client.post(
        url,
        {
            **unchanged,
            "deadline": "2027-01-20",
            "extension_reason": "Monta pyyntöä yhtä aikaa",
        },
    )
    case.refresh_from_db()
    assert case.deadline == datetime.date(2027, 1, 20)


def test_a_deadline_before_receipt_is_refused_beside_the_field(client, register_manager, settings):
    """A typo in the year (2025 for 2026) moved the deadline before the day
    the request came in: the case looked overdue at once, and the journal
    kept the impossible date."""
    settings.LANGUAGE_CODE = "en"
    case = DataSubjectRequestFactory(
        received_on=datetime.date(2026, 11, 20), deadline=datetime.date(2026, 12, 20)
    )
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:request-detail", args=[case.pk]),
        {
            "status": "open",
            "identity_verification": case.identity_verification,
            "outcome": "",
            "deadline": "2025-12-20",
            "extension_reason": "Monta pyyntöä yhtä aikaa",
            "version": VersionField.token(case),
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "deadline": ["The deadline cannot be before the request was received (20 Nov 2026)."]
    }
    # What was typed stays in the field, to be corrected.
    assert 'value="2025-12-20"' in response.content.decode()
    case.refresh_from_db()
    assert case.deadline == datetime.date(2026, 12, 20)


@pytest.mark.parametrize(
    ("data", "received"),
    [
        ({"deadline": datetime.date(2026, 11, 19), "extension_reason": "Virhe"}, "20.11.2026"),
        ({"received_on": datetime.date(2026, 12, 21)}, "21.12.2026"),
    ],
)
def test_the_service_refuses_a_deadline_before_receipt(register_manager, data, received):
    case = DataSubjectRequestFactory(
        received_on=datetime.date(2026, 11, 20), deadline=datetime.date(2026, 12, 20)
    )
    with pytest.raises(CaseRefused) as refused:
        case_update(case=case, data=data, by=register_manager)
    # Beside the deadline, in the register's language (Finnish).
    assert refused.value.message_dict == {
        "deadline": [f"Määräaika ei voi olla ennen pyynnön vastaanottopäivää ({received})."]
    }
    case.refresh_from_db()
    assert (case.received_on, case.deadline, case.version) == (
        datetime.date(2026, 11, 20),
        datetime.date(2026, 12, 20),
        1,
    )
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CASE_UPDATED).exists()


def test_a_case_saved_with_such_a_deadline_before_still_closes(register_manager):
    """Saved before the check (the form took it then): an erasure or a
    restriction still closes it, and only a change of a date is refused."""
    case = DataSubjectRequestFactory(
        received_on=datetime.date(2026, 11, 20), deadline=datetime.date(2025, 12, 20)
    )
    case_update(case=case, data={"status": "done", "outcome": "Poistettu"}, by=register_manager)
    case.refresh_from_db()
    assert case.status == "done"
    # Its journal entry (written by the close) is read back, and a restore
    # would re-create it: a deadline before receipt only made it overdue,
    # and journals of older versions hold such ones (the review of 30 Nov:
    # the check stopped a restore at its first step).
    (entry,) = [e for e in read_marketing_journal() if e.get("reference") == case.reference][-1:]
    assert entry["deadline"] == "2025-12-20"


def test_a_request_received_in_the_future_is_refused_beside_the_field(
    client, register_manager, settings
):
    """The request-create form: its deadline is counted from receipt (a month
    after, never before), so the received date is what is checked."""
    settings.LANGUAGE_CODE = "en"
    customer = CustomerFactory()
    client.force_login(register_manager)
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client.post(
        reverse("registry:request-create", args=[customer.pk]),
        {
            "kind": "access",
            "received_on": tomorrow.isoformat(),
            "identity_verification": "Vastaus rekisteröidystä sähköpostista",
            "submission": DataSubjectRequestForm.new_token(),
        },
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "received_on": ["The date cannot be in the future."]
    }
    assert f'value="{tomorrow.isoformat()}"' in response.content.decode()
    assert not DataSubjectRequest.objects.exists()


def test_closing_a_request_records_the_completion_date(client, register_manager):
    case = DataSubjectRequestFactory()
    client.force_login(register_manager)
    client.post(
        reverse("registry:request-detail", args=[case.pk]),
        {
            "status": "done",
            "identity_verification": case.identity_verification,
            "outcome": "Raportti lähetetty",
            "deadline": case.deadline.isoformat(),
            "extension_reason": "",
            "version": VersionField.token(case),
        },
    )
    case.refresh_from_db()
    assert case.completed_on == timezone.localdate()
    assert not DataSubjectRequest.objects.open().exists()


def test_how_the_identity_was_verified_can_be_noted_after_the_request_was_logged(
    client, register_manager
):
    """An ID card seen when the person comes by, days after the request was
    logged; or a case re-created from the journal after a restore, which has
    only the journal's note there."""
    case = DataSubjectRequestFactory(identity_verification="Odottaa henkilöllisyyden tarkistusta")
    client.force_login(register_manager)
    url = reverse("registry:request-detail", args=[case.pk])
    data = {
        "status": "open",
        "identity_verification": "",
        "outcome": "",
        "deadline": case.deadline.isoformat(),
        "extension_reason": "",
        "version": VersionField.token(case),
    }
    response = client.post(url, data)
    assert "identity_verification" in response.context["form"].errors
    case.refresh_from_db()
    assert case.identity_verification == "Odottaa henkilöllisyyden tarkistusta"

    client.post(url, {**data, "identity_verification": "Henkilökortti nähty toimistolla"})
    case.refresh_from_db()
    assert case.identity_verification == "Henkilökortti nähty toimistolla"
    event = AuditEvent.objects.filter(action=AuditEvent.Action.CASE_UPDATED).get()
    assert event.detail["changes"]["identity_verification"] == [
        "Odottaa henkilöllisyyden tarkistusta",
        "Henkilökortti nähty toimistolla",
    ]


def test_the_access_report_holds_everything_and_is_audited(client, register_manager, staff_member):
    customer = CustomerFactory(first_name="Aino", last_name="Esimerkki")
    ConsentFactory(customer=customer, recorded_by=staff_member)
    EnrollmentFactory(customer=customer, course=CourseFactory(title="Pilates"), status="enrolled")
    customer_viewed(customer=customer, by=staff_member, request=None)
    client.force_login(register_manager)
    page = client.get(reverse("registry:access-report", args=[customer.pk]))
    assert "Pilates" in page.content.decode()
    download = client.get(
        reverse("registry:access-report", args=[customer.pk]), {"format": "json"}
    )
    report = json.loads(download.content)
    assert set(report) == {
        "generated_at",
        "controller",
        "customer",
        "consents",
        "enrollments",
        "marketing_exports",
        "messages",
        "requests",
        "changes",
        "suppressed_since",
        "processing",
    }
    assert report["customer"]["last_name"] == "Esimerkki"
    assert report["consents"][0]["wording"].startswith("Haluan saada uutiskirjeen")
    assert report["enrollments"][0] == {
        "course": "Pilates",
        "starts_at": report["enrollments"][0]["starts_at"],
        "status": "enrolled",
        "source": "office",
        "enrolled_at": report["enrollments"][0]["enrolled_at"],
        "status_changed_at": report["enrollments"][0]["status_changed_at"],
        "attendance": [],
    }
    # Roles, not people (CJEU C-579/21): no user name reaches the customer.
    assert {"role": "staff", "action": "customer_viewed"}.items() <= report["processing"][
        0
    ].items()
    assert report["consents"][0]["recorded_by"] == "staff"
    assert staff_member.username not in download.content.decode()
    assert staff_member.username not in page.content.decode()
    actions = list(
        AuditEvent.objects.filter(target_id=str(customer.pk)).values_list("action", flat=True)
    )
    assert "access_report_viewed" in actions and "access_report_exported" in actions


def test_the_access_report_tells_the_role_a_handler_had_at_the_time(staff_member):
    """A promotion does not rewrite history: what someone did in the office
    stays the office's after they become the register manager. (Events and
    consents recorded before roles were kept, migration 0014, fall back to
    today's role: test_role_at_the_time.py.)"""
    customer = CustomerFactory()
    customer_viewed(customer=customer, by=staff_member, request=None)
    consent_record(
        customer=customer,
        channel="email",
        event="given",
        method="in_person",
        text=ConsentText.objects.filter(channel="email").first(),
        by=staff_member,
    )
    staff_member.groups.set([Group.objects.get(name=REGISTER_MANAGER)])
    promoted = type(staff_member).objects.get(pk=staff_member.pk)
    customer_viewed(customer=customer, by=promoted, request=None)

    report = access_report(customer)

    assert [(e["action"], e["role"]) for e in report["processing"]] == [
        ("customer_viewed", "staff"),
        ("consent_recorded", "staff"),
        ("customer_viewed", "register_manager"),
    ]
    assert report["consents"][0]["recorded_by"] == "staff"


def test_the_access_report_tells_each_handler_by_their_highest_role(
    register_manager, staff_member, instructor, no_role_user
):
    """Who handled the data, by role: the register manager, the office, an
    instructor; someone in two groups by the higher; an account in no group
    (a superuser, or permissions granted one by one) as a user of the
    register, not as the office; the system's own work as the register."""
    customer = CustomerFactory()
    both = UserFactory(username="molemmat", roles=[INSTRUCTOR, STAFF])
    for user in (register_manager, staff_member, instructor, both, no_role_user):
        customer_viewed(customer=customer, by=user, request=None)
    audit_event_create(action=AuditEvent.Action.CUSTOMER_CHANGED, target=customer)
    ConsentFactory(customer=customer, recorded_by=no_role_user)
    report = access_report(customer)
    roles = [event["role"] for event in report["processing"]]
    assert roles == ["register_manager", "staff", "instructor", "staff", "user", None]
    assert report["consents"][0]["recorded_by"] == "user"
    section = next(
        s
        for s in access_document(report, "fi").sections
        if s.title == "Kuka tietojasi on käsitellyt"
    )
    assert [row[1] for row in section.rows] == [
        "Rekisteristä vastaava henkilö",
        "Toimisto",
        "Ohjaaja",
        "Toimisto",
        "Käyttäjä",
        "rekisteri itse",
    ]


def test_rectification_is_linked_to_its_request(client, register_manager):
    case = DataSubjectRequestFactory(kind="rectification")
    customer = case.customer
    client.force_login(register_manager)
    url = reverse("registry:customer-update", args=[customer.pk]) + f"?case={case.pk}"
    form = client.get(url)
    assert f'name="case" value="{case.pk}"' in form.content.decode()
    data = {
        f: getattr(customer, f)
        for f in ("first_name", "email", "street_address", "postal_code", "city", "source")
    }
    data.update(
        {
            "last_name": "Korjattu",
            "phone": str(customer.phone),
            "country": "FI",
            "case": case.pk,
            "version": VersionField.token(customer),
        }
    )
    client.post(reverse("registry:customer-update", args=[customer.pk]), data)
    page = client.get(case.get_absolute_url())
    assert [e.action for e in page.context["trail"]] == ["customer_changed"]


def test_erasure_needs_the_password_and_the_typed_word(client, register_manager, password):
    customer = CustomerFactory()
    client.force_login(register_manager)
    url = reverse("registry:customer-erase", args=[customer.pk])
    wrong = client.post(url, {"password": "väärä-salasana", "confirmation": "POISTA"})
    assert "password" in wrong.context["form"].errors
    untyped = client.post(url, {"password": password, "confirmation": "poista"})
    assert "confirmation" in untyped.context["form"].errors
    assert Customer.objects.filter(pk=customer.pk).exists()
    response = client.post(url, {"password": password, "confirmation": "POISTA"})
    assert response.status_code == 302
    assert not Customer.objects.filter(pk=customer.pk).exists()


def personal_forms(value):
    """A value as it may be stored: as typed, and escaped inside JSON text."""
    return {value, json.dumps(value)[1:-1], value.casefold()}


def as_text(value):
    # Binary columns (a kept import file) come as bytes or memoryview.
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def every_text_in_the_database():
    """Every value of every row of every table, as text."""
    texts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                texts.extend(as_text(value) for value in row if value is not None)
    return "\n".join(texts)


def test_erasure_leaves_no_trace_anywhere(client, register_manager, staff_member):
    customer = CustomerFactory(
        first_name="Ilmari",
        last_name="Poistettava-Äijälä",
        email="ilmari.poistettava@example.invalid",
        phone="+358409876543",
        street_address="Katoamistie 7",
    )
    twin = CustomerFactory(
        first_name="Ilmari",
        last_name="Poistettava-Äijälä",
        email="vanha.ilmari@example.invalid",
        phone="",
    )
    # Every kind of data the register can hold about a person:
    ConsentFactory(customer=twin, recorded_by=staff_member)
    customer_merge(keep=customer, remove=twin, values={"email": customer.email}, by=staff_member)
    ConsentFactory(
        customer=customer,
        channel="direct_marketing",
        event="objection",
        text=None,
        recorded_by=staff_member,
    )
    course = CourseFactory(capacity=5)
    EnrollmentFactory(customer=customer, course=course, status="enrolled")
    customer_viewed(customer=customer, by=staff_member, request=None)
    customer_searched(query="Poistettava-Äijälä", result_count=1, by=staff_member, request=None)
    # A phone number however it was typed into the search box.
    for typed in ("040 987 6543", "+358 40 987 6543", "040-987 65 43", "00358409876543"):
        customer_searched(query=typed, result_count=1, by=staff_member, request=None)
    customer_update(
        customer=customer, data={"street_address": "Uusi Katoamistie 8"}, by=staff_member
    )
    case = case_log(
        customer=customer,
        kind="erasure",
        received_on=timezone.localdate(),
        identity_verification="Ilmari Poistettava-Äijälä näytti ajokortin",
        by=register_manager,
    )
    client.post(
        reverse("login"), {"username": "ilmari.poistettava@example.invalid", "password": "x" * 12}
    )
    client.force_login(register_manager)
    client.post(
        reverse("registry:marketing-list"),
        {"channel": "post", "purpose": "kirje Ilmari Poistettava-Äijälä"},
    )
    client.get(reverse("registry:access-report", args=[customer.pk]), {"format": "json"})
    # A file that held the person: imported with the row rejected (kept to be
    # fixed), and uploaded again, waiting for confirmation.
    content = csv_bytes(
        [
            ["Etunimi", "Sukunimi", "Sähköposti", "Katuosoite"],
            ["Ilmari", "Poistettava-Äijälä", "ilmari.poistettava@", "Katoamistie 7"],
        ]
    )
    imported = import_upload(
        file_name="Ilmari Poistettava-Äijälä yhteystiedot.csv", content=content, by=staff_member
    )
    import_apply(customer_import=imported, by=staff_member)
    client.get(reverse("registry:import-rejected", args=[imported.pk]))
    import_upload(file_name="lista.csv", content=content, by=staff_member)
    # Texts users type, which may name the person: the purposes of exports,
    # the notes of requests (also of someone else's), a column's header.
    register_export_request(
        file_format="csv", purpose="Ilmari Poistettava-Äijälä pyysi", by=register_manager
    )
    participant_list_export(
        course=course,
        columns=["first_name"],
        purpose="lista Ilmari Poistettavalle",
        file_format="csv",
        by=staff_member,
    )
    case_update(
        case=case,
        data={"extension_reason": "Ilmari Poistettava-Äijälä lähettää lisätietoja"},
        by=register_manager,
    )
    other_case = case_log(
        customer=CustomerFactory(),
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="Poistettava-Äijälä (poika) soitti",
        by=register_manager,
    )
    headed = import_upload(
        file_name="x.csv",
        content=csv_bytes([["Etunimi", "Ilmari Poistettava-Äijälä"], ["Aino", "x"]]),
        by=staff_member,
    )
    import_cancel(customer_import=headed)
    account_deactivate(
        user=UserFactory(), by=register_manager, reason="Ilmari Poistettava-Äijälä valitti"
    )
    old_id = customer.pk
    before = every_text_in_the_database()
    for typed in (
        "Ilmari Poistettava-Äijälä yhteystiedot.csv",
        "Ilmari Poistettava-Äijälä pyysi",
        "Ilmari Poistettavalle",
        "Ilmari Poistettava-Äijälä lähettää",
        "Poistettava-Äijälä (poika)",
        "Ilmari Poistettava-Äijälä valitti",
    ):
        assert typed in before or json.dumps(typed)[1:-1] in before, typed

    reference = customer_erase(customer=customer, by=register_manager, case=case)

    text = every_text_in_the_database()
    for value in (
        "Poistettava",
        "Äijälä",
        "ilmari.poistettava",
        "vanha.ilmari",
        "409876543",
        "040 9876543",
        "0409876543",
        "Katoamistie",
        "987 6543",
        "987 65 43",
        "358409876543",
    ):
        for form in personal_forms(value):
            assert form not in text, f"{form!r} is still in the database"
    # What remains: the anonymous place on the course, the case, and the fact.
    assert Enrollment.objects.filter(course=course, customer=None).count() == 1
    assert not Consent.objects.exists()
    case.refresh_from_db()
    assert case.customer is None and case.reference == reference
    imported.refresh_from_db()
    assert imported.file_name == "[poistettu] yhteystiedot.csv"
    other_case.refresh_from_db()
    assert other_case.identity_verification == "[poistettu] (poika) soitti"
    erased = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_ERASED)
    assert erased.actor == register_manager
    assert erased.detail == {
        "customer_id": old_id,
        "reference": reference,
        "reason": "request",
        # Rows that named the person without being about them (the search
        # events, the import, the other case, the login records) are counted...
        "rewritten": {
            "registry.auditevent": ANY,
            "registry.customerimport": 2,
            "registry.datasubjectrequest": 2,
            "axes.accessattempt": 1,
            "axes.accessfailurelog": 1,
            # The purpose typed for a marketing export named her.
            "registry.marketingexport": 1,
        },
    }
    # ...and each rewritten event says so, with the moment of the erasure.
    rewritten = AuditEvent.objects.filter(detail__has_key="scrubbed_at")
    assert rewritten.count() == erased.detail["rewritten"]["registry.auditevent"] >= 10
    for event in rewritten:
        moment = datetime.datetime.fromisoformat(event.detail["scrubbed_at"])
        assert abs(moment - erased.at) < timedelta(seconds=5)
    assert [entry["customer_id"] for entry in read_journal()] == [old_id]


def test_the_erasure_journal_is_written_owner_only(register_manager, settings):
    customer_erase(customer=CustomerFactory(), by=register_manager)
    assert oct(settings.ERASURE_JOURNAL_PATH.stat().st_mode & 0o777) == "0o600"


def test_other_customers_are_untouched_by_an_erasure(register_manager, staff_member):
    keep = CustomerFactory(
        last_name="Pysyvä", city="Joensuu"
    )  # not Kuopio: the change below must be one
    customer_update(customer=keep, data={"city": "Kuopio"}, by=staff_member)
    customer_erase(customer=CustomerFactory(last_name="Lähtevä"), by=register_manager)
    keep.refresh_from_db()
    assert keep.last_name == "Pysyvä"
    event = AuditEvent.objects.get(action="customer_changed")
    assert event.detail["changes"]["city"][1] == "Kuopio"


class TestRetention:
    @pytest.fixture
    def old(self):
        def make(**kwargs):
            customer = CustomerFactory(**kwargs)
            Customer.objects.filter(pk=customer.pk).update(
                last_activity_at=timezone.now() - timedelta(days=4 * 365)
            )
            return customer

        return make

    def test_candidates_exclude_open_requests_and_coming_courses(self, old):
        inactive = old(last_name="Unohtunut")
        with_request = old(last_name="Pyytänyt")
        DataSubjectRequestFactory(customer=with_request)
        coming = old(last_name="Tulossa")
        EnrollmentFactory(customer=coming)
        CustomerFactory(last_name="Aktiivinen")

        assert list(retention_candidates()) == [inactive]

    def test_the_command_lists_on_dry_run_and_erases_otherwise(self, old, capsys):
        inactive = old(first_name="Eino", last_name="Unohtunut")
        call_command("retention", "--dry-run")
        out = capsys.readouterr().out
        assert f"#{inactive.pk} Eino Unohtunut" in out and "Dry run" in out
        assert Customer.objects.filter(pk=inactive.pk).exists()
        call_command("retention")
        # A real run's output goes to cron's mail: numbers, never names.
        out = capsys.readouterr().out
        assert f"#{inactive.pk}" in out and "Erased 1 customer." in out
        assert "Eino" not in out and "Unohtunut" not in out
        assert not Customer.objects.filter(pk=inactive.pk).exists()
        assert AuditEvent.objects.get(action="customer_erased").detail["reason"] == "retention"

    def test_the_register_manager_erases_after_review(
        self, old, client, register_manager, password
    ):
        reviewed, kept = old(last_name="Unohtunut"), old(last_name="Säilytettävä")
        client.force_login(register_manager)
        page = client.get(reverse("registry:retention"))
        assert page.context["count"] == 2
        for hostile in ("²", "abc", "9" * 30):
            refused = client.post(
                reverse("registry:retention"),
                {
                    "customer": [reviewed.pk, hostile],
                    "password": password,
                    "confirmation": "POISTA",
                },
            )
            assert refused.status_code == 200 and Customer.objects.count() == 2
        client.post(
            reverse("registry:retention"),
            {"customer": [reviewed.pk], "password": password, "confirmation": "POISTA"},
        )
        assert list(Customer.objects.all()) == [kept]


def test_the_dashboard_warns_of_requests_near_their_deadline(client, register_manager):
    DataSubjectRequestFactory(deadline=timezone.localdate() + timedelta(days=2))
    client.force_login(register_manager)
    body = client.get("/").content.decode()
    assert "border-warning" in body and "2 päivää jäljellä" in body


def test_every_relation_of_customer_says_what_its_erasure_does(monkeypatch):
    """Data owners register their erasure handlers (registry.erasure); a model
    that points at Customer without one stops every erasure."""

    handlers = erasure.erasure_handlers(Customer)
    relations = {rel.related_model._meta.label_lower for rel in Customer._meta.related_objects}
    assert relations <= set(handlers)
    # Those that hold typed text naming the person without pointing at them, too.
    assert {"registry.auditevent", "registry.customerimport", "axes.accessattempt"} <= set(
        handlers
    )
    monkeypatch.delitem(erasure._handlers, "courses.enrollment")
    customer = CustomerFactory()
    with pytest.raises(ImproperlyConfigured, match=r"courses\.enrollment"):
        customer_erase(customer=customer, by=None)
    assert Customer.objects.filter(pk=customer.pk).exists()


def test_a_case_shows_that_its_access_report_was_viewed_and_sent(client, register_manager):
    customer = CustomerFactory()
    case = DataSubjectRequestFactory(customer=customer, kind="access", handled_by=register_manager)
    client.force_login(register_manager)
    client.get(reverse("registry:access-report", args=[customer.pk]))
    client.get(reverse("registry:access-report", args=[customer.pk]), {"format": "json"})
    trail = client.get(case.get_absolute_url()).context["trail"]
    assert {"access_report_viewed", "access_report_exported"} <= {e.action for e in trail}


def test_an_erasure_blanks_names_where_words_start_only(register_manager, staff_member):
    """Erasing Mäki blanks "Mäki" where a word starts ("Mäkiä"), not the "mäki"
    inside someone else's "Kotimäki"; the untouched event keeps no mark."""
    customer = CustomerFactory(first_name="Testi", last_name="Mäki", phone="")
    customer_searched(query="Mäkiä etsittiin", result_count=1, by=staff_member, request=None)
    customer_searched(query="Kotimäki", result_count=1, by=staff_member, request=None)

    customer_erase(customer=customer, by=register_manager)

    searches = AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_SEARCHED).order_by("pk")
    first, second = (event.detail for event in searches)
    assert first["query"] == "[poistettu]ä etsittiin" and "scrubbed_at" in first
    assert second["query"] == "Kotimäki" and "scrubbed_at" not in second


def test_a_name_inside_the_erased_mark_is_blanked_once(register_manager, staff_member):
    """A name that the mark itself contains ("Tettu" in "[poistettu]") is
    replaced in one pass, not searched for again inside its own replacement."""
    customer = CustomerFactory(first_name="Tettu", last_name="Ist", phone="")
    customer_searched(query="Tettu Ist", result_count=1, by=staff_member, request=None)

    customer_erase(customer=customer, by=register_manager)

    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_SEARCHED)
    assert event.detail["query"] == "[poistettu]"


def access_report_pdf_text(content):
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


#: Codes and forms of the data that a person should never have to read.
RAW = ("enrolment_or_purchase", "customer_viewed", "web_form", "first_name", "T00:", "+00:00")


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fi", ["Sähköpostimarkkinointi", "Suostumus annettu", "Verkkolomake", "Kurssi"]),
        ("en", ["Email marketing", "Consent given", "Web form", "Course"]),
    ],
)
def test_the_access_report_is_a_document_in_the_customers_language(
    client, register_manager, staff_member, language, words
):
    """Whatever the register manager's own language, the report is in the
    customer's: labels and codes in words, times local, nothing raw."""
    customer = CustomerFactory(
        first_name="Åsa", last_name="Łęcka-Öhman", source="enrolment_or_purchase"
    )
    ConsentFactory(customer=customer, recorded_by=staff_member, method="web_form")
    EnrollmentFactory(customer=customer, course=CourseFactory(title="Pilates"))
    customer_viewed(customer=customer, by=staff_member, request=None)
    client.force_login(register_manager)
    url = reverse("registry:access-report", args=[customer.pk])

    page = client.get(url, {"language": language}, headers={"accept-language": "fi"})
    pdf = client.get(url, {"format": "pdf", "language": language})

    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].endswith('.pdf"')
    document = page.context["document"]
    shown = " ".join(
        str(value)
        for section in document.sections
        for row in [section.columns, *section.rows]
        for value in row
    )
    text = access_report_pdf_text(pdf.content)
    for content in (shown, text):
        # Without white space: the PDF wraps words inside narrow columns.
        content = "".join(content.split())
        for word in ["Łęcka-Öhman", *words]:
            assert "".join(word.split()) in content, word
        for raw in RAW:
            assert raw not in content, raw
    exported = AuditEvent.objects.filter(
        action=AuditEvent.Action.ACCESS_REPORT_EXPORTED, target_id=str(customer.pk)
    )
    assert exported.count() == 1


def test_the_access_report_takes_no_unknown_format_or_language(client, register_manager):
    customer = CustomerFactory()
    client.force_login(register_manager)
    url = reverse("registry:access-report", args=[customer.pk])
    for query in ({"format": "docx"}, {"language": "xx"}, {"language": "a" * 5000}):
        response = client.get(url, query)
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")


def test_the_pdf_takes_a_long_wording_and_any_name(client, register_manager, staff_member):
    """Third probe (F1, F8): a consent wording of 2,000 characters made the PDF
    answer 500 (a table row taller than a page); a name "{nb}" printed as the
    page count; letters the font lacks vanished without a mark."""
    wording = " ".join(["Haluan saada tarjouksia ja uutisia sähköpostiini."] * 100)
    unbroken = "https://example.invalid/" + "x" * 3000
    text = ConsentText.objects.create(
        channel="email", version=99, wording=f"{wording} {unbroken}", created_by=register_manager
    )
    customer = CustomerFactory(first_name="{nb}", last_name="李小龍")
    ConsentFactory(customer=customer, recorded_by=staff_member, text=text)
    client.force_login(register_manager)
    url = reverse("registry:access-report", args=[customer.pk])

    response = client.get(url, {"format": "pdf", "language": "fi"})

    assert response.status_code == 200
    content = "".join(access_report_pdf_text(response.content).split())
    # All of it, below the table (a page's footer may come between two lines).
    assert content.count("Haluansaadatarjouksiajauutisiasähköpostiini") >= 98
    assert "x" * 1000 in content and unbroken[-40:] in content
    assert "{nb}" in content
    assert "\ufffd\ufffd\ufffd" in content and "李" not in content
    assert "merkitty" in content

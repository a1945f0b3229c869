"""What an import writes into the consent ledger, and when it is dated: a
file's consent never beats a refusal recorded before or after it on the same
day, and no event of the ledger is dated in the future (the data-protection
audit's t14)."""

import datetime
import io
import re
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from registry.audit.models import AuditEvent
from registry.forms import ConsentForm, CustomerCreateForm
from registry.imports.analysis import ImportOptions, Outcome
from registry.imports.forms import ImportMappingForm
from registry.imports.models import CustomerImport
from registry.imports.services import (
    ImportStateError,
    _preview_row,
    import_apply,
    import_preview,
    import_undo,
)
from registry.journal import read_marketing_journal
from registry.marketing.models import SuppressedContact
from registry.models import Consent, Customer, MarketingChannel
from registry.rights.erasure import customer_erase
from registry.services import consent_record, marketing_list

from .factories import ConsentFactory, CustomerFactory
from .test_imports import (  # noqa: F401
    HEADER,
    check,
    csv_bytes,
    email_wording,
    person,
    upload,
)

NEWSLETTER = [*HEADER, "Uutiskirje"]


def today_at(hour, minute=0):
    return timezone.make_aware(
        datetime.datetime.combine(timezone.localdate(), datetime.time(hour, minute))
    )


def on_list(channel, customer):
    return marketing_list(channel=channel).filter(pk=customer.pk).exists()


def import_at(moment, rows, by, **options):
    with mock.patch("django.utils.timezone.now", return_value=moment):
        customer_import = upload(rows, by, **options)
        return import_apply(customer_import=customer_import, by=by)


# --- When a file's consent is dated ----------------------------------------------


@pytest.mark.django_db
def test_a_withdrawal_after_a_morning_import_of_todays_consents_wins(
    staff_member,
    email_wording,  # noqa: F811
):
    """Imported at 09:00 with today's date, withdrawn at 10:00: the consent
    was dated at noon, after the withdrawal, and won for good."""
    import_at(
        today_at(9),
        [[*person(), "kyllä"]],
        staff_member,
        header=NEWSLETTER,
        consent_date=timezone.localdate(),
        email_text=email_wording,
    )
    aino = Customer.objects.get()
    with mock.patch("django.utils.timezone.now", return_value=today_at(10)):
        consent_record(
            customer=aino, channel="email", event="withdrawn", method="phone", by=staff_member
        )
        assert not on_list(MarketingChannel.EMAIL, aino)
    assert not on_list(MarketingChannel.EMAIL, aino)
    consent = aino.consents.get(event="given")
    assert consent.occurred_at <= consent.recorded_at


@pytest.mark.django_db
def test_a_withdrawal_of_the_same_day_recorded_later_wins_over_the_files_consent(
    staff_member,
    email_wording,  # noqa: F811
):
    """The file gives a day, not a time: a withdrawal on the phone at 11:00,
    written down after the 13:00 import, is not older than the consent."""
    import_at(
        today_at(13),
        [[*person(), "kyllä"]],
        staff_member,
        header=NEWSLETTER,
        consent_date=timezone.localdate(),
        email_text=email_wording,
    )
    aino = Customer.objects.get()
    with mock.patch("django.utils.timezone.now", return_value=today_at(14)):
        consent_record(
            customer=aino,
            channel="email",
            event="withdrawn",
            method="phone",
            occurred_at=today_at(11),
            by=staff_member,
        )
    assert not on_list(MarketingChannel.EMAIL, aino)
    consent = aino.consents.get(event="given")
    assert timezone.localtime(consent.occurred_at).date() == timezone.localdate()


@pytest.mark.django_db
def test_a_files_objection_is_not_dated_after_its_import(staff_member):
    import_at(
        today_at(9),
        [[*person(), "kyllä"]],
        staff_member,
        header=[*HEADER, "Suoramarkkinointikielto"],
        consent_date=timezone.localdate(),
        consent_method="letter",
    )
    objection = Consent.objects.get()
    assert objection.occurred_at <= objection.recorded_at == today_at(9)


@pytest.mark.django_db
def test_a_future_consent_date_is_refused_by_the_import(
    staff_member,
    email_wording,  # noqa: F811
):
    customer_import = upload(
        [[*person(), "kyllä"]],
        staff_member,
        header=NEWSLETTER,
        consent_date=timezone.localdate() + datetime.timedelta(days=1),
        email_text=email_wording,
    )
    with pytest.raises(ImportStateError, match=r"future|tulevaisuu"):
        import_apply(customer_import=customer_import, by=staff_member)
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_a_future_consent_date(
    staff_member,
    tmp_path,
    email_wording,  # noqa: F811
):
    path = tmp_path / "uutiskirje.csv"
    path.write_bytes(csv_bytes([NEWSLETTER, [*person(), "kyllä"]]))
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    with pytest.raises(CommandError, match=r"--consent-date.*future"):
        call_command(
            "import_customers",
            str(path),
            "--user",
            staff_member.username,
            "--consent-date",
            tomorrow,
            "--email-text",
            str(email_wording.version),
        )
    assert not Customer.objects.exists()


# --- No event of the ledger in the future --------------------------------------------


@pytest.mark.django_db
def test_the_ledger_refuses_an_event_dated_in_the_future(staff_member):
    aino = CustomerFactory(email="aino@example.invalid")
    with pytest.raises(ValidationError):
        consent_record(
            customer=aino,
            channel="direct_marketing",
            event="objection_lifted",
            method="phone",
            occurred_at=timezone.now() + datetime.timedelta(hours=3),
            by=staff_member,
        )
    assert not aino.consents.exists()


@pytest.mark.django_db
def test_a_time_a_few_minutes_ahead_on_the_form_is_recorded_as_now(client, staff_member):
    """The form allows a browser's clock a few minutes fast; the ledger gets now."""
    aino = CustomerFactory(email="aino@example.invalid")
    client.force_login(staff_member)
    ahead = timezone.localtime() + datetime.timedelta(minutes=3)
    response = client.post(
        reverse("registry:consent-create", args=[aino.pk]),
        {
            "change": "email:withdrawn",
            "method": "phone",
            "occurred_at": ahead.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302
    consent = aino.consents.get()
    assert consent.occurred_at <= consent.recorded_at <= timezone.now()


# --- The suppression list: an erased objector added again (audit t4) ----------------


OLD_FILE_ROW = person(email="kerttu.k@example.invalid", phone="040 555 6677")


@pytest.fixture
def erased_objector(db, staff_member, register_manager):
    """A customer who objected to direct marketing, then was erased: the
    suppression list keeps the hashes of the address and the number."""
    kerttu = CustomerFactory(email="kerttu.k@example.invalid", phone="+358405556677")
    consent_record(
        customer=kerttu,
        channel="direct_marketing",
        event="objection",
        method="letter",
        by=staff_member,
    )
    customer_erase(customer=kerttu, by=register_manager)
    return SuppressedContact.objects.order_by("suppressed_at").first().suppressed_at


def on_some_list(customer):
    return [channel for channel in MarketingChannel if on_list(channel, customer)]


@pytest.mark.django_db
def test_an_erased_objector_imported_again_from_an_old_file_is_on_no_list(
    erased_objector, staff_member, register_manager
):
    with override("en"):
        row = check([OLD_FILE_ROW]).rows[0]
        shown = _preview_row(row)
    assert row.outcome == Outcome.CREATE
    assert "Objection to direct marketing" in shown["marketing"]
    assert "objection to direct marketing is recorded" in " ".join(shown["warnings"])

    done = import_apply(customer_import=upload([OLD_FILE_ROW], staff_member), by=staff_member)

    again = Customer.objects.get(email="kerttu.k@example.invalid")
    assert on_some_list(again) == []
    objection = again.consents.get()
    assert (objection.channel, objection.event, objection.method) == (
        "direct_marketing",
        "objection",
        "suppression_list",
    )
    assert objection.recorded_by == staff_member
    assert objection.occurred_at == erased_objector <= objection.recorded_at
    audited = AuditEvent.objects.for_customer(again).get(action=AuditEvent.Action.CONSENT_RECORDED)
    assert audited.actor == staff_member
    assert audited.detail["method"] == "suppression_list"
    assert audited.detail["import"] == done.pk
    imported = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMERS_IMPORTED)
    assert imported.detail["suppressed"] == 1

    # The undo removes the customer it added, with the objection.
    assert import_undo(customer_import=done, by=register_manager)["removed"] == 1
    assert not Customer.objects.filter(email="kerttu.k@example.invalid").exists()


@pytest.mark.django_db
def test_a_phone_on_the_list_is_enough_and_the_files_consent_is_still_dropped(
    erased_objector,
    staff_member,
    email_wording,  # noqa: F811
):
    row = [*person(email="uusi.osoite@example.invalid", phone="040 555 6677"), "kyllä"]
    customer_import = upload(
        [row],
        staff_member,
        header=NEWSLETTER,
        consent_date=datetime.date(2026, 3, 1),
        email_text=email_wording,
    )
    import_apply(customer_import=customer_import, by=staff_member)
    again = Customer.objects.get(email="uusi.osoite@example.invalid")
    assert list(again.consents.values_list("event", "method")) == [
        ("objection", "suppression_list")
    ]
    assert on_some_list(again) == []


@pytest.mark.django_db
def test_a_file_that_objects_itself_gets_one_objection(erased_objector, staff_member):
    customer_import = upload(
        [[*OLD_FILE_ROW, "kyllä"]],
        staff_member,
        header=[*HEADER, "Suoramarkkinointikielto"],
        consent_date=datetime.date(2026, 3, 1),
        consent_method="letter",
    )
    import_apply(customer_import=customer_import, by=staff_member)
    again = Customer.objects.get(email="kerttu.k@example.invalid")
    assert list(again.consents.values_list("event", "method")) == [("objection", "letter")]


@pytest.mark.django_db
def test_staff_lifting_the_objection_later_still_wins(erased_objector, staff_member):
    import_apply(customer_import=upload([OLD_FILE_ROW], staff_member), by=staff_member)
    again = Customer.objects.get(email="kerttu.k@example.invalid")
    consent_record(
        customer=again,
        channel="direct_marketing",
        event="objection_lifted",
        method="in_person",
        by=staff_member,
    )
    assert set(on_some_list(again)) == {MarketingChannel.POST, MarketingChannel.PHONE}


@pytest.mark.django_db
def test_a_customer_added_by_hand_with_a_suppressed_address_gets_the_objection(
    client, erased_objector, staff_member
):
    client.force_login(staff_member)
    response = client.post(
        reverse("registry:customer-create"),
        {
            "first_name": "Kerttu",
            "last_name": "Kieltäjä",
            "email": "KERTTU.K@example.invalid",
            "phone": "",
            "street_address": "Kieltotie 3",
            "postal_code": "80100",
            "city": "Joensuu",
            "country": "FI",
            "source": "information_request",
            "submission": CustomerCreateForm.new_token(),
        },
        follow=True,
    )
    again = Customer.objects.get(email="KERTTU.K@example.invalid")
    assert on_some_list(again) == []
    objection = again.consents.get()
    assert (objection.event, objection.method, objection.recorded_by) == (
        "objection",
        "suppression_list",
        staff_member,
    )
    said = " ".join(str(message) for message in response.context["messages"])
    # What happened, and what to do if the customer now allows marketing.
    assert "suoramarkkinointikielto" in said.casefold(), said
    assert "Kirjaa suostumus tai kielto" in said, said


def test_the_suppression_list_is_no_way_a_person_gives_anything():
    """Only the register records an objection from the suppression list."""
    methods = dict(ConsentForm.base_fields["method"].choices)
    assert Consent.Method.SUPPRESSION_LIST not in methods
    assert Consent.Method.SUPPRESSION_LIST not in dict(
        ImportMappingForm.base_fields["consent_method"].choices
    )


# --- Customers already in the register: the file's refusals (audit t9) -----------


OBJECTION = "Suoramarkkinointikielto"
FILE_DAY = datetime.date(2026, 3, 1)


def at(day, hour=12):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour)))


@pytest.fixture
def eero(db):
    return CustomerFactory(
        first_name="Eero",
        last_name="Olemassa",
        email="eero.o@example.invalid",
        phone="+358401230000",
        street_address="Tie 1",
        postal_code="80100",
        city="Joensuu",
    )


def eero_row(*answers):
    return [*person(first="Eero", email="eero.o@example.invalid", phone="040 1230000"), *answers]


def ledger(customer):
    return list(customer.consents.order_by("pk").values_list("channel", "event", "method"))


@pytest.mark.django_db
def test_an_objection_in_the_file_is_recorded_for_a_customer_already_in_the_register(
    eero, staff_member, tmp_path
):
    path = tmp_path / "kiellot.csv"
    new = person(first="Uusi", email="uusi.h@example.invalid", phone="040 1239999")
    path.write_bytes(csv_bytes([[*HEADER, OBJECTION], eero_row("kyllä"), [*new, "kyllä"]]))
    out = io.StringIO()
    call_command(
        "import_customers",
        str(path),
        "--user",
        staff_member.username,
        "--consent-date",
        FILE_DAY.isoformat(),
        "--consent-method",
        "letter",
        stdout=out,
    )
    assert ledger(eero) == [("direct_marketing", "objection", "letter")]
    objection = eero.consents.get()
    assert objection.recorded_by == staff_member
    assert timezone.localtime(objection.occurred_at).date() == FILE_DAY
    assert on_some_list(eero) == []
    done = CustomerImport.objects.get()
    assert (done.created_count, done.matched_count, done.recorded_count) == (1, 1, 1)
    audited = AuditEvent.objects.for_customer(eero).get(action=AuditEvent.Action.CONSENT_RECORDED)
    assert (audited.actor, audited.detail["event"], audited.detail["import"]) == (
        staff_member,
        "objection",
        done.pk,
    )
    imported = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMERS_IMPORTED)
    assert imported.detail["recorded"] == 1
    said = out.getvalue()
    assert "row 2: already in the register; recorded: " in said
    assert "already in the register: 1 (objections or withdrawals recorded for 1)" in said
    assert "1 objections or withdrawals recorded for customers already in the register" in said


@pytest.mark.django_db
def test_the_preview_says_what_is_recorded_for_a_customer_already_in_the_register(eero):
    options = ImportOptions(consent_date=FILE_DAY, consent_method="letter")
    with override("en"):
        analysis = check([eero_row("kyllä")], header=[*HEADER, OBJECTION], options=options)
        (row,) = analysis.rows
        shown = _preview_row(row)
    assert (row.outcome, row.match_id, row.refusals) == (Outcome.MATCH, eero.pk, ("objection",))
    assert shown["recorded"] == ["Objection to direct marketing"]


@pytest.mark.django_db
def test_a_no_in_a_consent_column_withdraws_an_earlier_consent_but_never_gives_one(
    staff_member,
    email_wording,  # noqa: F811
):
    def customer(name, *, consented_on=None):
        found = CustomerFactory(first_name=name, email=f"{name.lower()}@example.invalid")
        if consented_on:
            ConsentFactory(customer=found, text=email_wording, occurred_at=at(consented_on))
        return found

    earlier = customer("Aiemmin", consented_on=datetime.date(2026, 1, 15))
    later = customer("Myohemmin", consented_on=datetime.date(2026, 5, 1))
    never = customer("Koskaan")
    asks = customer("Pyytaa")
    blank = customer("Tyhja", consented_on=datetime.date(2026, 1, 15))

    def row(found, answer):
        return [*person(first=found.first_name, email=found.email, phone=""), answer]

    customer_import = upload(
        [
            row(earlier, "ei"),
            row(later, "ei"),
            row(never, "ei"),
            row(asks, "kyllä"),
            row(blank, ""),
        ],
        staff_member,
        header=NEWSLETTER,
        consent_date=FILE_DAY,
        email_text=email_wording,
    )
    with override("en"):
        rows = check(
            [row(found, answer) for found, answer in ((later, "ei"), (asks, "kyllä"))],
            header=NEWSLETTER,
            options=ImportOptions(consent_date=FILE_DAY, email_text=email_wording),
        ).rows
    assert "later" in " ".join(rows[0].warnings)
    assert "not recorded" in " ".join(rows[1].warnings)
    done = import_apply(customer_import=customer_import, by=staff_member)

    assert ledger(earlier)[-1] == ("email", "withdrawn", "web_form")
    assert not on_list(MarketingChannel.EMAIL, earlier)
    # The register's consent is later than the file's day: it stands.
    assert ledger(later) == [("email", "given", "in_person")]
    assert on_list(MarketingChannel.EMAIL, later)
    # Nothing to withdraw; and a consent of the file is never recorded for them.
    assert ledger(never) == [] and ledger(asks) == []
    assert ledger(blank) == [("email", "given", "in_person")]
    assert (done.created_count, done.matched_count, done.recorded_count) == (0, 5, 1)


@pytest.mark.django_db
def test_an_objection_already_standing_or_lifted_later_is_left_as_it_is(eero, staff_member):
    lifted = CustomerFactory(first_name="Lifted", email="lifted@example.invalid", phone="")
    ConsentFactory(customer=eero, channel="direct_marketing", event="objection", text=None)
    ConsentFactory(
        customer=lifted,
        channel="direct_marketing",
        event="objection_lifted",
        text=None,
        occurred_at=at(datetime.date(2026, 4, 1)),
    )
    customer_import = upload(
        [eero_row("kyllä"), [*person(first="Lifted", email=lifted.email, phone=""), "x"]],
        staff_member,
        header=[*HEADER, OBJECTION],
        consent_date=FILE_DAY,
        consent_method="letter",
    )
    done = import_apply(customer_import=customer_import, by=staff_member)
    assert ledger(eero) == [("direct_marketing", "objection", "in_person")]
    assert ledger(lifted) == [("direct_marketing", "objection_lifted", "in_person")]
    assert done.recorded_count == 0


@pytest.mark.django_db
def test_two_rows_of_one_customer_record_one_objection(eero, staff_member):
    by_phone = person(first="Eero", email="toinen.osoite@example.invalid", phone="040 1230000")
    customer_import = upload(
        [
            [*person(first="Eero", email="eero.o@example.invalid", phone=""), "kyllä"],
            [*by_phone, "kyllä"],
        ],
        staff_member,
        header=[*HEADER, OBJECTION],
        consent_date=FILE_DAY,
        consent_method="letter",
    )
    done = import_apply(customer_import=customer_import, by=staff_member)
    assert ledger(eero) == [("direct_marketing", "objection", "letter")]
    assert done.recorded_count == 1


@pytest.mark.django_db
def test_undo_leaves_the_objections_of_customers_already_in_the_register(
    eero, staff_member, register_manager
):
    new = person(first="Uusi", email="uusi.h@example.invalid", phone="040 1239999")
    customer_import = upload(
        [eero_row("kyllä"), [*new, ""]],
        staff_member,
        header=[*HEADER, OBJECTION],
        consent_date=FILE_DAY,
        consent_method="letter",
    )
    done = import_apply(customer_import=customer_import, by=staff_member)
    report = import_undo(customer_import=done, by=register_manager)
    assert report["removed"] == 1
    assert not Customer.objects.filter(email="uusi.h@example.invalid").exists()
    # An objection is the customer's: lifted only when they say so.
    assert ledger(eero) == [("direct_marketing", "objection", "letter")]


@pytest.mark.django_db
def test_an_import_that_only_records_objections_can_be_confirmed(client, eero, staff_member):
    client.force_login(staff_member)
    content = csv_bytes([[*HEADER, OBJECTION], eero_row("kyllä")])
    with mock.patch("registry.imports.services.enqueue_on_commit"):
        customer_import = upload([eero_row("kyllä")], staff_member, header=[*HEADER, OBJECTION])
    customer_import.content = content
    customer_import.options = ImportOptions(
        consent_date=FILE_DAY, consent_method="letter"
    ).as_json()
    customer_import.save()
    import_preview(customer_import, fresh=True)
    with override("en"):
        page = client.get(customer_import.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert page.context["preview"]["recorded"] == 1
    confirm = re.search(r'<button type="submit" name="confirm"[^>]*>', body).group(0)
    assert "disabled" not in confirm


@pytest.mark.django_db
def test_matched_customers_cost_a_few_queries_per_chunk_not_per_row(staff_member):
    def analysed(count):
        customers = [
            CustomerFactory(email=f"asiakas{count}-{i}@example.invalid", phone="")
            for i in range(count)
        ]
        rows = [[*person(email=c.email, phone=""), "kyllä"] for c in customers]
        options = ImportOptions(consent_date=FILE_DAY, consent_method="letter")
        with CaptureQueriesContext(connection) as queries:
            analysis = check(rows, header=[*HEADER, OBJECTION], options=options)
        assert all(row.refusals == ("objection",) for row in analysis.rows)
        return len(queries)

    assert analysed(3) == analysed(30)


@pytest.mark.django_db
def test_refusals_for_customers_already_in_the_register_outlive_a_restore(eero, staff_member):
    """A backup from before the import holds the customer without the
    objection: it goes into the marketing journal, as one recorded on the
    customer's page does."""
    customer_import = upload(
        [eero_row("kyllä")],
        staff_member,
        header=[*HEADER, OBJECTION],
        consent_date=FILE_DAY,
        consent_method="letter",
    )
    import_apply(customer_import=customer_import, by=staff_member)
    (entry,) = read_marketing_journal()
    assert (entry["customer_id"], entry["channel"], entry["event"], entry["method"]) == (
        eero.pk,
        "direct_marketing",
        "objection",
        "letter",
    )
    assert entry["recorded_by"] == staff_member.pk

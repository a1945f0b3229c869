"""The import reuses the rows its preview checked (issue 23): what it writes
must be exactly what checking every row again writes, also when the register
changed between the preview and the confirmation."""

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.imports import services
from registry.imports.analysis import ImportOptions
from registry.imports.models import CustomerImport
from registry.imports.services import import_apply, import_preview, import_upload
from registry.models import Consent, ConsentText, Customer
from registry.services import CUSTOMER_FIELDS
from registry.suppression import digests_of, keep_digests

from .factories import ConsentFactory, CustomerFactory
from .test_imports import HEADER, csv_bytes, person

CONSENT = "Uutiskirje"

ROWS = [
    [*person(), "kyllä"],
    [*person(first="Eino", email="eino@example.invalid", phone="050 222 3344"), ""],
    [*person(first="Ilmari", email="ilmari@", phone=""), "kyllä"],  # invalid email
    [*person(first="Toini", email="eino@example.invalid", phone=""), ""],  # twice in the file
    [*person(first="Olemassa", email="olemassa@example.invalid", phone=""), "kyllä"],
    # Already in the register, with a consent the file's "no" withdraws.
    [*person(first="Peruu", email="peruu@example.invalid", phone=""), "ei"],
    [*person(first="Kielto", email="kielto@example.invalid", phone="040 999 8877"), "kyllä"],
    [*person(first="Myöhemmin", email="myohemmin@example.invalid", phone=""), "kyllä"],
    [*person(first="Puhelin", email="", phone="044 555 6677"), ""],
    [*person(first="Maa", email="maa@example.invalid", phone=""), "x"],
    # A leading zero that the number's parts keep apart (Rome).
    [*person(first="Roma", email="roma@example.invalid", phone="+39 06 6982 3456"), ""],
    ["Väärä", "Nimi1", "vaara@example.invalid", "", "", "", "", "?"],  # bad name, bad answer
]


@pytest.fixture
def wording(db):
    return ConsentText.objects.create(channel="email", version=99, wording="Uutiskirje.")


def previewed(by, wording):
    """An import of ROWS, previewed with its final options."""
    customer_import = import_upload(
        file_name="asiakkaat.csv", content=csv_bytes([[*HEADER, CONSENT], *ROWS]), by=by
    )
    services.import_choices_save(
        customer_import=customer_import,
        mapping=customer_import.mapping,
        options=ImportOptions(
            source="web_registration",
            consent_date=datetime.date(2026, 3, 1),
            email_text=wording,
        ),
    )
    import_preview(customer_import, fresh=True)
    return customer_import


def written(done):
    """What an import wrote, without the ids and times that differ anyway."""
    customers = Customer.objects.filter(imported_in=done).order_by("pk")
    events = {
        event.target_id: event
        for event in AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_CREATED)
    }
    result = []
    for customer in customers:
        event = events[str(customer.pk)]
        result.append(
            {
                **{name: str(getattr(customer, name)) for name in CUSTOMER_FIELDS},
                "search_text": customer.search_text,
                "consents": [
                    (c.channel, c.event, c.method, c.text_id, c.occurred_at, c.recorded_by_id)
                    for c in customer.consents.order_by("pk")
                ],
                "event": (event.actor_id, event.ip_address, event.detail["fields"]),
                "event_import": event.detail["import"] == done.pk,
            }
        )
    imported = AuditEvent.objects.get(
        action=AuditEvent.Action.CUSTOMERS_IMPORTED, target_id=str(done.pk)
    )
    counts = (done.row_count, done.created_count, done.matched_count, done.rejected_count)
    counts += (done.recorded_count,)
    # What it recorded for the customers already in the register.
    matched = [
        (c.customer_id, c.channel, c.event, c.method, c.occurred_at, c.recorded_by_id)
        for c in Consent.objects.exclude(customer__imported_in=done).order_by("pk")
    ]
    return result, counts, matched, done.rejected_rows, imported.detail | {"file": None}


def change_nothing():
    pass


def add_a_customer_with_an_email_of_the_file():
    CustomerFactory(email="MYOHEMMIN@example.invalid")


def add_a_customer_with_a_phone_of_the_file():
    CustomerFactory(email="", phone="+358445556677")


def suppress_an_address_of_the_file():
    keep_digests(set(digests_of(email="kielto@example.invalid")), timezone.now())


def record_a_later_consent_for_the_customer_a_no_withdraws():
    ConsentFactory(
        customer=Customer.objects.get(email="peruu@example.invalid"),
        occurred_at=timezone.make_aware(datetime.datetime(2026, 4, 1, 9)),
    )


def change_the_email_of_the_customer_a_row_matched():
    # (An erasure cancels every waiting import, so it cannot come between.)
    Customer.objects.filter(email="olemassa@example.invalid").update(email="muu@example.invalid")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        change_nothing,
        add_a_customer_with_an_email_of_the_file,
        add_a_customer_with_a_phone_of_the_file,
        suppress_an_address_of_the_file,
        record_a_later_consent_for_the_customer_a_no_withdraws,
        change_the_email_of_the_customer_a_row_matched,
    ],
    ids=lambda change: change.__name__,
)
def test_the_import_writes_what_checking_every_row_again_writes(
    staff_member, wording, monkeypatch, change
):
    CustomerFactory(email="olemassa@example.invalid")
    ConsentFactory(
        customer=CustomerFactory(email="peruu@example.invalid"),
        occurred_at=timezone.make_aware(datetime.datetime(2026, 1, 15, 9)),
    )
    checked, again = previewed(staff_member, wording), previewed(staff_member, wording)
    change()
    # The old way, every row checked again: rolled back once looked at.
    CustomerImport.objects.filter(pk=again.pk).update(preview={})
    with transaction.atomic():
        expected = written(import_apply(customer_import=again, by=staff_member))
        transaction.set_rollback(True)
    assert expected[0], "the oracle imported nothing"
    # The file's "no" withdrew the consent, unless a later one came meanwhile.
    assert expected[1][-1] == (
        0 if change is record_a_later_consent_for_the_customer_a_no_withdraws else 1
    )

    def no_second_check(*args, **kwargs):
        raise AssertionError("the rows were checked again")

    monkeypatch.setattr(services, "analyse", no_second_check)
    assert written(import_apply(customer_import=checked, by=staff_member)) == expected


@pytest.mark.django_db
def test_a_preview_of_other_options_is_not_reused(staff_member, wording, monkeypatch):
    customer_import = previewed(staff_member, wording)
    options = ImportOptions.from_json(customer_import.options)
    options.source = "information_request"
    services.import_choices_save(
        customer_import=customer_import, mapping=customer_import.mapping, options=options
    )
    checks = []
    analyse = services.analyse
    monkeypatch.setattr(services, "analyse", lambda *a, **k: checks.append(1) or analyse(*a, **k))
    done = import_apply(customer_import=customer_import, by=staff_member)
    assert checks == [1]
    assert set(Customer.objects.filter(imported_in=done).values_list("source", flat=True)) == {
        "information_request"
    }


@pytest.mark.django_db
def test_a_preview_kept_by_an_older_version_is_not_reused(staff_member, wording, monkeypatch):
    customer_import = previewed(staff_member, wording)
    preview = customer_import.preview
    preview["checked"]["version"] = 0
    CustomerImport.objects.filter(pk=customer_import.pk).update(preview=preview)
    checks = []
    analyse = services.analyse
    monkeypatch.setattr(services, "analyse", lambda *a, **k: checks.append(1) or analyse(*a, **k))
    done = import_apply(customer_import=customer_import, by=staff_member)
    assert checks == [1] and done.created_count == 9

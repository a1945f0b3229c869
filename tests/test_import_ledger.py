"""What an import writes into the consent ledger, and when it is dated: a
file's consent never beats a refusal recorded before or after it on the same
day, and no event of the ledger is dated in the future (the data-protection
audit's t14)."""

import datetime
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from registry.imports.services import ImportStateError, import_apply
from registry.models import Consent, Customer, MarketingChannel
from registry.services import consent_record, marketing_list

from .factories import CustomerFactory
from .test_imports import HEADER, csv_bytes, email_wording, person, upload  # noqa: F401

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

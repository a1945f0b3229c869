"""The suppression list: an objection that outlives the erasure (issue 21)."""

import datetime

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from registry.checks import suppression_key_check
from registry.forms import CustomerCreateForm
from registry.imports.services import import_apply
from registry.marketing.models import SuppressedContact
from registry.models import Consent, Customer, MarketingChannel
from registry.rights.erasure import customer_erase, customers_erase
from registry.services import marketing_list
from registry.suppression import digests_of, suppressed_since

from .factories import ConsentFactory, CustomerFactory
from .test_imports import HEADER, check, email_wording, person, upload  # noqa: F401

EMAIL = "aino.aijala@example.invalid"
PHONE = "040 111 2233"


def on_email_list():
    return set(marketing_list(channel=MarketingChannel.EMAIL).values_list("pk", flat=True))


@pytest.fixture
def objector(db):
    customer = CustomerFactory(email="Aino.Aijala@Example.invalid", phone="+358401112233")
    ConsentFactory(customer=customer)
    ConsentFactory(customer=customer, channel="direct_marketing", event="objection", text=None)
    return customer


def test_erasing_an_objector_keeps_only_keyed_hashes(objector, register_manager):
    customer_erase(customer=objector, by=register_manager)
    kept = list(SuppressedContact.objects.all())
    assert len(kept) == 2  # email and phone
    assert {row.digest for row in kept} == set(digests_of(email=EMAIL, phone=PHONE))
    for row in kept:
        assert "aino" not in row.digest and "358" not in row.digest
    assert suppressed_since(email=EMAIL.upper())
    assert suppressed_since(phone="+358 40 111 2233")


def test_a_withdrawal_is_kept_too_and_retention_erasure_does_it(db, register_manager):
    customer = CustomerFactory(email=EMAIL, phone="")
    ConsentFactory(customer=customer)
    ConsentFactory(customer=customer, event="withdrawn", text=None)
    customers_erase(customers=[customer], by=None, reason="retention")
    assert suppressed_since(email=EMAIL)


def test_erasing_a_customer_who_did_not_object_keeps_nothing(db, register_manager):
    customer = CustomerFactory(email=EMAIL)
    ConsentFactory(customer=customer)
    customer_erase(customer=customer, by=register_manager)
    assert not SuppressedContact.objects.exists()


def test_the_hash_depends_on_the_key(settings):
    before = digests_of(email=EMAIL)
    settings.SUPPRESSION_KEY = "another key"
    assert digests_of(email=EMAIL) != before


def test_an_erased_objector_imported_again_with_a_consent_stays_off_the_email_list(
    objector,
    register_manager,
    staff_member,
    email_wording,  # noqa: F811
):
    customer_erase(customer=objector, by=register_manager)
    customer_import = upload(
        [[*person(), "kyllä"]],
        staff_member,
        header=[*HEADER, "Uutiskirje"],
        consent_date=datetime.date(2026, 3, 1),
        consent_method="web_form",
        email_text=email_wording,
    )
    with override("en"):
        analysis = check([[*person(), "kyllä"]], header=[*HEADER, "Uutiskirje"])
    row = analysis.rows[0]
    assert row.consents == []
    assert "asked not to be marketed to" in " ".join(row.warnings)
    import_apply(customer_import=customer_import, by=staff_member)
    again = Customer.objects.get(email=EMAIL)
    # No consent; the objection the suppression list gives a customer added.
    assert list(again.consents.values_list("event", "method")) == [
        ("objection", "suppression_list")
    ]
    assert again.pk not in on_email_list()


def test_an_import_without_suppression_still_imports_the_consent(
    db,
    staff_member,
    email_wording,  # noqa: F811
):
    with override("en"):
        analysis = check([[*person(), "kyllä"]], header=[*HEADER, "Uutiskirje"])
    assert analysis.rows[0].consents == ["email_consent"]
    assert analysis.rows[0].warnings == []


def test_the_customer_form_warns_on_a_match(client, objector, register_manager, staff_member):
    customer_erase(customer=objector, by=register_manager)
    client.force_login(staff_member)
    response = client.post(
        reverse("registry:customer-create"),
        {
            "first_name": "Aino",
            "last_name": "Äijälä",
            "email": EMAIL,
            "phone": "",
            "country": "FI",
            "source": "information_request",
            "submission": CustomerCreateForm.new_token(),
        },
        follow=True,
    )
    assert response.status_code == 200
    assert Customer.objects.filter(email=EMAIL).exists()
    texts = [str(message) for message in response.context["messages"]]
    assert any(
        "suppression" in text or "suoramarkkinointi" in text.casefold() or "markkinoi" in text
        for text in texts
    ), texts


def test_only_a_consent_dated_after_the_suppression_re_enables(
    client,
    objector,
    register_manager,
    staff_member,
    email_wording,  # noqa: F811
):
    customer_erase(customer=objector, by=register_manager)
    suppressed_at = SuppressedContact.objects.get(digest=digests_of(email=EMAIL)[0]).suppressed_at
    again = CustomerFactory(email=EMAIL)
    client.force_login(staff_member)
    url = reverse("registry:consent-create", args=[again.pk])
    assert client.get(url).context["suppressed_at"] == suppressed_at

    def record(moment):
        return client.post(
            url,
            {
                "change": "email:given",
                "method": "in_person",
                "text": email_wording.pk,
                "occurred_at": timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M"),
            },
        )

    response = record(suppressed_at - datetime.timedelta(days=30))
    assert response.status_code == 200 and "occurred_at" in response.context["form"].errors
    assert not again.consents.exists()
    response = record(suppressed_at + datetime.timedelta(minutes=2))
    assert response.status_code == 302
    assert again.consents.get().event == Consent.Event.CONSENT_GIVEN
    assert again.pk in on_email_list()


def test_deploy_check_warns_without_its_own_key(settings):
    settings.SUPPRESSION_KEY_SET = False
    assert [w.id for w in suppression_key_check(None)] == ["registry.W001"]
    settings.SUPPRESSION_KEY_SET = True
    assert suppression_key_check(None) == []


def test_check_deploy_runs_it(settings):
    settings.SUPPRESSION_KEY_SET = False
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", "--deploy", "--fail-level", "WARNING")
    assert "registry.W001" in str(failed.value)


@pytest.mark.parametrize(
    ("language", "words"),
    [("fi", "art. 21"), ("en", "cannot be turned back into the address")],
)
def test_the_privacy_notice_says_what_is_kept_and_why(client, language, words):
    with override(language):
        client.cookies["django_language"] = language
        body = client.get(reverse("privacy-notice"), HTTP_ACCEPT_LANGUAGE=language)
    assert words in body.content.decode()


def test_a_validated_number_hashes_as_the_same_number_typed():
    """The import hands its checked E.164 numbers over without parsing them
    again; the hash must be the one a typed number gets."""
    assert digests_of(email=EMAIL, valid_e164="+358401112233") == digests_of(
        email=EMAIL, phone=PHONE
    )
    assert digests_of(valid_e164="+358401112233") != digests_of(valid_e164="+358401112234")

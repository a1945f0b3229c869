"""Who was on which marketing list, and why (issue 21)."""

import json

from django.urls import reverse

from registry.marketing.models import MarketingExport, MarketingExportRow
from registry.models import Consent, MarketingChannel
from registry.rights.erasure import customer_erase
from registry.rights.selectors import access_report
from registry.services import customer_merge, marketing_list_export

from .factories import ConsentFactory, CustomerFactory
from .test_rights import access_report_pdf_text


def export(channel, by, purpose="Kevään uutiskirje 2027"):
    _columns, count, rows = marketing_list_export(channel=channel, purpose=purpose, by=by)
    return count, list(rows)


def test_each_row_keeps_the_customer_and_the_event_that_allowed_it(db, register_manager):
    subscriber = CustomerFactory()
    old = ConsentFactory(customer=subscriber)
    latest = ConsentFactory(customer=subscriber)  # given again: the latest allows it
    ConsentFactory(customer=CustomerFactory(), event="withdrawn", text=None)
    count, rows = export(MarketingChannel.EMAIL, register_manager)
    assert count == len(rows) == 1
    row = MarketingExportRow.objects.get()
    assert (row.customer, row.consent) == (subscriber, latest) and row.consent != old
    assert row.export.row_count == 1 and row.export.channel == "email"


def test_post_rows_name_the_lifted_objection_or_nothing(db, register_manager):
    plain = CustomerFactory()
    lifted = CustomerFactory()
    ConsentFactory(customer=lifted, channel="direct_marketing", event="objection", text=None)
    lifting = ConsentFactory(
        customer=lifted, channel="direct_marketing", event="objection_lifted", text=None
    )
    count, _rows = export(MarketingChannel.POST, register_manager)
    kept = dict(MarketingExportRow.objects.values_list("customer_id", "consent_id"))
    assert kept == {plain.pk: None, lifted.pk: lifting.pk}
    assert count == 2


def test_the_access_report_names_the_lists(client, db, register_manager):
    customer = CustomerFactory()
    ConsentFactory(customer=customer)
    export(MarketingChannel.EMAIL, register_manager, purpose="Syysuutiset")
    export(MarketingChannel.PHONE, register_manager, purpose="Soittokierros")
    report = access_report(customer)
    assert [(m["channel"], m["purpose"]) for m in report["marketing_exports"]] == [
        ("email", "Syysuutiset"),
        ("phone", "Soittokierros"),
    ]
    assert report["marketing_exports"][0]["allowed_by"]["event"] == Consent.Event.CONSENT_GIVEN
    client.force_login(register_manager)
    url = reverse("registry:access-report", args=[customer.pk])
    assert "Syysuutiset" in client.get(url).content.decode()
    data = json.loads(client.get(url, {"format": "json"}).content)
    assert len(data["marketing_exports"]) == 2
    # The document sent to the customer names them too, in words.
    pdf = client.get(url, {"format": "pdf", "language": "fi"}).content
    text = "".join(access_report_pdf_text(pdf).split())
    for words in ("Markkinointilistat, joilla olit", "Syysuutiset", "Puhelin"):
        assert "".join(words.split()) in text, words


def test_erasure_removes_the_rows_and_the_export_stays(db, register_manager):
    customer = CustomerFactory(last_name="Poistettava")
    ConsentFactory(customer=customer)
    other = CustomerFactory()
    ConsentFactory(customer=other)
    export(MarketingChannel.EMAIL, register_manager, purpose="Lista Poistettavalle")
    customer_erase(customer=customer, by=register_manager)
    assert list(MarketingExportRow.objects.values_list("customer_id", flat=True)) == [other.pk]
    remaining = MarketingExport.objects.get()
    assert remaining.row_count == 2 and "Poistettava" not in remaining.purpose


def test_a_merge_keeps_the_lists_of_both(db, register_manager):
    keep, remove = CustomerFactory(), CustomerFactory()
    ConsentFactory(customer=remove)
    export(MarketingChannel.EMAIL, register_manager)
    customer_merge(keep=keep, remove=remove, values={}, by=register_manager)
    assert MarketingExportRow.objects.get().customer == keep


def test_the_unsubscribed_are_no_longer_exported(db, register_manager):
    stays, leaves = CustomerFactory(), CustomerFactory()
    ConsentFactory(customer=stays)
    ConsentFactory(customer=leaves)
    ConsentFactory(customer=leaves, event="withdrawn", text=None, method="newsletter_service")
    count, rows = export(MarketingChannel.EMAIL, register_manager)
    assert count == 1 and rows == [[stays.first_name, stays.last_name, stays.email]]

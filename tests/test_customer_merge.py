"""Merging two records of the same person."""

import pytest
from django.urls import reverse

from registry import views
from registry.audit.models import AuditEvent
from registry.audit.services import customer_viewed
from registry.concurrency import CustomerGone
from registry.forms import VersionField
from registry.models import Customer
from registry.rights.erasure import customer_erase
from registry.services import customer_merge

from .factories import (
    ConsentFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
    MarketingExportRowFactory,
    MessageFactory,
)

pytestmark = pytest.mark.django_db


def versions(keep, remove):
    """The merge page's versions of the two records as they are now (signed)."""
    return {
        "keep_version": VersionField.token(keep),
        "other_version": VersionField.token(remove),
    }


#: One way to attach a row of each model that points at Customer. A new model
#: with a relation to Customer must be added here (the first test says so), and
#: the merge test then checks that its rows move to the kept record.
RELATED_ROW_FACTORIES = {
    "registry.consent": lambda customer: ConsentFactory(customer=customer),
    "courses.enrollment": lambda customer: EnrollmentFactory(customer=customer),
    "registry.datasubjectrequest": lambda customer: DataSubjectRequestFactory(customer=customer),
    "registry.marketingexportrow": lambda customer: MarketingExportRowFactory(customer=customer),
    "courses.message": lambda customer: MessageFactory(customer=customer),
}


@pytest.fixture
def pair():
    keep = CustomerFactory(
        first_name="Aino",
        last_name="Esimerkki",
        email="vanha@example.invalid",
        city="Joensuu",
        postal_code="80100",
    )
    remove = CustomerFactory(
        first_name="Aino",
        last_name="Esimerkki",
        email="uusi@example.invalid",
        city="Kontiolahti",
        postal_code="80100",
    )
    return keep, remove


def test_every_relation_of_customer_has_a_row_factory_here():
    relations = {rel.related_model._meta.label_lower for rel in Customer._meta.related_objects}
    assert relations == set(RELATED_ROW_FACTORIES)


def test_merge_keeps_the_chosen_values_and_removes_the_other(pair, register_manager):
    keep, remove = pair
    kept_added, removed_added = keep.created_at, remove.created_at
    customer_merge(keep=keep, remove=remove, values={"email": remove.email}, by=register_manager)
    keep.refresh_from_db()
    assert keep.email == "uusi@example.invalid"
    assert keep.city == "Joensuu"
    assert not Customer.objects.filter(pk=remove.pk).exists()
    event = AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_MERGED)
    assert event.detail == {
        "removed_id": remove.pk,
        # Both records as the journals name them (tests/test_journal_merges.py).
        "removed_created_at": removed_added.isoformat(),
        "kept_created_at": kept_added.isoformat(),
        "changes": {"email": ["vanha@example.invalid", "uusi@example.invalid"]},
        "version": 2,
    }


def test_everything_attached_to_the_removed_record_moves(pair, register_manager):
    keep, remove = pair
    rows = [make(remove) for make in RELATED_ROW_FACTORIES.values()]
    customer_merge(keep=keep, remove=remove, values={}, by=register_manager)
    for row in rows:
        row.refresh_from_db()
        assert row.customer_id == keep.pk, row


def test_the_kept_records_history_includes_the_removed_records_events(pair, staff_member):
    keep, remove = pair
    customer_viewed(customer=remove, by=staff_member, request=None)
    customer_merge(keep=keep, remove=remove, values={}, by=staff_member)
    actions = list(AuditEvent.objects.for_customer(keep).values_list("action", flat=True))
    assert actions == ["customer_merged", "customer_viewed"]


def test_merging_needs_the_merge_permission(client, pair, staff_member, register_manager):
    keep, remove = pair
    pick = reverse("registry:customer-merge-pick", args=[keep.pk])
    confirm = reverse("registry:customer-merge-confirm", args=[keep.pk, remove.pk])
    client.force_login(staff_member)
    assert client.get(pick).status_code == 403
    assert client.post(confirm).status_code == 403
    client.force_login(register_manager)
    response = client.get(pick)
    assert response.status_code == 200
    assert list(response.context["candidates"]) == [remove]


def test_merge_in_the_browser_flow(client, pair, register_manager):
    keep, remove = pair
    client.force_login(register_manager)
    confirm = reverse("registry:customer-merge-confirm", args=[keep.pk, remove.pk])
    page = client.get(confirm)
    assert {field.name for field in page.context["form"].visible_fields()} == {
        "email",
        "phone",
        "street_address",
        "city",
    }
    response = client.post(
        confirm,
        {
            "email": "other",
            "phone": "keep",
            "street_address": "keep",
            "city": "other",
            **versions(keep, remove),
        },
    )
    assert response.url == keep.get_absolute_url()
    keep.refresh_from_db()
    assert (keep.email, keep.city) == ("uusi@example.invalid", "Kontiolahti")


def test_a_merge_that_would_leave_no_way_to_reach_is_refused(client, register_manager):
    keep = CustomerFactory(
        email="", phone="+358401111111", street_address="", postal_code="", city=""
    )
    remove = CustomerFactory(
        email="a@example.invalid", phone="", street_address="", postal_code="", city=""
    )
    client.force_login(register_manager)
    confirm = reverse("registry:customer-merge-confirm", args=[keep.pk, remove.pk])
    response = client.post(confirm, {"email": "keep", "phone": "other", **versions(keep, remove)})
    assert response.status_code == 200
    assert "vähintään yksi tapa tavoittaa" in response.content.decode()
    assert Customer.objects.count() == 2


@pytest.mark.parametrize("hand_made", [False, True])
def test_a_refused_choice_shows_both_records_again_and_is_audited(
    client, register_manager, hand_made
):
    """Found with i-expiredform: a refused post showed both records without a
    read in the trail (only a first showing and a conflict were recorded)."""
    keep = CustomerFactory(email="", phone="+358401111111", street_address="", city="")
    remove = CustomerFactory(email="a@example.invalid", phone="", street_address="", city="")
    client.force_login(register_manager)
    confirm = reverse("registry:customer-merge-confirm", args=[keep.pk, remove.pk])
    posted = {"email": "keep", "phone": "other"}  # no way left to reach them
    if not hand_made:
        posted |= versions(keep, remove)
    response = client.post(confirm, posted)
    assert response.status_code == 200
    assert Customer.objects.count() == 2
    reads = AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_VIEWED)
    assert sorted((event.target_id, event.detail.get("via")) for event in reads) == sorted(
        [(str(keep.pk), "merge"), (str(remove.pk), "merge")]
    )


def test_a_record_cannot_be_merged_with_itself(client, pair, register_manager):
    keep, _ = pair
    client.force_login(register_manager)
    url = reverse("registry:customer-merge-confirm", args=[keep.pk, keep.pk])
    assert client.get(url).status_code == 404
    with pytest.raises(ValueError):
        customer_merge(keep=keep, remove=keep, values={}, by=register_manager)


def test_records_in_different_countries_can_be_merged(client, register_manager):
    """Fourth probe: the merge page answered 500 whenever the countries differed."""
    keep = CustomerFactory(country="FI", email="sama@example.invalid")
    remove = CustomerFactory(country="DE", email="sama@example.invalid", phone="")
    client.force_login(register_manager)
    confirm = reverse("registry:customer-merge-confirm", args=[keep.pk, remove.pk])
    page = client.get(confirm)
    assert page.status_code == 200
    choices = dict(page.context["form"].fields["country"].choices)
    assert (choices["keep"], choices["other"]) == ("Suomi", "Saksa")
    data = versions(keep, remove)
    for field in page.context["form"].visible_fields():
        data[field.name] = "other" if field.name == "country" else "keep"
    assert client.post(confirm, data).url == keep.get_absolute_url()
    keep.refresh_from_db()
    assert keep.country.code == "DE"


def test_a_record_merged_away_or_erased_meanwhile_is_said_so_not_a_500(
    client, pair, register_manager, monkeypatch
):
    """Fourth probe: an edit of B saved while B was merged into A, and two
    merges the opposite ways at once, answered 500 (the locked row was gone)."""
    keep, remove = pair
    client.force_login(register_manager)
    edit = reverse("registry:customer-update", args=[remove.pk])
    form = client.get(edit).context["form"]
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(city="Liperi", country="FI")

    def merged_first(*, customer, **kwargs):
        customer_merge(keep=keep, remove=remove, values={}, by=register_manager)
        return original(customer=customer, **kwargs)

    original = views.customer_update
    monkeypatch.setattr(views, "customer_update", merged_first)
    response = client.post(edit, data, follow=True)
    assert response.redirect_chain == [(reverse("registry:customer-list"), 302)]
    assert "ei ole enää rekisterissä" in response.content.decode()
    assert not Customer.objects.filter(city="Liperi").exists()
    # The other merge, the opposite way, chosen from a page opened before.
    with pytest.raises(CustomerGone):
        customer_merge(keep=remove, remove=keep, values={}, by=register_manager)
    with pytest.raises(CustomerGone):
        customer_erase(customer=remove, by=register_manager)
    assert Customer.objects.filter(pk=keep.pk).exists()

"""What the eighth outside probe found (of the edit forms' versions older than
a day, the audit trail's details in words and the changed tables), each test
failing on the code before its fix."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from registry.audit.models import AuditEvent
from registry.erasure import ERASED
from registry.rights.erasure import customer_erase
from registry.rights.models import DataSubjectRequest
from registry.rights.services import case_update
from registry.roles import REGISTER_MANAGER

from .factories import CustomerFactory, DataSubjectRequestFactory, UserFactory
from .test_edit_conflicts import opened, submitted

pytestmark = pytest.mark.django_db


# --- A refused save named one change and offered back an erased name -------


def test_a_name_an_erasure_blanked_in_a_requests_notes_is_not_offered_back_unseen(
    client, register_manager
):
    """An erasure blanks the person's name in every request's notes, another
    person's case too, and raises the case's version, so that "a form opened
    before the erasure must not write the values back": no event tells that
    change. When someone else also saved the case meanwhile, the refusal
    listed only their change, and the form showed the user's notes as they
    were, the erased name in them; saving again wrote the name back unseen.
    Now a refusal that cannot tell every save lists the record's values now
    where the form shows otherwise."""
    erased = CustomerFactory(first_name="Matti", last_name="Virtanen")
    case = DataSubjectRequestFactory(outcome="Soitettu: Matti Virtanen, tytär")
    url = reverse("registry:request-detail", args=[case.pk])
    other_manager = UserFactory(roles=[REGISTER_MANAGER])
    client.force_login(register_manager)
    form = opened(client, url)

    customer_erase(customer=erased, by=other_manager)
    case_update(
        case=DataSubjectRequest.objects.get(pk=case.pk),
        data={"extension_reason": "Selvitys kesken"},
        by=other_manager,
    )
    blanked = DataSubjectRequest.objects.get(pk=case.pk).outcome
    assert "Virtanen" not in blanked and ERASED in blanked

    refused = client.post(url, submitted(form, status=DataSubjectRequest.Status.DONE))
    assert refused.status_code == 200
    body = refused.content.decode()
    assert 'id="edit-conflict"' in body
    assert "\u2013 → Selvitys kesken" in body  # the change the trail tells
    assert "Tapahtumaloki ei kerro kaikkea, mitä muutettiin." in body
    # The outcome as the erasure left it, beside the form that still shows
    # what the user's page held.
    assert escape(f"Lopputulos: {blanked}") in body
    assert refused.context["form"]["outcome"].value() == "Soitettu: Matti Virtanen, tytär"


def test_a_conflict_the_trail_tells_whole_lists_no_record_values(client, register_manager):
    """The list is for saves nobody told: a conflict whose every save the
    trail names shows the changes only, as before."""
    case = DataSubjectRequestFactory(outcome="Soitettu")
    url = reverse("registry:request-detail", args=[case.pk])
    client.force_login(register_manager)
    form = opened(client, url)
    case_update(
        case=DataSubjectRequest.objects.get(pk=case.pk),
        data={"extension_reason": "Selvitys kesken"},
        by=register_manager,
    )
    refused = client.post(url, submitted(form, outcome="Soitettu kahdesti"))
    body = refused.content.decode()
    assert "\u2013 → Selvitys kesken" in body
    assert "Tietueessa on nyt" not in body and "ei kerro" not in body


# --- A detail naming the other side of a relation answered 500 ---------------


HOSTILE_DETAIL = {
    "fields": ["consents", "enrollments", "<b>nimi</b>"],
    "changes": {
        "data_subject_requests": ["<i>vanha</i>", "uusi"],
        "messages": {"<s>": 1},
        "city": ["<script>x</script>", None],
    },
    "via": {"<u>missä</u>": ["edit"]},
}


def test_a_detail_naming_the_other_side_of_a_relation_is_shown_as_text(
    register_manager,
):
    """The trail's details name fields by their labels (`fields` since the
    details are in words, `changes` before): a name that is the other side of
    a relation (`consents`, `enrollments`, `messages`: a model's reverse
    accessor has no label) answered 500 on the customer's page and the audit
    trail. The detail is JSON and may hold anything: such a name is shown as
    it is, escaped."""
    customer = CustomerFactory()
    AuditEvent.objects.create(
        action=AuditEvent.Action.CUSTOMER_CHANGED,
        target_type="registry.customer",
        target_id=str(customer.pk),
        detail=HOSTILE_DETAIL,
    )
    client = Client(raise_request_exception=False)
    client.force_login(register_manager)
    for url in (customer.get_absolute_url(), reverse("registry:audit-trail")):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "consents, enrollments, &lt;b&gt;nimi&lt;/b&gt;" in body, url
        assert "data_subject_requests: &lt;i&gt;vanha&lt;/i&gt; → uusi" in body, url
        for markup in ("<b>nimi", "<i>vanha", "<s>", "<script>x", "<u>missä"):
            assert markup not in body, (url, markup)

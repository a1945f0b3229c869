"""What the eighth outside probe found (of the edit forms' versions older than
a day, the audit trail's details in words and the changed tables), each test
failing on the code before its fix."""

import pytest
from django.urls import reverse
from django.utils.html import escape

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

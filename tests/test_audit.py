"""The audit trail is append-only, everywhere."""

import pytest
from django.db.models import ProtectedError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from registry.audit.models import AppendOnlyError, AuditEvent
from registry.audit.services import audit_event_create


@pytest.fixture
def event(staff_member):
    return audit_event_create(action=AuditEvent.Action.LOGIN, by=staff_member, target=staff_member)


def test_service_records_actor_target_and_detail(event, staff_member):
    event.refresh_from_db()
    assert event.actor == staff_member
    assert (event.target_type, event.target_id) == ("auth.user", str(staff_member.pk))
    assert list(AuditEvent.objects.for_target(staff_member)) == [event]


def test_an_event_cannot_be_changed(event):
    event.detail = {"muutettu": True}
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(detail={})


def test_an_event_cannot_be_deleted(event):
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_account_with_history_cannot_be_deleted(event, staff_member):
    with pytest.raises(ProtectedError):
        staff_member.delete()


def test_register_manager_reads_the_trail_in_admin_but_cannot_change_it(
    client, register_manager, event
):
    client.force_login(register_manager)
    changelist = reverse("admin:registry_auditevent_changelist")
    assert client.get(changelist).status_code == 200
    detail = reverse("admin:registry_auditevent_change", args=[event.pk])
    page = client.get(detail)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(detail, {"action": "logout"}).status_code == 403
    delete = reverse("admin:registry_auditevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert client.get(reverse("admin:registry_auditevent_add")).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk, action="login").exists()


def test_lockouts_are_visible_to_the_register_manager_in_admin(client, register_manager):
    other = Client()
    for _ in range(5):
        other.post(reverse("login"), {"username": "ei-ole", "password": "väärä-salasana"})
    client.force_login(register_manager)
    page = client.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200
    assert "ei-ole" in page.content.decode()
    trail = client.get(reverse("admin:registry_auditevent_changelist") + "?action=lockout")
    assert trail.context["cl"].result_count == 1


def test_an_events_action_is_shown_in_words_in_the_users_language():
    """get_action_display is looked up in Action, as Django's would give it."""
    event = AuditEvent(action=AuditEvent.Action.CUSTOMER_VIEWED)
    field = AuditEvent._meta.get_field("action")
    shown = {}
    for language in ("fi", "en"):
        with translation.override(language):
            shown[language] = event.get_action_display()
            assert shown[language] == str(dict(field.flatchoices)[event.action])
    assert shown["en"] == "Viewed a customer"
    assert shown["fi"] != shown["en"]
    assert AuditEvent(action="unknown_kind").get_action_display() == "unknown_kind"

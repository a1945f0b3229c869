"""Reads of the audit trail."""

import json
from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from .models import CUSTOMER_TARGET, AuditEvent


def audit_events(*, user=None, action="", since=None, until=None, customer=None):
    """The audit trail, newest first, filtered; the actor comes in the same
    query. `customer`: a customer or a CustomerKey (the filter form gives a
    number: registry.services.audit_trail_events makes the key of it)."""
    events = AuditEvent.objects.select_related("actor").order_by("-at", "-id")
    if user is not None:
        events = events.filter(actor=user)
    if action:
        events = events.filter(action=action)
    if since:
        events = events.filter(at__gte=since)
    if until:
        events = events.filter(at__lt=until)
    if customer is not None:
        # Events about the customer or the records merged into it, and the
        # lists that showed them (AuditEventQuerySet.for_customer).
        events = events & AuditEvent.objects.for_customer(customer)
    return events


#: The columns of an audit trail export.
AUDIT_TRAIL_HEADER = ["time", "user", "action", "target_type", "target_id", "ip_address", "detail"]


def audit_trail_rows(events):
    """The rows of an audit trail export, an iterator over the database."""
    for event in events.iterator(chunk_size=2000):
        yield [
            timezone.localtime(event.at).isoformat(timespec="seconds"),
            event.actor.get_username() if event.actor else "",
            event.action,
            event.target_type,
            event.target_id,
            event.ip_address or "",
            # JSON as stored, readable back (not Python's repr of a dict).
            json.dumps(event.detail, ensure_ascii=False, cls=DjangoJSONEncoder),
        ]


def audit_filters_as_json(filters):
    """The audit filter form's filters as JSON, for the task worker."""
    return {
        "user": filters["user"].pk if filters.get("user") is not None else None,
        "action": filters.get("action") or "",
        "since": filters["since"].isoformat() if filters.get("since") else None,
        "until": filters["until"].isoformat() if filters.get("until") else None,
        "customer_id": filters.get("customer_id"),
    }


def audit_filters_from_json(data):
    """The reverse of audit_filters_as_json (a person deleted since raises)."""
    return {
        "user": get_user_model().objects.get(pk=data["user"]) if data.get("user") else None,
        "action": data.get("action") or "",
        "since": parse_datetime(data["since"]) if data.get("since") else None,
        "until": parse_datetime(data["until"]) if data.get("until") else None,
        "customer_id": data.get("customer_id"),
    }


def export_scope(event):
    """What an export event put in its file about specific customers, as
    plain data (the access report's `exported`): the whole register, a
    course's participant list (with the course's title at the time), a
    marketing list (with its channel); None for any other event."""
    detail = event.detail if isinstance(event.detail, dict) else {}
    if event.action == AuditEvent.Action.REGISTER_EXPORTED:
        return {"what": "whole_register"}
    if event.action == AuditEvent.Action.PARTICIPANT_LIST_EXPORTED:
        return {"what": "participant_list", "course": str(detail.get("course") or "")}
    if event.action == AuditEvent.Action.MARKETING_LIST_EXPORTED:
        return {"what": "marketing_list", "channel": str(detail.get("channel") or "")}
    return None


@dataclass(frozen=True)
class Target:
    """What an event was about, as a person reads it: a name, a link if the
    reader may open it, and a note when the object is gone (erased, merged)."""

    label: str
    url: str = ""
    gone: str = ""


def event_targets(events, *, user):
    """{event id: Target} for a page of events, in one query per kind of
    target (not per event): a name instead of `registry.customer #41`."""
    wanted = defaultdict(set)
    for event in events:
        if event.target_type and event.target_id:
            wanted[event.target_type].add(event.target_id)
    found = {}
    for label, ids in wanted.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            continue
        keys = [model._meta.pk.to_python(pk) for pk in ids if str(pk).isdigit()]
        found[label] = model._default_manager.in_bulk(keys)
    gone = _gone_customers(wanted.get(CUSTOMER_TARGET, ()))
    targets = {}
    for event in events:
        if not event.target_type:
            continue
        obj = found.get(event.target_type, {}).get(_as_key(event.target_id))
        targets[event.pk] = _target(event, obj, gone, user)
    return targets


#: The permission that opens an object's page, where it is not view_<model>.
OPENED_WITH = {
    "registry.customerimport": "registry.import_customers",
    "registry.datasubjectrequest": "registry.handle_data_subject_requests",
}


def _as_key(target_id):
    return int(target_id) if str(target_id).isdigit() else target_id


def _gone_customers(ids):
    """Why customers no longer exist: {id: note} from the erasure and merge events."""
    ids = [int(pk) for pk in ids if str(pk).isdigit()]
    if not ids:
        return {}
    notes = {}
    for event in AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_ERASED, detail__customer_id__in=ids
    ).only("detail"):
        notes[event.detail["customer_id"]] = _("erased customer (%(reference)s)") % {
            "reference": event.detail.get("reference", "")
        }
    for event in AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_MERGED, detail__removed_id__in=ids
    ).only("detail", "target_id"):
        notes[event.detail["removed_id"]] = _("merged into customer #%(id)s") % {
            "id": event.target_id
        }
    return notes


def _target(event, obj, gone, user):
    model_label = event.target_type
    if obj is None:
        note = gone.get(_as_key(event.target_id), "") if model_label == CUSTOMER_TARGET else ""
        return Target(label=f"#{event.target_id}", gone=note or _("removed"))
    if isinstance(obj, get_user_model()):
        # An account: its activity in the trail.
        return Target(label=obj.get_username(), url=reverse("registry:audit-user", args=[obj.pk]))
    app_label, model_name = model_label.split(".")
    may_open = user.has_perm(OPENED_WITH.get(model_label, f"{app_label}.view_{model_name}"))
    url = obj.get_absolute_url() if may_open and hasattr(obj, "get_absolute_url") else ""
    return Target(label=str(obj), url=url)

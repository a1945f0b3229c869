"""Reads of the audit trail."""

from .models import AuditEvent


def audit_events(*, user=None, action="", since=None, until=None, customer_id=None):
    """The audit trail, newest first, filtered; the actor comes in the same query."""
    events = AuditEvent.objects.select_related("actor").order_by("-at", "-id")
    if user is not None:
        events = events.filter(actor=user)
    if action:
        events = events.filter(action=action)
    if since:
        events = events.filter(at__gte=since)
    if until:
        events = events.filter(at__lt=until)
    if customer_id:
        events = events.filter(target_type="registry.customer", target_id=str(customer_id))
    return events

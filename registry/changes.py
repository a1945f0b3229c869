"""Field values and their changes as the audit trail records them."""

import datetime

from django.utils import timezone


def changes_apply(instance, data, fields):
    """Set the given fields that differ and return {field: [old, new]} as text."""
    changes = {}
    for field in fields:
        if field in data and plain_value(getattr(instance, field)) != plain_value(data[field]):
            changes[field] = [plain_value(getattr(instance, field)), plain_value(data[field])]
            setattr(instance, field, data[field])
    return changes


def plain_value(value):
    """A field value as the audit trail stores it (phone numbers and countries as text)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        # One moment, one text: the database gives UTC, a form the local time.
        value = value.astimezone(datetime.UTC)
    return getattr(value, "code", None) or str(value)

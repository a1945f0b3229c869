from datetime import datetime, timedelta

from django import template
from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db.models import BooleanField, DateField, DateTimeField, ForeignObjectRel
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from registry.accounts import lock as account_lock
from registry.accounts.selectors import unusual_activity as alerts
from registry.audit.models import VIA_WORDS, AuditEvent
from registry.audit.reads import customers_shown as list_rows_shown
from registry.background import failed_tasks_since
from registry.backups import last_backup_at
from registry.imports.models import CustomerImport
from registry.phones import format_phone
from registry.repairs import registered_repairs
from registry.rights.models import DataSubjectRequest
from registry.rights.selectors import event_in_words

#: What a field without a value shows (an en dash, as the templates write it).
DASH = "\u2013"


register = template.Library()


@register.filter
def phone(value):
    """A stored E.164 number as people read it: `040 1234567` for Finnish numbers."""
    return format_phone(value)


@register.simple_tag
def report_rows(table):
    """The body rows of a report table (registry.reports.tables.Table), every
    label and cell escaped as the template would. Built in Python: a
    thousand rows through the template's loops took a tenth of a second."""
    return format_html_join(
        "",
        '<tr><th scope="row">{}</th>{}</tr>',
        ((label, _report_cells(values)) for label, values in table.page_rows),
    )


def _report_cells(values):
    return format_html_join("", '<td class="text-end">{}</td>', ((value,) for value in values))


@register.simple_tag
def page_url(query_string, page_number):
    """A page link that keeps the search and filters."""
    prefix = f"{query_string}&" if query_string else ""
    return f"?{prefix}page={page_number}"


@register.simple_tag
def open_requests():
    """Open data subject requests by deadline, for the register manager's dashboard."""

    cases = list(DataSubjectRequest.objects.open().order_by("deadline", "id")[:10])
    return {"open": cases, "due_soon": any(case.days_left <= 7 for case in cases)}


@register.simple_tag
def unusual_activity():
    """Alerts for the register manager's dashboard (registry.accounts.selectors)."""

    return alerts()


@register.simple_tag
def last_backup():
    """When the newest backup was made, and whether that is over a day ago."""

    at = last_backup_at()
    return {"at": at, "stale": at is None or timezone.now() - at > timedelta(days=1)}


@register.simple_tag
def waiting_imports():
    """Uploaded files still waiting for confirmation, for the dashboard."""

    since = timezone.now() - timezone.timedelta(hours=settings.IMPORT_PENDING_HOURS)
    return list(
        CustomerImport.objects.filter(
            status=CustomerImport.Status.PENDING, created_at__gte=since
        ).order_by("-created_at")[:5]
    )


@register.filter
def audit_action(value):
    """The words of an audit action given as its stored value."""
    return AuditEvent.Action(value).label if value else ""


@register.simple_tag
def locked_accounts():
    """Accounts whose password logins are locked, for the register manager's dashboard."""
    return list(account_lock.locked_accounts())


@register.simple_tag
def failed_tasks():
    """Tasks of the worker that raised in the last 24 hours (imports, exports):
    each is in the log with its task id."""
    return failed_tasks_since(timezone.now() - timezone.timedelta(days=1))


#: Models whose fields the audit trail's changes name.
CHANGED_MODELS = ("registry.customer", "registry.datasubjectrequest", "courses.course")


def _changed_field(name):
    """The field of that name of a model whose changes the trail names. Not
    the other side of a relation (`consents`, `enrollments`): it has no label
    nor choices, and a detail naming one answered 500 (the eighth probe)."""
    for label in CHANGED_MODELS:
        try:
            field = apps.get_model(label)._meta.get_field(name)
        except (LookupError, FieldDoesNotExist):
            continue
        if not isinstance(field, ForeignObjectRel):
            return field
    return None


@register.filter
def field_label(name):
    """A changed field as a person reads it (`first_name` -> `First name`)."""
    field = _changed_field(name)
    return capfirst(field.verbose_name) if field is not None else name


def _readable(name, value):
    """A changed value as the forms show it: a choice (a country too) by its
    label in the interface's language, a flag as yes or no, a date or a
    moment as the pages write them (a moment is stored in UTC, shown in the
    interface's time zone); any other value as it was stored."""
    field = _changed_field(name)
    if field is None or value == DASH:
        return value
    if field.choices:
        return {str(key): label for key, label in field.flatchoices}.get(str(value), value)
    if isinstance(field, BooleanField):
        return {"True": _("yes"), "False": _("no")}.get(str(value), value)
    if isinstance(field, DateTimeField):
        moment = _parsed(parse_datetime, value)
        if moment is not None:
            if timezone.is_aware(moment):
                moment = timezone.localtime(moment)
            return date_format(moment, "SHORT_DATETIME_FORMAT")
    elif isinstance(field, DateField):
        day = _parsed(parse_date, value)
        if day is not None:
            return date_format(day, "SHORT_DATE_FORMAT")
    return value


def _parsed(parse, value):
    """A stored date or moment, or None for a text that is none."""
    try:
        return parse(str(value))
    except ValueError:
        return None


def _roll_call_change(enrollment_id, values):
    """One participant's mark in a roll call's event (its changes are keyed
    by the enrolment's id): the enrolment by its number (the event names
    nobody) and the marks in words."""
    status = apps.get_model("courses.attendance")._meta.get_field("status")
    words = {str(key): label for key, label in status.flatchoices}
    return (
        _("enrolment %(id)s") % {"id": enrollment_id},
        *(words.get(str(value), value) for value in values),
    )


@register.filter
def audit_event_words(event):
    """What an event did, in words; an export says which file (the whole
    register, the participant list of which course, a marketing list)."""
    return event_in_words(event)


@register.filter
def customers_shown(event):
    """How many customers a list read showed, else None (registry.audit.reads)."""
    return list_rows_shown(event)


@register.filter
def audit_detail(detail):
    """An audit event's details as a person reads them: the fields changed
    (old -> new), the reference, the merged record, how it was done, the file
    and its rows, the page shown; marked when an erasure blanked its personal
    values. Every value escaped. (Was an include per row: its missed lookups
    cost the customer page's 20 events 4 ms.)"""
    if not isinstance(detail, dict):
        return ""
    parts = []
    changes = detail.get("changes")
    if changes and isinstance(changes, dict):
        parts.append(
            format_html(
                '<ul class="list-unstyled mb-0 small">{}</ul>',
                format_html_join(
                    "",
                    "<li>{}: {} → {}</li>",
                    (
                        _roll_call_change(field, [_value_or_dash(values, i) for i in (0, 1)])
                        if field.isdigit()
                        else (
                            field_label(field),
                            *(_readable(field, _value_or_dash(values, i)) for i in (0, 1)),
                        )
                        for field, values in changes.items()
                    ),
                ),
            )
        )
    small = '<span class="small">{}</span>'
    if detail.get("reference"):
        parts.append(format_html(small, detail["reference"]))
    if detail.get("removed_id"):
        parts.append(format_html(small, _("merged record #%(id)s") % {"id": detail["removed_id"]}))
    if detail.get("via"):
        via = detail["via"]
        parts.append(format_html(small, VIA_WORDS.get(via, via) if isinstance(via, str) else via))
    if detail.get("fields"):
        names = detail["fields"] if isinstance(detail["fields"], list) else [detail["fields"]]
        parts.append(format_html(small, ", ".join(str(field_label(str(n))) for n in names)))
    if detail.get("file"):
        parts.append(format_html(small, _file_summary(detail)))
    if detail.get("page"):
        parts.append(format_html(small, _("page %(number)s") % {"number": detail["page"]}))
    if detail.get("occurred_at_was"):
        moments = {
            "was": _moment_text(detail["occurred_at_was"]),
            "now": _moment_text(detail.get("occurred_at")),
        }
        parts.append(format_html(small, _("dated %(was)s → %(now)s") % moments))
    if isinstance(detail.get("repaired"), dict):
        parts.append(format_html(small, _repaired_summary(detail["repaired"])))
    if detail.get("scrubbed_at"):
        parts.append(
            format_html('<span class="small fst-italic">{}</span>', _("personal values erased"))
        )
    return format_html_join("", "{}", ((part,) for part in parts))


def _moment_text(value):
    """A moment the trail recorded as ISO text, in local time as the pages
    show times; any other value as it is."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return value if value else DASH
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment, "SHORT_DATETIME_FORMAT")


def _repaired_summary(repaired):
    """What a run of manage.py repair_register repaired, each repair by its label."""
    labels = {repair.name: repair.label for repair in registered_repairs()}
    return "; ".join(f"{labels.get(name, name)}: {count}" for name, count in repaired.items())


def _value_or_dash(values, index):
    try:
        value = values[index]
    except (TypeError, IndexError, KeyError):
        value = None
    return value if value else DASH


def _file_summary(detail):
    """An import's or an unsubscribe list's file and what became of its rows."""
    text = str(detail["file"])
    if detail.get("added") is not None:
        counts = {key: detail.get(key, "") for key in ("rows", "added", "matched", "rejected")}
        rows = counts["rows"] if isinstance(counts["rows"], int) else 0
        text += " · " + (
            ngettext(
                "%(rows)s row: %(added)s added, %(matched)s already in the register, "
                "%(rejected)s rejected",
                "%(rows)s rows: %(added)s added, %(matched)s already in the register, "
                "%(rejected)s rejected",
                rows,
            )
            % counts
        )
    elif detail.get("removed") is not None:
        kept = detail.get("kept")
        text += " · " + _("%(removed)s removed, %(kept)s kept") % {
            "removed": detail["removed"],
            "kept": len(kept) if hasattr(kept, "__len__") else 0,
        }
    elif detail.get("rows"):
        rows = detail["rows"]
        count = rows if isinstance(rows, int) else 0
        text += " · " + ngettext("%(counter)s row", "%(counter)s rows", count) % {"counter": rows}
    return text

"""Writes of the register that must be audited (services).

Keyword-only, atomic, with the acting user passed in as `by`, so that every
change and its audit event are committed together or not at all.
"""

import json
import uuid
from contextlib import contextmanager

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone, translation

from registry.roles import role_code

from .audit.models import AuditEvent, CustomerKey
from .audit.selectors import (
    AUDIT_TRAIL_HEADER,
    audit_events,
    audit_filters_as_json,
    audit_filters_from_json,
    audit_trail_rows,
)
from .audit.services import audit_event_create, audit_trail_exported, link_selected_customers
from .background import enqueue_on_commit, progress_aside, task_mark_queued
from .changes import changes_apply, plain_value
from .concurrency import CustomerGone, check_version
from .erasure import erasure_handler
from .exports import export_file_copy, export_file_write, inert_sql, neutralise
from .marketing.journal import marketing_journal_append
from .marketing.models import MarketingExport, MarketingExportRow
from .merge import handlers_for, merge_announce, merge_handler
from .models import LATEST_FIRST, Consent, Customer, MarketingChannel, RegisterExport
from .phones import FINNISH_MOBILE, FINNISH_MOBILE_LENGTHS, format_phone
from .reach import reach_count
from .suppression import suppressed_since

#: The fields of a customer that staff edit, in form order.
CUSTOMER_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "street_address",
    "postal_code",
    "city",
    "country",
    "source",
)


@transaction.atomic
def customer_create(*, data, by, request=None):
    """Add a customer. The audit event names the fields given, not their values.

    A customer whose email or phone is on the suppression list (an erased
    customer's objection or withdrawal, registry.suppression) gets an
    objection to direct marketing, dated when the address was put on the
    list, as an import gives one: the privacy notice promises that the
    objection is still respected. Staff lift it (and record a consent) if
    the customer now allows marketing; the latest event wins."""
    customer = Customer(**{field: data[field] for field in CUSTOMER_FIELDS if field in data})
    customer.save()
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_CREATED,
        by=by,
        target=customer,
        request=request,
        detail={"fields": [f for f in CUSTOMER_FIELDS if plain_value(getattr(customer, f))]},
    )
    if suppressed_at := suppressed_since(email=customer.email, phone=customer.phone):
        consent_record(
            customer=customer,
            channel=Consent.Channel.DIRECT_MARKETING,
            event=Consent.Event.OBJECTION,
            method=Consent.Method.SUPPRESSION_LIST,
            occurred_at=suppressed_at,
            by=by,
            request=request,
        )
    return customer


#: The audit events that raise a customer's version, with its new value.
CUSTOMER_EDITS = (AuditEvent.Action.CUSTOMER_CHANGED, AuditEvent.Action.CUSTOMER_MERGED)


@transaction.atomic
def customer_update(*, customer, data, by, request=None, case_id=None, version=None):
    """Change a customer's fields; audit which changed, with old and new values.

    The old values are read from the locked row, not from the instance the
    caller holds (a ModelForm has already written the new values into it).
    `version` is the version the edit form was opened on: if the customer has
    changed since, EditConflict is raised and nothing is saved.
    Returns the saved customer and the changes as {field: [old, new]}.
    """
    current = Customer.objects.select_for_update().filter(pk=customer.pk).first()
    if current is None:
        raise CustomerGone
    check_version((current, version), actions=CUSTOMER_EDITS)
    changes = changes_apply(current, data, CUSTOMER_FIELDS)
    if changes:
        if current.restricted_since is None:
            # A correction while restricted is no activity (CustomerQuerySet.mark_active).
            current.last_activity_at = timezone.now()
        current.version += 1
        current.save()
        audit_event_create(
            action=AuditEvent.Action.CUSTOMER_CHANGED,
            by=by,
            target=current,
            request=request,
            detail={
                "changes": changes,
                "version": current.version,
                **({"case_id": case_id} if case_id else {}),
            },
        )
    return current, changes


@transaction.atomic
def customer_merge(
    *, keep, remove, values, by, request=None, keep_version=None, remove_version=None
):
    """Merge two records of one person into `keep`; `remove` is deleted.

    `values` holds the field values chosen for the kept record. Everything
    attached to `remove` moves to `keep` through the registered merge handlers.
    Old audit events are not rewritten: the merge event names the removed id,
    and AuditEvent.objects.for_customer() follows it. The versions are those
    of the two records as the user saw them when choosing the values: if
    either has changed since, EditConflict is raised and nothing is merged.
    """
    if keep.pk == remove.pk:
        raise ValueError("A customer cannot be merged with itself.")
    locked = Customer.objects.select_for_update().filter(pk__in=[keep.pk, remove.pk])
    rows = {customer.pk: customer for customer in locked.order_by("pk")}
    if keep.pk not in rows or remove.pk not in rows:
        raise CustomerGone  # merged the other way, or erased, meanwhile
    keep, remove = rows[keep.pk], rows[remove.pk]
    check_version((keep, keep_version), (remove, remove_version), actions=CUSTOMER_EDITS)
    handlers = handlers_for(Customer)

    changes = changes_apply(keep, values, CUSTOMER_FIELDS)
    # Both records as the journals name a person (id and the moment added),
    # for the merge event: a backup made before the merge holds these two,
    # and a journal entry written after it names them too (registry.identities).
    identities = {
        "removed_created_at": remove.created_at.isoformat(),
        "kept_created_at": keep.created_at.isoformat(),
    }
    # The relationship began when the earlier record began.
    keep.created_at = min(keep.created_at, remove.created_at)
    # A restriction of processing of either record is the person's: the
    # earlier one stays, and the merge event says so if the kept one had none.
    restricted = min(
        (since for since in (keep.restricted_since, remove.restricted_since) if since),
        default=None,
    )
    changes |= changes_apply(keep, {"restricted_since": restricted}, ["restricted_since"])
    if "restricted_since" in changes:
        # In the row before the handlers run: the enrolments' handler gives a
        # freed place to the waiting list, which passes over the restricted by
        # what the database says (fifth probe: the person was enrolled).
        Customer.objects.filter(pk=keep.pk).update(restricted_since=restricted)
    # A merge is activity of the person, unless either record was restricted
    # (CustomerQuerySet.mark_active): then the later activity of the two stays.
    keep.last_activity_at = (
        timezone.now()
        if restricted is None
        else max(keep.last_activity_at, remove.last_activity_at)
    )
    keep.version += 1
    for handler in handlers:
        handler(keep=keep, remove=remove)
    keep.save()
    removed_id = remove.pk
    remove.delete()
    audit_event_create(
        action=AuditEvent.Action.CUSTOMER_MERGED,
        by=by,
        target=keep,
        request=request,
        detail={
            "removed_id": removed_id,
            **identities,
            "changes": changes,
            "version": keep.version,
        },
    )
    # Inside the transaction, so that what the concerns record of the merge
    # (a journal entry of a restriction the kept record got) is durable
    # before it commits, or the merge is undone (registry.merge).
    merge_announce(keep=keep, changes=changes)
    return keep


@merge_handler("registry.consent")
def _merge_consents(*, keep, remove):
    # The two ledgers become one; the current state is again the latest event
    # by time, so a prohibition later than the other record's events wins.
    Consent.objects.filter(customer=remove).move_to(keep)


@erasure_handler("registry.consent")
def _erase_consents(erasure):
    # The ledger is removed only here, on purpose: the erasure of the person.
    # Its objections and withdrawals were kept as keyed hashes before the
    # handlers ran (customers_erase, registry.suppression).
    Consent.objects.filter(customer__in=erasure.customers).erase()


@transaction.atomic
@transaction.atomic
def consent_record(
    *,
    customer,
    channel,
    event,
    method,
    text=None,
    occurred_at=None,
    by,
    request=None,
    via=None,
    activity=True,
):
    """Append an event to a customer's consent ledger and audit it; an
    objection or a withdrawal goes into the marketing journal too. An event
    dated after now is refused (ValidationError, from Consent.clean): the
    latest event wins, so it would beat every refusal recorded until then.
    `via` names what recorded it for `by` (the audit event says so); with
    `activity=False` it is no activity of the customer's (a repair of what
    an older version left): their retention period does not start again.
    The customer is locked first: one who reads the ledger to decide what to
    record (registry.marketing.repairs) reads it under the same lock."""
    Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk").first()
    now = timezone.now()
    consent = Consent(
        customer=customer,
        channel=channel,
        event=event,
        method=method,
        text=text,
        occurred_at=occurred_at or now,
        recorded_by=by,
        recorded_by_role=role_code(by) if by is not None else "",
        recorded_at=now,
    )
    # By nobody only for the register's own repairs (repair_register), as a
    # restore records an event whose account is gone.
    consent.full_clean(exclude=["recorded_by"] if by is None else None)
    consent.save()
    # An objection or a withdrawal outlives a restore of an older backup.
    marketing_journal_append([consent])
    if activity:
        Customer.objects.filter(pk=customer.pk).mark_active(now)
    detail = {
        "channel": channel,
        "event": event,
        "method": method,
        "text": f"{text.channel} v{text.version}" if text else "",
        "occurred_at": consent.occurred_at.isoformat(),
    }
    if via:
        detail["via"] = via
    audit_event_create(
        action=AuditEvent.Action.CONSENT_RECORDED,
        by=by,
        target=customer,
        request=request,
        detail=detail,
    )
    return consent


#: What a marketing list of each channel needs, and nothing more.
MARKETING_COLUMNS = {
    MarketingChannel.EMAIL: ("first_name", "last_name", "email"),
    MarketingChannel.SMS: ("first_name", "last_name", "phone"),
    MarketingChannel.PHONE: ("first_name", "last_name", "phone"),
    MarketingChannel.POST: (
        "first_name",
        "last_name",
        "street_address",
        "postal_code",
        "city",
        "country",
    ),
}


def marketing_list(*, channel, city="", course=None):
    customers = Customer.objects.contactable_by(channel)
    if city:
        customers = customers.filter(city__iexact=city)
    if course:
        # Through the reverse relation: registry does not import courses.
        on_course = Customer.objects.filter(
            enrollments__course_id=course, enrollments__status__in=["enrolled", "attended"]
        )
        customers = customers.filter(pk__in=on_course.values("pk"))
    return customers


def marketing_count(*, channel, city="", course=None):
    """(how many `marketing_list` holds, when it was counted, whether the
    count is kept). Without a course the count is kept until the register
    changes (registry.reach): it reads every customer and the ledger. A
    course's list is counted afresh (it depends on the enrolments, and it is
    small)."""
    listed = marketing_list(channel=channel, city=city, course=course)
    if course:
        return listed.count(), timezone.now(), False
    return reach_count(listed, group=channel, key=city)


#: The ledger channel whose latest event allows each marketing channel.
ALLOWED_BY = {
    MarketingChannel.EMAIL: Consent.Channel.EMAIL,
    MarketingChannel.SMS: Consent.Channel.SMS,
    MarketingChannel.POST: Consent.Channel.DIRECT_MARKETING,
    MarketingChannel.PHONE: Consent.Channel.DIRECT_MARKETING,
}


def _allowed_by(channel):
    """The id of the ledger event that allows `channel` for each customer: the
    latest event of its ledger channel (a consent given for email and SMS; an
    objection lifted, or none, for post and phone)."""
    return models.Subquery(
        Consent.objects.filter(customer=models.OuterRef("pk"), channel=ALLOWED_BY[channel])
        .order_by(*LATEST_FIRST)
        .values("id")[:1]
    )


@transaction.atomic
def marketing_list_export(*, channel, city="", course=None, purpose, by, request=None):
    """Audit the export of a marketing list, keep who was on it and why, and
    return (columns, row count, rows).

    Each row of the list is kept as (export, customer, the ledger event that
    allowed it) in MarketingExportRow: the access report lists the exports a
    customer was on. The rows returned are an iterator over the database (not
    a list in memory), to be streamed. The audit event records channel,
    filter, columns, count and the purpose the user stated.
    """
    columns = MARKETING_COLUMNS[channel]
    export = MarketingExport.objects.create(exported_by=by, channel=channel, purpose=purpose)
    count = _marketing_rows_record(export, channel=channel, city=city, course=course)
    event = _marketing_export_audit(
        export, city=city, course=course, count=count, by=by, request=request
    )
    _marketing_export_link(export, event)
    return columns, count, _marketing_rows(export, columns)


@transaction.atomic
def marketing_list_export_request(
    *, channel, city="", course=None, purpose, count, by, request=None
):
    """A marketing list of more than EXPORT_INLINE_MAX_ROWS rows, for the
    task worker: audited now with the purpose and the `count` the person
    saw, as an export sent at once is; the worker records who is on it
    (MarketingExportRow, an INSERT … SELECT of seconds at 190,000 rows) and
    writes the file from those rows, so that the file and the record agree.
    Returns the RegisterExport to follow."""
    export = MarketingExport.objects.create(
        exported_by=by, channel=channel, purpose=purpose, row_count=count
    )
    _marketing_export_audit(export, city=city, course=course, count=count, by=by, request=request)
    return _export_queue(
        kind=RegisterExport.Kind.MARKETING,
        file_format="csv",
        parameters={
            "marketing_export": export.pk,
            "channel": channel,
            "city": city,
            "course": course,
        },
        by=by,
    )


def marketing_export_write(export, *, progress=None):
    """Record who is on a queued marketing list and write its file (in the worker)."""
    parameters = export.parameters
    marketing_export = MarketingExport.objects.get(pk=parameters["marketing_export"])
    channel = parameters["channel"]
    if progress is not None:
        progress.step("record")
    with transaction.atomic():
        count = _marketing_rows_record(
            marketing_export,
            channel=channel,
            city=parameters.get("city", ""),
            course=parameters.get("course"),
        )
        # The event was written when the list was asked for; whom the file
        # names is known now, and linked with the rows it is written from.
        event = AuditEvent.objects.for_target(marketing_export).get(
            action=AuditEvent.Action.MARKETING_LIST_EXPORTED
        )
        _marketing_export_link(marketing_export, event)
    columns = MARKETING_COLUMNS[channel]
    return _export_file_write(
        export,
        marketing_export_header(columns),
        _marketing_rows(marketing_export, columns),
        total=count,
        progress=progress,
    )


def marketing_export_header(columns):
    return [str(Customer._meta.get_field(name).verbose_name) for name in columns]


def _marketing_rows_record(export, *, channel, city, course):
    """Keep who is on the list, and the event that allowed each: the count."""
    recipients = (
        marketing_list(channel=channel, city=city, course=course)
        .order_by()
        .annotate(allowed_by=_allowed_by(channel))
    )
    count = _insert_rows(export, recipients.values_list("pk", "allowed_by"))
    MarketingExport.objects.filter(pk=export.pk).update(row_count=count)
    return count


def _marketing_export_link(export, event):
    """Link the export's event to each customer on the list (AuditEventCustomer):
    one INSERT ... SELECT from the rows kept, whatever their number."""
    link_selected_customers(
        event, MarketingExportRow.objects.filter(export=export).values("customer_id").order_by()
    )


def _marketing_export_audit(export, *, city, course, count, by, request):
    return audit_event_create(
        action=AuditEvent.Action.MARKETING_LIST_EXPORTED,
        by=by,
        target=export,
        request=request,
        detail={
            "channel": export.channel,
            "filters": {
                key: value for key, value in (("city", city), ("course", course)) if value
            },
            "columns": list(MARKETING_COLUMNS[export.channel]),
            "rows": count,
            "purpose": export.purpose,
        },
    )


def _marketing_rows(export, columns):
    """The customers kept as the export's rows, so that the file and the record agree."""
    listed = Customer.objects.filter(marketing_export_rows__export=export).order_by(
        "last_name", "first_name", "id"
    )
    for values in listed.values_list(*columns).iterator(chunk_size=2000):
        yield [
            format_phone(value) if name == "phone" else value
            for name, value in zip(columns, values, strict=True)
        ]


def _insert_rows(export, recipients):
    """INSERT … SELECT: the rows are written by the database in one statement,
    not brought to Python and back (a post list of 190,000 took 24 s that
    way, under load). Returns the number of rows."""
    sql, params = recipients.query.sql_with_params()
    table = connection.ops.quote_name(MarketingExportRow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            # The inner query is Django's own, with its parameters.
            f"INSERT INTO {table} (export_id, customer_id, consent_id) "  # noqa: S608
            f"SELECT %s, recipient.* FROM ({sql}) recipient",
            [export.pk, *params],
        )
        return cursor.rowcount


@merge_handler("registry.marketingexportrow")
def _merge_marketing_export_rows(*, keep, remove):
    # The kept record was on the lists the other one was on.
    MarketingExportRow.objects.filter(customer=remove).update(customer=keep)


@erasure_handler("registry.marketingexportrow")
def _erase_marketing_export_rows(erasure):
    """Who was on which list goes with the person; the export itself stays
    (date, channel, count) with its purpose scrubbed of their values."""
    MarketingExportRow.objects.filter(customer__in=erasure.customers).delete()
    erasure.scrub_rows(MarketingExport.objects.all(), ("purpose",))


#: Columns of the whole-register export.
REGISTER_COLUMNS = (*CUSTOMER_FIELDS, "created_at", "last_activity_at")


@transaction.atomic
def register_export(*, export, purpose, by, request=None):
    """Audit an export of the whole register, `export` (its RegisterExport,
    the event's target). No link per customer: the event covers the whole
    register as of its moment, the file holds the customers added until
    then (register_export_as_of), and AuditEventQuerySet.
    whole_register_exports finds the event for each of them."""
    return audit_event_create(
        action=AuditEvent.Action.REGISTER_EXPORTED,
        by=by,
        target=export,
        request=request,
        detail={
            "rows": Customer.objects.count(),
            "format": export.file_format,
            "purpose": purpose,
        },
    )


def register_export_as_of(export):
    """The moment an export of the whole register is of: its event's. The
    file holds the customers added until then, as the trail says (None: a
    RegisterExport without an event, as the benchmark's, holds everyone)."""
    return (
        AuditEvent.objects.for_target(export)
        .filter(action=AuditEvent.Action.REGISTER_EXPORTED)
        .values_list("at", flat=True)
        .first()
    )


def register_export_rows(as_of=None):
    """(columns, rows) of the whole register (the customers added until
    `as_of`, if given), rows an iterator over the database."""
    phone = REGISTER_COLUMNS.index("phone")

    def rows():
        for values in _register_export_values(as_of).iterator(chunk_size=5000):
            row = list(values)
            row[phone] = format_phone(row[phone])
            yield row

    return REGISTER_COLUMNS, rows()


def _register_export_values(as_of=None):
    """The whole register in REGISTER_COLUMNS order, every value as text from
    the database: the stored text of the phone (no PhoneNumber per row) and
    the days, in local time, of the times. With `as_of`, only the customers
    added until then."""
    as_text = {
        "phone": Cast("phone", models.CharField()),
        **{
            name: Cast(TruncDate(name), models.CharField())
            for name in ("created_at", "last_activity_at")
        },
    }
    raw = Customer.objects.order_by("id").annotate(
        **{f"{name}_text": value for name, value in as_text.items()}
    )
    if as_of is not None:
        raw = raw.filter(created_at__lte=as_of)
    return raw.values_list(
        *(f"{name}_text" if name in as_text else name for name in REGISTER_COLUMNS)
    )


#: Customers copied by one COPY of the register export, in id order. The
#: numbers of theirs that Python formats (all but Finnish mobiles) go to the
#: database with it, so memory does not grow with the register (all of them
#: in one JSON took 15.6 MB at 48,000 landlines, and grew with them); and
#: the task's progress, its heartbeat, is reported after each, from another
#: connection (background.progress_aside).
REGISTER_COPY_ROWS = 20_000


def _finnish_mobile_sql(column):
    """(sql, params): `column` is a number format_phone writes without the
    library (phones.FINNISH_MOBILE and FINNISH_MOBILE_LENGTHS)."""
    prefixes = " OR ".join([f"left({column}, %s) = %s"] * len(FINNISH_MOBILE))
    params = [value for prefix in FINNISH_MOBILE for value in (len(prefix), prefix)]
    return (
        f"({prefixes}) AND length({column}) BETWEEN %s AND %s",
        [*params, *FINNISH_MOBILE_LENGTHS],
    )


def _register_export_selects(cursor, *, progress=None, total=0, as_of=None):
    """PostgreSQL: (sql, params) of SELECTs for COPY, REGISTER_COPY_ROWS
    customers each in id order, of the rows of register_export_rows() as
    inert_row() leaves them; the rows copied so far are reported to
    `progress` before each SELECT but the first."""
    table = connection.ops.quote_name(Customer._meta.db_table)
    key = connection.ops.quote_name(Customer._meta.pk.column)
    done, after = 0, 0
    while True:
        cursor.execute(
            # The model's table and key.
            f"SELECT count(*), max({key}) FROM (SELECT {key} FROM {table} "  # noqa: S608
            f"WHERE {key} > %s ORDER BY {key} LIMIT %s) AS chunk",
            [after, REGISTER_COPY_ROWS],
        )
        rows, last = cursor.fetchone()
        if not rows:
            return
        if done and progress is not None:
            progress.report(done, max(done, total), force=True)
        yield _register_export_select(cursor, after, last, as_of)
        done, after = done + rows, last


def _register_export_select(cursor, after, last, as_of=None):
    """(sql, params) of a SELECT of the customers with ids after `after` up
    to `last`, formatted by the database: the phone as format_phone writes
    it, a would-be formula behind an apostrophe, an empty cell NULL (COPY
    quotes an empty text), and a last column of one carriage return
    (exports.COPY_LINE_END)."""
    table = connection.ops.quote_name(Customer._meta.db_table)
    key = connection.ops.quote_name(Customer._meta.pk.column)
    # Numbers other than Finnish mobiles are formatted (and made inert) here
    # first, and looked up by the SELECT. A Finnish mobile starts `0`.
    mobile, mobile_params = _finnish_mobile_sql("phone")
    cursor.execute(
        f"SELECT DISTINCT phone FROM {table} "  # noqa: S608 - the model's table and key
        f"WHERE {key} > %s AND {key} <= %s AND phone <> '' AND NOT ({mobile})",
        [after, last, *mobile_params],
    )
    formatted = {e164: neutralise(format_phone(e164)) for (e164,) in cursor.fetchall()}
    cells, params = [], []
    for name in REGISTER_COLUMNS:
        if name == "phone":
            mobile, mobile_params = _finnish_mobile_sql("r.phone")
            cells.append(
                f"CASE WHEN {mobile} "
                "THEN '0' || substr(r.phone, 5, 2) || ' ' || substr(r.phone, 7) "
                "ELSE NULLIF(%s::jsonb ->> r.phone, '') END"
            )
            params.extend([*mobile_params, json.dumps(formatted)])
        else:
            inert, inert_params = inert_sql(f"r.{name}")
            cells.append(f"NULLIF({inert}, '')")
            params.extend(inert_params)
    chunk = _register_export_values(as_of).filter(pk__gt=after, pk__lte=last)
    inner, inner_params = chunk.query.sql_with_params()
    sql = (
        f"SELECT {', '.join(cells)}, chr(13) "  # noqa: S608 - the columns are this module's
        f"FROM ({inner}) AS r({', '.join(REGISTER_COLUMNS)})"
    )
    return sql, [*params, *inner_params]


@contextmanager
def _one_snapshot(progress):
    """The rows read as of one moment, in a transaction of its own
    (REPEATABLE READ), unless already in one. Yields `progress` for the
    reports meanwhile: through another connection (progress_aside) when the
    transaction is this one's, so that others see them at once."""
    if connection.in_atomic_block:
        yield progress
        return
    with progress_aside(progress) as aside, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield aside


def register_export_header(columns):
    return [str(Customer._meta.get_field(name).verbose_name) for name in columns]


@transaction.atomic
def register_export_request(*, file_format, purpose, by, request=None):
    """Ask the task worker for a file of the whole register: audited now, as
    when the file was sent at once, with the purpose; written by the worker
    in the language of the person who asked (the column names)."""
    export = RegisterExport.objects.create(
        requested_by=by, kind=RegisterExport.Kind.REGISTER, file_format=file_format
    )
    # The event first: the worker writes the register as of its moment.
    register_export(export=export, purpose=purpose, by=by, request=request)
    return _export_enqueue(export)


def _export_queue(*, kind, file_format, parameters, by):
    """A RegisterExport of `kind` waiting for the worker, queued once the
    caller's transaction (with its audit event) commits."""
    export = RegisterExport.objects.create(
        requested_by=by, kind=kind, file_format=file_format, parameters=parameters
    )
    return _export_enqueue(export)


def _export_enqueue(export):
    task_mark_queued(export, "write")
    enqueue_on_commit("registry.tasks.export_write", export, translation.get_language())
    return export


def register_export_write(export, *, progress=None):
    """Write the whole register into the export's file (in the worker). A
    CSV on PostgreSQL is formatted and written by the database (COPY), with
    a fraction of the processor time of Python; a test checks the files are
    the same."""
    header = register_export_header(REGISTER_COLUMNS)
    total = Customer.objects.count()
    as_of = register_export_as_of(export)
    if connection.vendor != "postgresql" or export.file_format != "csv":
        _columns, rows = register_export_rows(as_of)
        return _export_file_write(export, header, rows, total=total, progress=progress)
    if progress is not None:
        progress.step("write", total=total)
    name, path = _export_path(export)
    try:
        with _one_snapshot(progress) as meanwhile, connection.cursor() as cursor:
            selects = _register_export_selects(
                cursor, progress=meanwhile, total=total, as_of=as_of
            )
            count = export_file_copy(path, header, cursor, selects)
        if progress is not None:
            progress.report(count, max(count, total), force=True)
    except Exception:
        path.unlink(missing_ok=True)  # cancelled meanwhile: nobody will take it
        raise
    return _export_file_keep(export, name, path, count)


@transaction.atomic
def audit_trail_export_request(*, filters, count, by, request=None):
    """An audit trail export of more than EXPORT_INLINE_MAX_ROWS rows, for
    the task worker: audited now (filters, rows), as one sent at once is."""
    audit_trail_exported(filters=filters, count=count, by=by, request=request)
    return _export_queue(
        kind=RegisterExport.Kind.AUDIT,
        file_format="csv",
        parameters=audit_filters_as_json(filters),
        by=by,
    )


def audit_trail_events(filters):
    """The audit trail of the filter form's `filters` (AuditFilterForm),
    newest first (registry.audit.selectors.audit_events). A customer's
    number is made into the customer as the trail needs it, with the moment
    the customer was added (CustomerKey): the exports of the whole register
    since then held it (AuditEventQuerySet.whole_register_exports), and the
    trail does not look it up itself: it sits below the register's models."""
    filters = dict(filters)
    customer_id = filters.pop("customer_id", None)
    customer = None
    if customer_id:
        added = Customer.objects.filter(pk=customer_id).values_list("created_at", flat=True)
        customer = CustomerKey(customer_id, added.first())
    return audit_events(**filters, customer=customer)


def audit_trail_export_write(export, *, progress=None):
    """Write the filtered audit trail into the export's file (in the worker)."""
    events = audit_trail_events(audit_filters_from_json(export.parameters))
    return _export_file_write(
        export,
        AUDIT_TRAIL_HEADER,
        audit_trail_rows(events),
        total=events.count(),
        progress=progress,
    )


#: What writes the file of each kind of export.
EXPORT_WRITERS = {
    RegisterExport.Kind.REGISTER: register_export_write,
    RegisterExport.Kind.MARKETING: marketing_export_write,
    RegisterExport.Kind.AUDIT: audit_trail_export_write,
}


def export_write(export, *, progress=None):
    """Write the file of a queued export, whatever its kind (in the worker)."""
    return EXPORT_WRITERS[export.kind](export, progress=progress)


def _export_file_write(export, header, rows, *, total, progress=None):
    """Write `rows` into a new file of EXPORT_DIR (mode 600, formulas made
    inert) for `export`, reporting progress; returns the number of rows."""
    if progress is not None:
        progress.step("write", total=total)

    def counted():
        for done, row in enumerate(rows, start=1):
            yield row
            if progress is not None:
                progress.report(done, max(done, total))

    name, path = _export_path(export)
    count = export_file_write(path, export.file_format, header, counted())
    return _export_file_keep(export, name, path, count)


def _export_path(export):
    name = f"{uuid.uuid4().hex}.{export.file_format}"
    return name, settings.EXPORT_DIR / name


def _export_file_keep(export, name, path, count):
    """Name the written file in its export, unless the export is gone."""
    kept = RegisterExport.objects.filter(pk=export.pk, deleted_at__isnull=True).update(
        file_name=name, row_count=count
    )
    if not kept:
        # An erasure discarded the export while it was written: the file may
        # hold the erased person, and nobody may download it.
        path.unlink(missing_ok=True)
    return count


class ExportGone(Exception):
    """The file was downloaded already, or waited too long and is deleted."""


@transaction.atomic
def register_export_take(*, export, by):
    """The one download of an export: returns an open file of it and deletes
    it from the disk (the open file stays readable until closed)."""
    export = RegisterExport.objects.select_for_update().get(pk=export.pk, requested_by=by)
    if not export.downloadable or not export.path.exists():
        raise ExportGone
    file = export.path.open("rb")
    export.path.unlink()
    export.downloaded_at = export.deleted_at = timezone.now()
    export.save(update_fields=["downloaded_at", "deleted_at"])
    return file


def register_exports_expire(now=None):
    """Delete the files of exports not downloaded within EXPORT_KEEP_MINUTES
    (and any file in EXPORT_DIR that no export names). Returns how many."""
    now = now or timezone.now()
    limit = now - timezone.timedelta(minutes=settings.EXPORT_KEEP_MINUTES)
    expired = RegisterExport.objects.filter(requested_at__lt=limit, deleted_at__isnull=True)
    count = 0
    for export in expired:
        if export.path is not None:
            export.path.unlink(missing_ok=True)
        count += 1
    expired.update(deleted_at=now)
    known = set(
        RegisterExport.objects.filter(deleted_at__isnull=True).values_list("file_name", flat=True)
    )
    if settings.EXPORT_DIR.is_dir():
        for path in settings.EXPORT_DIR.iterdir():
            if path.name not in known and path.stat().st_mtime < limit.timestamp():
                path.unlink(missing_ok=True)
    return count


@erasure_handler("registry.registerexport")
def _erase_from_exports(erasure):
    register_exports_discard()


def register_exports_discard():
    """Erasure: every waiting export file may hold the person; all are deleted."""
    for export in RegisterExport.objects.filter(deleted_at__isnull=True):
        if export.path is not None:
            export.path.unlink(missing_ok=True)
    RegisterExport.objects.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())

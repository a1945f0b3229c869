"""Writing the rows an import adds: each customer, the consents or objections
the file gave, and a `customer_created` event, a batch at a time inside the
import's transaction (`services.import_apply`).

On PostgreSQL the rows go in with COPY: `bulk_create` spent most of an import
of 50,000 rows preparing 1.2 million values field by field (docs/benchmarks.md).
Elsewhere (SQLite) they go in with `bulk_create`. Both write the same columns
with the same values (but `updated_at`: COPY gives the import's moment, the
ORM's auto_now the moment each object was prepared); a test holds them equal
on hostile values.
"""

import csv
import datetime
import io
from dataclasses import dataclass
from functools import cached_property

from django.db import connection

from registry.audit.models import AuditEvent
from registry.changes import plain_value
from registry.marketing.journal import marketing_journal_append
from registry.models import Consent, Customer, search_text_of
from registry.reach import reach_changed
from registry.roles import role_code
from registry.services import CUSTOMER_FIELDS

from .analysis import CONSENT_TARGETS, REFUSALS, ImportOptions
from .models import CustomerImport


@dataclass
class AddedRowsWriter:
    """What every added row shares: the import, its options, who confirmed it,
    the moment of the import and the address the confirmation came from."""

    customer_import: CustomerImport
    options: ImportOptions
    by: object  # the user
    now: object  # an aware datetime
    ip_address: str | None

    def write(self, rows, *, batch_size=1000, copy=None):
        """Write the rows (RowResults that passed), `batch_size` at a time, so
        that memory holds one batch. `copy` chooses the way (tests); by
        default COPY on PostgreSQL."""
        if copy is None:
            copy = connection.vendor == "postgresql"
        reach_changed()
        write_batch = self._copy if copy else self._create
        for start in range(0, len(rows), batch_size):
            write_batch(rows[start : start + batch_size])

    def _create(self, rows):
        customers = Customer.objects.bulk_create(
            [
                Customer(
                    **row.data,
                    imported_in=self.customer_import,
                    created_at=self.now,
                    last_activity_at=self.now,
                    # What Customer.save() derives; bulk_create does not call save().
                    search_text=row_search_text(row),
                )
                for row in rows
            ]
        )
        Consent.objects.bulk_create(
            Consent(
                customer=customer,
                channel=channel,
                event=event,
                method=method,
                text=text,
                occurred_at=moment,
                recorded_by=self.by,
                recorded_by_role=self._role,
                recorded_at=self.now,
            )
            for row, customer in zip(rows, customers, strict=True)
            for channel, event, method, text, moment in self._consents_of(row)
        )
        self._audit_suppression_objections(rows, [customer.pk for customer in customers])
        AuditEvent.objects.bulk_create(
            AuditEvent(
                at=self.now,
                actor=self.by,
                actor_role=self._role,
                action=AuditEvent.Action.CUSTOMER_CREATED,
                target_type="registry.customer",
                target_id=str(customer.pk),
                ip_address=self.ip_address,
                detail=self._event_detail(row),
            )
            for row, customer in zip(rows, customers, strict=True)
        )

    def _copy(self, rows):
        now = self.now.isoformat()
        ids = _next_ids(Customer, len(rows))
        # The phone as E.164 and the country as its code, as the fields store them.
        values = [
            [row.phone_text if f == "phone" else plain_value(row.data[f]) for f in CUSTOMER_FIELDS]
            for row in rows
        ]
        _copy_into(
            Customer,
            [
                "id",
                *CUSTOMER_FIELDS,
                "created_at",
                "updated_at",
                "last_activity_at",
                "version",
                "search_text",
                "imported_in_id",
            ],
            [
                (
                    pk,
                    *fields,
                    now,  # created_at
                    now,  # updated_at (the ORM's auto_now gives the moment each is prepared)
                    now,  # last_activity_at
                    1,  # version, the field's default
                    row_search_text(row),
                    self.customer_import.pk,
                )
                for row, pk, fields in zip(rows, ids, values, strict=True)
            ],
        )
        by, role = self.by.pk, self._role
        _copy_into(
            Consent,
            [
                "customer_id",
                "channel",
                "event",
                "method",
                "text_id",
                "occurred_at",
                "recorded_by_id",
                "recorded_by_role",
                "recorded_at",
                "complaint",
            ],
            [
                (pk, str(channel), str(event), method, text_id, moment, by, role, now, "false")
                for row, pk in zip(rows, ids, strict=True)
                for channel, event, method, text_id, moment in self._consents_of(row, ids=True)
            ],
        )
        self._audit_suppression_objections(rows, ids)
        ip_address = AuditEvent._meta.get_field("ip_address").get_prep_value(self.ip_address)
        given = [
            tuple(f for f, value in zip(CUSTOMER_FIELDS, fields, strict=True) if value)
            for fields in values
        ]
        # The same few lists of fields, over and over: each encoded once.
        details = {
            fields: self._json_encoder.encode(
                {"fields": list(fields), "import": self.customer_import.pk}
            )
            for fields in set(given)
        }
        _copy_into(
            AuditEvent,
            [
                "at",
                "actor_id",
                "actor_role",
                "action",
                "target_type",
                "target_id",
                "ip_address",
                "detail",
            ],
            [
                (
                    now,
                    by,
                    role,
                    str(AuditEvent.Action.CUSTOMER_CREATED),
                    "registry.customer",
                    str(pk),
                    ip_address or None,
                    details[fields],
                )
                for pk, fields in zip(ids, given, strict=True)
            ],
        )

    def write_refusals(self, rows, *, batch_size=1000):
        """Record for the customers these matched rows name the objections
        and withdrawals their file gives (RowResult.refusals, decided against
        the register in this transaction), `batch_size` rows at a time: each
        a ledger event with the stated method, dated at the end of the
        stated day (never after the import), recorded by the importing user,
        and a *consent recorded* event naming the import, as for the events
        the customer's page records; the customers' activity is marked, as
        `consent_record` marks it. Returns how many were recorded."""
        moment = self.options.refusal_moment(self.now)
        method = self.options.consent_method
        recorded = 0
        for start in range(0, len(rows), batch_size):
            events = [
                (row.match_id, *REFUSALS[refusal])
                for row in rows[start : start + batch_size]
                for refusal in row.refusals
            ]
            if not events:
                continue
            reach_changed()
            consents = Consent.objects.bulk_create(
                Consent(
                    customer_id=pk,
                    channel=channel,
                    event=event,
                    method=method,
                    occurred_at=moment,
                    recorded_by=self.by,
                    recorded_by_role=self._role,
                    recorded_at=self.now,
                )
                for pk, channel, event in events
            )
            # A backup from before the import holds these customers without
            # the refusal: it outlives a restore, as one recorded on the
            # customer's page does (registry.marketing.journal).
            marketing_journal_append(consents)
            AuditEvent.objects.bulk_create(
                self._consent_event(pk, channel, event, method, moment.isoformat())
                for pk, channel, event in events
            )
            Customer.objects.filter(pk__in={pk for pk, _c, _e in events}).mark_active(self.now)
            recorded += len(events)
        return recorded

    @cached_property
    def _role(self):
        """Who imported, as a role at the time (AuditEvent.actor_role)."""
        return role_code(self.by)

    @cached_property
    def _moments(self):
        """When the file's consents and its objections are dated (ImportOptions)."""
        return {
            Consent.Event.CONSENT_GIVEN: self.options.consent_moment(self.now),
            Consent.Event.OBJECTION: self.options.refusal_moment(self.now),
        }

    @cached_property
    def _json_encoder(self):
        return AuditEvent._meta.get_field("detail").encoder()

    @cached_property
    def _texts(self):
        return {"email_consent": self.options.email_text, "sms_consent": self.options.sms_text}

    def _consents_of(self, row, *, ids=False):
        """(channel, event, method, wording, when) of each consent or
        objection the row gives, and of the objection the suppression list
        gives it (RowResult.suppression_objection); with `ids`, the wording's
        id (None for an objection) and the moment as ISO text."""
        method = self.options.consent_method
        for target in row.consents:
            channel, event = CONSENT_TARGETS[target]
            text = self._texts.get(target)
            moment = self._moments[event]
            if ids:
                yield channel, event, method, text.pk if text else None, moment.isoformat()
            else:
                yield channel, event, method, text, moment
        if row.suppression_objection:
            moment = datetime.datetime.fromisoformat(row.suppressed_at)
            yield (
                Consent.Channel.DIRECT_MARKETING,
                Consent.Event.OBJECTION,
                Consent.Method.SUPPRESSION_LIST,
                None,
                row.suppressed_at if ids else moment,
            )

    def _audit_suppression_objections(self, rows, ids):
        """A *consent recorded* event for each objection from the suppression
        list, as for one recorded on the customer's page: the customer's
        trail says where the objection came from. The file's own consents
        are audited by the import's event (their counts) and the customers'
        *customer added* events."""
        AuditEvent.objects.bulk_create(
            self._consent_event(
                pk,
                Consent.Channel.DIRECT_MARKETING,
                Consent.Event.OBJECTION,
                Consent.Method.SUPPRESSION_LIST,
                row.suppressed_at,
            )
            for row, pk in zip(rows, ids, strict=True)
            if row.suppression_objection
        )

    def _consent_event(self, pk, channel, event, method, occurred_at):
        """The *consent recorded* event of a ledger event the import wrote for
        customer `pk`, naming the import."""
        return AuditEvent(
            at=self.now,
            actor=self.by,
            actor_role=self._role,
            action=AuditEvent.Action.CONSENT_RECORDED,
            target_type="registry.customer",
            target_id=str(pk),
            ip_address=self.ip_address,
            detail={
                "channel": channel,
                "event": event,
                "method": method,
                "text": "",
                "occurred_at": occurred_at,
                "import": self.customer_import.pk,
            },
        )

    def _event_detail(self, row):
        return {
            "fields": [f for f in CUSTOMER_FIELDS if plain_value(row.data[f])],
            "import": self.customer_import.pk,
        }


def row_search_text(row):
    """The customer's search column, as Customer.save() derives it."""
    data = row.data
    return search_text_of(
        first_name=data["first_name"],
        last_name=data["last_name"],
        email=data["email"],
        phone=row.phone_text,
    )


def _next_ids(model, count):
    """`count` ids from the table's sequence, in the order bulk_create would
    have given them, so that consents and events can refer to the customers
    before they are written."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return sorted(pk for (pk,) in cursor.fetchall())


def _copy_into(model, columns, rows):
    """COPY rows of values (text, or None for NULL) into the model's table,
    in PostgreSQL's CSV format: every value quoted, a quote doubled, nothing
    else escaped (backslashes, tabs and line breaks are data inside quotes).
    Python's csv writes None as "" too: the nullable columns take "" as NULL
    (FORCE_NULL); a non-nullable text column keeps "" as the empty text."""
    if not rows:
        return
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    if "\x00" in buffer.getvalue():
        # PostgreSQL's text cannot hold NUL; the forms refuse it before this.
        raise ValueError("A value to import holds a NUL character.")
    buffer.seek(0)
    quote = connection.ops.quote_name
    fields = {field.column: field for field in model._meta.concrete_fields}
    nullable = [quote(column) for column in columns if fields[column].null]
    options = "FORMAT csv"
    if nullable:
        options += f", FORCE_NULL ({', '.join(nullable)})"
    sql = "COPY {} ({}) FROM STDIN WITH ({})".format(
        quote(model._meta.db_table), ", ".join(quote(column) for column in columns), options
    )
    with connection.cursor() as cursor:
        cursor.copy_expert(sql, buffer)

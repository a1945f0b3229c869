"""Writing imports: upload, preview, apply, cancel, undo and expiry, each
audited in the same transaction as the change."""

import collections.abc
import json
import secrets
import unicodedata

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create, client_ip, link_shown_customers
from registry.background import (
    PlainError,
    cycle_collector_paused,
    enqueue_on_commit,
    task_dequeue,
    task_mark_queued,
)
from registry.erasure import erasure_handler
from registry.models import Consent, Customer
from registry.reach import reach_changed

from . import analysis as checking
from .analysis import (
    CHECKED_VERSION,
    REFUSAL_LABELS,
    ImportOptions,
    Outcome,
    analyse,
    analysis_from_checked,
    checked_row,
    customers_named,
    decided_rows,
    guess_mapping,
    mapping_problems,
    options_problems,
)
from .models import IMPORT_PERMISSION, CustomerImport, ImportPreviewRow
from .reading import ImportFileError, read_table
from .writing import AddedRowsWriter


@transaction.atomic
def import_upload(*, file_name, content, by, request=None, check_rows=True):
    """Keep an uploaded file, waiting for the mapping and the user's
    confirmation. Only its first rows are read here (format, header, the
    examples beside each column), so that the upload takes well under a
    second; every row is read by the preview's task in the worker (unless
    `check_rows` is false: the command line imports at once). Raises
    ImportFileError for a file that cannot be read as a table at all."""
    table = read_table(content, first=3)
    customer_import = CustomerImport.objects.create(
        created_by=by,
        file_name=plain_file_name(file_name),
        file_format=table.file_format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        content=content,
        headers=table.headers,
        mapping=guess_mapping(table.headers),
        options=ImportOptions().as_json(),
        preview={"samples": column_samples(table)},
    )
    audit_event_create(
        action=AuditEvent.Action.IMPORT_UPLOADED,
        by=by,
        target=customer_import,
        request=request,
        detail={"file": customer_import.file_name, "bytes": len(content)},
    )
    if check_rows:
        import_preview_start(customer_import)
    return customer_import


def plain_file_name(name):
    """A file name as it may be stored and shown: no control characters (a
    name given on the command line may hold a newline; PostgreSQL refuses NUL),
    no format characters (a right-to-left override, U+202E, shows the rest
    of the name backwards), at most 255 characters."""
    name = "".join(
        " " if unicodedata.category(ch) == "Cc" else ch
        for ch in name
        if unicodedata.category(ch) != "Cf"
    )
    return " ".join(name.split())[:255]


def import_table(customer_import, *, first=None):
    return read_table(bytes(customer_import.content), first=first)


#: Values of each column shown as examples beside it on the mapping page.
SAMPLE_ROWS = 3


def column_samples(table):
    """The first values of each column: [[value, ...] for each header]."""
    return [
        [cells[index] for _number, cells in table.rows[:SAMPLE_ROWS]]
        for index in range(len(table.headers))
    ]


def import_samples(customer_import):
    """The examples beside each column of a waiting import. They are kept with
    the import at the upload, so that the mapping page does not read the file
    again on every view (a workbook of 100,000 rows took seconds each time);
    an import uploaded before they were kept reads its first rows once more
    (none, if the file is refused now: the check of its rows says why)."""
    samples = customer_import.preview.get("samples")
    if samples is None:
        try:
            samples = column_samples(import_table(customer_import, first=SAMPLE_ROWS))
        except ImportFileError:
            samples = []
    return samples


@cycle_collector_paused()
def import_preview(customer_import, *, fresh=False, progress=None):
    """What would happen to each row of a waiting import, for the preview
    page; returns its counts ({outcome: rows}).

    Checked once per mapping, in the task worker (50,000 rows take about ten
    seconds), and kept with the file, so that paging through the preview is
    quick. Confirming reuses the checked rows when the options are the same,
    and checks them again only against the register as it is then.

    The rows are decided a chunk at a time (`decided_rows`) and each chunk
    is written as ImportPreviewRows as soon as it is decided: nothing of the
    rows is held beyond the file's cells not yet checked and one chunk.
    Holding every row's check, its shown row and its kept row as objects,
    and then the JSON of them all, took 270 MB for 50,000 rows, and their
    JSON texts still 40 MB (docs/benchmarks.md, "The import in less
    memory", "A page of the preview").
    """
    kept = customer_import.preview
    if not fresh and import_preview_kept(customer_import) is not None:
        return kept["counts"]
    options = ImportOptions.from_json(customer_import.options)
    table = _read_table(customer_import, step=CustomerImport.Step.ANALYSE, progress=progress)
    row_count = len(table.rows)
    counts = dict.fromkeys(Outcome.values, 0)
    recording = 0  # matched rows that record objections or withdrawals
    decided = file_rows_decided(table, customer_import.mapping, options, progress=progress)
    key = secrets.randbits(62)
    stored = False
    try:
        chunk = []
        for place, row in enumerate(decided):
            # As the page shows it, and as the import needs it (which then
            # checks again only what the register decides,
            # analysis_from_checked).
            shown, checked = _json(_preview_row(row)), _json(checked_row(row))
            chunk.append((place, row.outcome, counts[row.outcome], shown, checked))
            counts[row.outcome] += 1
            recording += bool(row.refusals)
            if len(chunk) == checking.DECIDE_CHUNK:
                _preview_rows_write(customer_import, key, chunk)
                chunk = []
        _preview_rows_write(customer_import, key, chunk)
        preview = {
            "key": key,
            "mapping": customer_import.mapping,
            "options": customer_import.options,
            "at": timezone.now().isoformat(),
            "counts": counts,
            "recorded": recording,
            "samples": kept.get("samples"),
            "checked": {"version": CHECKED_VERSION},
        }
        stored = _preview_keep(customer_import, preview, key, row_count=row_count)
    finally:
        if not stored:
            # Cancelled, failed, or the import was handled meanwhile.
            _preview_rows_forget(customer_import, key)
    customer_import.preview, customer_import.row_count = preview, row_count
    return counts


def file_rows_decided(table, mapping, options, *, progress=None):
    """The RowResult of each row of the file `table`, in order, decided a
    chunk at a time (analysis.decided_rows): the table's list of rows is
    emptied as they are checked, so that the cells of a row are held only
    until it is decided. For the preview, and the command line's dry run."""
    return decided_rows(
        _given_once(table.rows), mapping, options, progress=progress, total=len(table.rows)
    )


def _given_once(rows):
    """The items of the list `rows`, each dropped from it once given: the
    file's cells are held only until their row is checked (a rejected row's
    check keeps its own). The list is emptied."""
    rows.reverse()
    while rows:
        yield rows.pop()


#: Rows kept as JSON text: the same encoding as the JSONField's.
_json = json.JSONEncoder().encode


def _preview_rows_of(customer_import):
    return ImportPreviewRow.objects.filter(customer_import=customer_import)


def _preview_rows_write(customer_import, key, rows):
    """Write the preview rows `rows` ([(place, outcome, place among the
    outcome's rows, shown JSON text, checked JSON text)]) of the check
    `key`, each chunk committed at once (outside a transaction, the
    worker's progress reports are seen meanwhile, and SQLite's writers are
    not kept waiting): on PostgreSQL with COPY, else with one INSERT of
    many rows."""
    if not rows:
        return
    meta = ImportPreviewRow._meta
    table = connection.ops.quote_name(meta.db_table)
    names = ("customer_import", "preview_key", "place", "outcome", "outcome_place")
    names += ("shown", "checked")
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in names)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            lines = (
                f"{customer_import.pk}\t{key}\t{place}\t{outcome}\t{outcome_place}\t"
                f"{_copy_text(shown)}\t{_copy_text(checked)}\n"
                for place, outcome, outcome_place, shown, checked in rows
            )
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", _CopyLines(lines))
            return
        cursor.executemany(
            # Only the model's own table and columns are formatted in.
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
            [(customer_import.pk, key, *row) for row in rows],
        )


def _copy_text(text):
    """JSON text as a value of COPY's text format. As json encodes it, it is
    printable ASCII: a backslash is the only character COPY reads otherwise."""
    return text.replace("\\", "\\\\")


class _CopyLines:
    """A file to COPY from, read from an iterator of lines."""

    def __init__(self, lines):
        self.lines = iter(lines)
        self.buffer = ""

    def read(self, size=-1):
        while size < 0 or len(self.buffer) < size:
            line = next(self.lines, None)
            if line is None:
                break
            self.buffer += line
        if size < 0:
            size = len(self.buffer)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def _preview_rows_forget(customer_import, key):
    """Delete the rows of the check `key`, which did not become the preview.
    Inside a transaction that failed, they go with its rollback (the delete
    would fail too, and hide why); any left behind (a worker killed) are
    deleted by the next check of the file, or when it is imported,
    cancelled or expires."""
    try:
        with transaction.atomic():
            _preview_rows_of(customer_import).filter(preview_key=key).delete()
    except DatabaseError:
        pass


@transaction.atomic
def _preview_keep(customer_import, preview, key, *, row_count):
    """Make the check `key`, whose rows are written, the import's preview,
    and delete the rows of any other check. False (and nothing changed) if
    the import no longer waits."""
    updated = CustomerImport.objects.filter(
        pk=customer_import.pk, status=CustomerImport.Status.PENDING
    ).update(preview=preview, row_count=row_count)
    if updated:
        # After the UPDATE, which waited for any other check's keeping: its
        # rows are seen and deleted here.
        _preview_rows_of(customer_import).exclude(preview_key=key).delete()
    return bool(updated)


def _read_table(customer_import, *, step, progress=None):
    """Read the waiting file (`step` names the checking that follows on the
    progress page)."""
    if progress is not None:
        progress.step(CustomerImport.Step.READ)
    table = import_table(customer_import)
    if progress is not None:
        progress.step(step, total=len(table.rows))
    return table


def _read_and_check(customer_import, options, *, step, progress=None):
    """Read the waiting file and check every row (`step` names the checking
    on the progress page)."""
    table = _read_table(customer_import, step=step, progress=progress)
    return analyse(table, customer_import.mapping, options, progress=progress)


def import_choices_ready(customer_import):
    """Whether the saved mapping and options are complete enough to check the rows."""
    options = ImportOptions.from_json(customer_import.options)
    return not (
        mapping_problems(customer_import.mapping)
        or options_problems(customer_import.mapping, options)
    )


def import_preview_kept(customer_import):
    """The preview of the saved mapping, if the worker has made it; else None.
    Its counts and when it was made: its rows are read a page at a time
    (import_preview_rows)."""
    kept = customer_import.preview
    if kept and "key" in kept and kept.get("mapping") == customer_import.mapping:
        return kept
    return None


def import_preview_rows(customer_import, preview, *, outcome=""):
    """The rows of the kept preview `preview` (of import_preview_kept), of
    one outcome or all, in the order of the file, as the page shows them."""
    return PreviewRows(customer_import, preview, outcome)


class PreviewRows(collections.abc.Sequence):
    """The rows of a kept preview, of one outcome or all, as a sequence of
    what the page shows of each, to page through (django's Paginator): its
    length is the preview's count, and a slice reads only its own rows, a
    range of their places on an index (an OFFSET would read every row
    before them: 70 ms for the middle of 50,000 rows)."""

    def __init__(self, customer_import, preview, outcome=""):
        self.rows = _preview_rows_of(customer_import).filter(preview_key=preview["key"])
        counts = preview["counts"]
        self.length = counts[outcome] if outcome else sum(counts.values())
        self.place = "place"
        if outcome:
            self.rows, self.place = self.rows.filter(outcome=outcome), "outcome_place"

    def __len__(self):
        return self.length

    def count(self):
        return self.length

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.length)
            if step != 1:
                raise ValueError("PreviewRows are read in ranges")
            if start >= stop:
                return []
            rows = self.rows.filter(
                **{f"{self.place}__gte": start, f"{self.place}__lt": stop}
            ).order_by(self.place)
            return list(rows.values_list("shown", flat=True))
        index = key + self.length if key < 0 else key
        if not 0 <= index < self.length:
            raise IndexError(key)
        return self[index : index + 1][0]

    def __iter__(self):
        """Every row (the command line's report), a chunk at a time."""
        chunk = checking.DECIDE_CHUNK
        for start in range(0, self.length, chunk):
            yield from self[start : start + chunk]


def import_preview_start(customer_import):
    """Have the worker check every row for the preview, once the current
    transaction commits; nothing when the choices are not complete yet."""
    if customer_import.status != CustomerImport.Status.PENDING:
        return False
    if not import_choices_ready(customer_import):
        return False
    task_mark_queued(customer_import, CustomerImport.Step.ANALYSE)
    enqueue_on_commit("registry.imports.tasks.preview_import", customer_import)
    return True


def import_apply_start(*, customer_import, by, request=None):
    """Have the worker import the file, once the current transaction commits."""
    task_mark_queued(customer_import, CustomerImport.Step.CHECK)
    enqueue_on_commit(
        "registry.imports.tasks.apply_import",
        customer_import,
        by.pk,
        client_ip(request) if request else None,
    )


def import_choices_save(*, customer_import, mapping, options, refresh=False):
    """Keep the mapping and the stated options of a waiting import. Returns
    whether the mapping changed (then the preview must be looked at again
    before confirming). `refresh` checks the rows again on the next preview,
    also against customers added meanwhile."""
    changed = mapping != customer_import.mapping
    # A refresh forgets the checked rows, not the examples of the columns.
    kept = {"preview": {"samples": customer_import.preview.get("samples")}} if refresh else {}
    CustomerImport.objects.filter(pk=customer_import.pk).update(
        mapping=mapping, options=options.as_json(), **kept
    )
    if refresh:
        _preview_rows_of(customer_import).delete()
    customer_import.mapping, customer_import.options = mapping, options.as_json()
    return changed


def _preview_row(row):
    data = row.data
    return {
        "number": row.number,
        "outcome": str(row.outcome),
        "name": row.full_name,
        "email": data.get("email", ""),
        # Valid numbers as people write them; an invalid one as it was typed.
        "phone": row.phone_shown if row.phone_text else str(data.get("phone") or ""),
        "address": " ".join(
            str(data.get(name) or "") for name in ("street_address", "postal_code", "city")
        ).strip(),
        "marketing": ", ".join(row.consent_labels),
        # For a customer already in the register: what is recorded for them.
        "recorded": [str(REFUSAL_LABELS[refusal]) for refusal in row.refusals],
        "reasons": row.reasons,
        "warnings": row.warnings,
        "match_id": row.match_id,
        "match_reason": str(row.match_reason),
    }


class AccountNoLongerAllowed(PlainError):
    """The account in whose name queued work would be written was deactivated,
    or lost the right to it, since it confirmed the work."""


def account_still_allowed(user, permission, *, lock=False):
    """The account `user` (a user or its id), read afresh, if it is still
    active and still has `permission`; else AccountNoLongerAllowed. With
    `lock` (inside the writing's transaction), its row stays locked until
    the writing commits: a deactivation or a change of role in admin, which
    saves that row, waits for the writing, so nothing is written in the name
    of an account no longer allowed to (the sixth probe: a check at the
    start of the worker's task left the minutes of reading and writing a
    big file open to it)."""
    users = get_user_model().objects.filter(pk=getattr(user, "pk", user), is_active=True)
    if lock:
        # FOR NO KEY UPDATE: the account's own pages meanwhile, which write
        # audit events naming it (a foreign key: FOR KEY SHARE), do not wait.
        users = users.select_for_update(no_key=True)
    found = users.first()
    if found is None or not found.has_perm(permission):
        raise AccountNoLongerAllowed(
            _(
                "the account that confirmed it is no longer active or no longer "
                "allowed to do this; nothing was changed"
            )
        )
    return found


class ImportStateError(PlainError):
    """The import is not in a state that allows this (applied twice, expired...)."""


@cycle_collector_paused()
def import_apply(
    *, customer_import, by, request=None, batch_size=1000, progress=None, ip_address=None
):
    """Add the rows that passed, in one transaction; rejected rows are kept
    for download. Each added customer records the import it came from, gets
    a `customer_created` event, and the consents or objections the file
    gave, with the wording and date the user stated (and an objection from
    the suppression list). A customer already in the register keeps their
    data, and gets the file's objections and withdrawals, never a consent
    (analysis.REFUSALS, AddedRowsWriter.write_refusals).

    The rows the preview checked with the same mapping and options are not
    validated again; without such a preview every row is checked first,
    outside the transaction (so that `progress` can be seen). The transaction
    then matches the rows once more against the register as it is then (and
    the suppression list, for a kept check), and writes. A worker killed in
    the middle of the writing leaves the register as it was."""
    customer_import = CustomerImport.objects.get(pk=customer_import.pk)
    _check_can_apply(customer_import)
    options = ImportOptions.from_json(customer_import.options)
    analysis = analysis_from_checked(_kept_check(customer_import), options)
    if analysis is None:
        analysis = _read_and_check(
            customer_import, options, step=CustomerImport.Step.CHECK, progress=progress
        )
    if progress is not None:
        progress.step(CustomerImport.Step.WRITE)
    return _import_write(
        customer_import,
        analysis,
        options,
        by=by,
        request=request,
        ip_address=ip_address,
        batch_size=batch_size,
    )


def _kept_check(customer_import):
    """The rows the preview checked, if it was made with the current mapping
    and options: {"version": ..., "rows": an iterator of the rows}."""
    kept = customer_import.preview
    if "key" not in kept:
        return None
    if (kept.get("mapping"), kept.get("options")) == (
        customer_import.mapping,
        customer_import.options,
    ):
        return {
            "version": kept.get("checked", {}).get("version"),
            "rows": _kept_rows(customer_import, kept["key"]),
        }
    return None


def _kept_rows(customer_import, key):
    """The kept rows of the preview's check, one at a time, in order, as the
    texts of their JSON: made into rows a chunk at a time (KeptAnalysis),
    never all decoded at once (8.9 MB of JSON for 50,000 rows took 47 MB as
    Python lists, held beside the rows made of them)."""
    meta = ImportPreviewRow._meta
    checked = connection.ops.quote_name(meta.get_field("checked").column)
    if connection.vendor == "postgresql":
        checked += "::text"
    sql = (
        f"SELECT {checked} FROM {connection.ops.quote_name(meta.db_table)} "  # noqa: S608
        "WHERE customer_import_id = %s AND preview_key = %s ORDER BY place"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [customer_import.pk, key])
        for (text,) in cursor:
            yield text


def _check_can_apply(customer_import):
    if customer_import.status != CustomerImport.Status.PENDING or customer_import.content is None:
        raise ImportStateError(_("This import has already been handled."))
    if customer_import.is_expired:
        raise ImportStateError(
            _("The file waited too long for confirmation and is discarded: upload it again.")
        )
    options = ImportOptions.from_json(customer_import.options)
    problems = [
        *mapping_problems(customer_import.mapping),
        *options_problems(customer_import.mapping, options).values(),
    ]
    if problems:
        raise ImportStateError(" ".join(problems))


@transaction.atomic
def _import_write(checked, analysis, options, *, by, request, ip_address, batch_size):
    customer_import = CustomerImport.objects.select_for_update().get(pk=checked.pk)
    _check_can_apply(customer_import)
    # Still allowed now, and until the commit (its row locked).
    account_still_allowed(by, IMPORT_PERMISSION, lock=True)
    if (customer_import.mapping, customer_import.options) != (checked.mapping, checked.options):
        raise ImportStateError(
            _("The choices changed since the preview: check it and confirm again.")
        )
    # Customers added since the rows were checked are matched now, and
    # addresses put on the suppression list since are respected.
    analysis.rematch()
    now = timezone.now()
    added = analysis.of(Outcome.CREATE)
    # The import's own event first, in the same transaction as the customers.
    event = audit_event_create(
        action=AuditEvent.Action.CUSTOMERS_IMPORTED,
        by=by,
        target=customer_import,
        request=request,
        ip_address=ip_address,
        detail={
            "file": customer_import.file_name,
            "rows": analysis.row_count,
            "added": len(added),
            "matched": analysis.count(Outcome.MATCH),
            "rejected": analysis.count(Outcome.REJECT),
            "consents": analysis.consent_count(Outcome.CREATE),
            # Customers added with an objection from the suppression list.
            "suppressed": analysis.suppression_count(),
            # Objections and withdrawals recorded for customers already in
            # the register.
            "recorded": analysis.recorded_count(),
        },
    )
    writer = AddedRowsWriter(
        customer_import=customer_import,
        options=options,
        by=by,
        now=now,
        # The import's address goes on every customer's event.
        ip_address=event.ip_address,
    )
    writer.write(added, batch_size=batch_size)
    recorded = writer.write_refusals(analysis.recording(), batch_size=batch_size)
    customer_import.status = CustomerImport.Status.APPLIED
    customer_import.applied_at = timezone.now()
    customer_import.row_count = analysis.row_count
    customer_import.created_count = len(added)
    customer_import.matched_count = analysis.count(Outcome.MATCH)
    customer_import.recorded_count = recorded
    customer_import.rejected_count = analysis.count(Outcome.REJECT)
    customer_import.rejected_rows = [
        {"row": row.number, "cells": row.cells, "reasons": row.reasons}
        for row in analysis.of(Outcome.REJECT)
    ]
    customer_import.content = None  # the file is not kept once imported
    customer_import.preview = {}
    customer_import.save()
    _preview_rows_of(customer_import).delete()
    return customer_import


@transaction.atomic
def import_cancel(*, customer_import):
    """Drop a waiting import and its file; nothing was written. Its task, if
    one waits for the worker, is dropped too; one that runs stops at its next
    progress report (the writing itself cannot be stopped: the cancel then
    waits for it and finds the import done)."""
    updated = CustomerImport.objects.filter(
        pk=customer_import.pk, status=CustomerImport.Status.PENDING
    ).update(
        status=CustomerImport.Status.CANCELLED,
        content=None,
        preview={},
        task_state=CustomerImport.State.NONE,
    )
    if updated:
        _preview_rows_of(customer_import).delete()
    task_dequeue(customer_import)
    return bool(updated)


class UndoReason(models.TextChoices):
    CHANGED = "changed", gettext_lazy("changed after the import")
    CONSENT = "consent", gettext_lazy("a consent or objection was recorded after the import")
    RELATED = "related", gettext_lazy("enrolled on a course or named in a request since")


#: Customers removed together by an undo.
UNDO_CHUNK = 2000


@cycle_collector_paused()
@transaction.atomic
def import_undo(*, customer_import, by, request=None):
    """Remove the customers an import added, except those changed since (the
    UI lists them with the reason). Their consents from the import go with
    them. Returns the report: {"removed": n, "gone": n, "kept": {id: reason}}."""
    customer_import = CustomerImport.objects.select_for_update().get(pk=customer_import.pk)
    if not customer_import.can_undo:
        raise ImportStateError(_("This import can no longer be undone."))
    applied_at = customer_import.applied_at
    customers = Customer.objects.select_for_update().filter(imported_in=customer_import)
    ids = set(customers.values_list("pk", flat=True))
    kept = {}
    for pk in customers.filter(updated_at__gt=applied_at).values_list("pk", flat=True):
        kept[pk] = UndoReason.CHANGED
    later_consents = Consent.objects.filter(customer__in=ids, recorded_at__gt=applied_at)
    for pk in later_consents.values_list("customer_id", flat=True):
        kept.setdefault(pk, UndoReason.CONSENT)
    for relation in Customer._meta.related_objects:
        if relation.related_model in (Consent, CustomerImport) or not relation.one_to_many:
            continue
        attached = relation.related_model._base_manager.filter(
            **{f"{relation.field.name}__in": ids}
        ).values_list(relation.field.attname, flat=True)
        for pk in attached:
            kept.setdefault(pk, UndoReason.RELATED)
    removable = ids - set(kept)
    reach_changed()
    # A chunk at a time: Django's delete holds an instance of every customer
    # it deletes (and of what cascades), 70 MB for 50,000 at once.
    removed = sorted(removable)
    for start in range(0, len(removed), UNDO_CHUNK):
        chunk = removed[start : start + UNDO_CHUNK]
        Consent.objects.filter(customer__in=chunk).erase()
        Customer.objects.filter(pk__in=chunk).delete()
    report = {
        "removed": len(removable),
        # Erased or merged into another record since the import.
        "gone": customer_import.created_count - len(ids),
        "kept": {str(pk): str(reason.value) for pk, reason in sorted(kept.items())},
    }
    customer_import.status = CustomerImport.Status.UNDONE
    customer_import.undone_at = timezone.now()
    customer_import.undone_by = by
    customer_import.undo_report = report
    customer_import.rejected_rows = []
    customer_import.save()
    audit_event_create(
        action=AuditEvent.Action.IMPORT_UNDONE,
        by=by,
        target=customer_import,
        request=request,
        detail={"file": customer_import.file_name, **report},
    )
    return report


def imports_discard_files():
    """Erasure: drop every kept import file and rejected rows, which may hold
    the erased person. A waiting import is cancelled (upload it again)."""
    CustomerImport.objects.filter(status=CustomerImport.Status.PENDING).update(
        status=CustomerImport.Status.CANCELLED, content=None, preview={}
    )
    _preview_rows_discard()
    CustomerImport.objects.exclude(rejected_rows=[]).update(rejected_rows=[])


def _preview_rows_discard():
    """Delete the preview rows of every import that no longer waits (those
    a check left behind when its worker died, too)."""
    ImportPreviewRow.objects.exclude(
        customer_import__status=CustomerImport.Status.PENDING
    ).delete()


@erasure_handler("registry.customerimport")
def _erase_from_imports(erasure):
    """Kept import files and rejected rows may hold the person: all are
    discarded. So may what an import keeps that a user named, its file name
    and column headers: every import's are scrubbed, since a file name cannot
    be tied to the rows it held."""
    imports_discard_files()
    erasure.scrub_rows(CustomerImport.objects.all(), ("file_name", "headers"))


def imports_expire(now=None):
    """Discard what is kept longer than needed: files not confirmed within
    IMPORT_PENDING_HOURS, and rejected rows once the undo period is over."""
    now = now or timezone.now()
    pending_limit = now - timezone.timedelta(hours=settings.IMPORT_PENDING_HOURS)
    cancelled = CustomerImport.objects.filter(
        status=CustomerImport.Status.PENDING, created_at__lt=pending_limit
    ).update(status=CustomerImport.Status.CANCELLED, content=None, preview={})
    _preview_rows_discard()
    undo_limit = now - timezone.timedelta(days=settings.IMPORT_UNDO_DAYS)
    cleared = (
        CustomerImport.objects.filter(applied_at__lt=undo_limit)
        .exclude(rejected_rows=[])
        .update(rejected_rows=[])
    )
    return cancelled, cleared


@transaction.atomic
def import_rejects_download(*, customer_import, by, request=None):
    """Audit a download of an import's rejected rows and return their table.
    The event is linked to each customer of the register whose address a
    rejected row holds (rejected_rows_customers), as a list read is: "who
    saw my data" finds the file that held theirs."""
    rejected = customer_import.rejected_rows
    named = rejected_rows_customers(customer_import, rejected)
    event = audit_event_create(
        action=AuditEvent.Action.IMPORT_REJECTS_DOWNLOADED,
        by=by,
        target=customer_import,
        request=request,
        detail={
            "file": customer_import.file_name,
            "rows": len(rejected),
            "customers": len(named),
        },
    )
    link_shown_customers(event, sorted(named))
    return rejected_rows_table(customer_import)


def rejected_rows_customers(customer_import, rows):
    """The ids of the customers in the register whom these rejected rows of
    `customer_import` (items of its rejected_rows) name by an email address
    or a phone number of theirs, in the columns the import took them from
    (analysis.customers_named): a row rejected for another of its cells, or
    as a copy of an earlier row of the file, may hold a customer's. Asked a
    chunk of rows at a time."""
    mapping = customer_import.mapping
    columns = [mapping.index(name) if name in mapping else None for name in ("email", "phone")]
    if columns == [None, None]:
        return set()

    def cell(item, column):
        cells = item.get("cells") or []
        return str(cells[column]) if column is not None and column < len(cells) else ""

    named = set()
    for start in range(0, len(rows), checking.DECIDE_CHUNK):
        chunk = rows[start : start + checking.DECIDE_CHUNK]
        named |= customers_named(
            [cell(item, columns[0]) for item in chunk], [cell(item, columns[1]) for item in chunk]
        )
    return named


def rejected_rows_table(customer_import):
    """Header and rows of the rejected rows, as in the file plus the reasons:
    to be fixed in a spreadsheet and imported again."""
    header = [*customer_import.headers, _("Reason for rejection")]
    rows = ([*item["cells"], " ".join(item["reasons"])] for item in customer_import.rejected_rows)
    return header, rows

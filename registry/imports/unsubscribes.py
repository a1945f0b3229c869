"""The newsletter service's results back into the register: unsubscribes,
spam complaints and hard bounces (issue 21).

The newsletter service carries the unsubscribe link every message must have
(Information Society Code 917/2014 s. 200), so refusals land there first. Its
export of unsubscribed, cleaned (hard-bounced) and complained addresses is
uploaded here, previewed, and applied: each matched customer's ledger gets a
*consent withdrawn* event for email (method: newsletter service), and the next
marketing export leaves them out.

- A spam complaint is a withdrawal marked as a complaint; it is not an
  objection to post or phone marketing.
- A hard bounce changes nothing: the customer is listed for staff to correct
  the address (no new kind of data is stored).
- Columns are recognised by name (Mailchimp, Brevo, MailerLite, Mailjet, a
  plain list of addresses); the file is read by `reading.read_table`, with
  the customer import's limits and encoding detection.
- As with the customer import, the upload reads only the first rows; the
  whole file is read and checked in the task worker, for the preview and
  again when it is applied (registry/imports/tasks.py).
"""

import datetime
import functools
import re
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create, client_ip
from registry.background import (
    PlainError,
    cycle_collector_paused,
    enqueue_on_commit,
    task_dequeue,
    task_mark_queued,
)
from registry.erasure import erasure_handler
from registry.marketing.journal import marketing_journal_append
from registry.models import Consent, Customer
from registry.reach import reach_changed

from .analysis import normalise_header
from .models import UNSUBSCRIBE_PERMISSION, UnsubscribeImport
from .reading import ImportFileError, read_table
from .services import account_still_allowed, plain_file_name

#: Headers of the column holding the address (after normalise_header):
#: Mailchimp "Email Address", Brevo "EMAIL", MailerLite "Subscriber"/"email",
#: Mailjet "Email", and Finnish ones.
EMAIL_HEADERS = (
    "email address",
    "email",
    "e mail",
    "e mail address",
    "emailaddress",
    "subscriber",
    "subscriber email",
    "contact",
    "contact email",
    "address",
    "mail",
    "sähköposti",
    "sähköpostiosoite",
    "sahkoposti",
)

#: Headers of when it happened, best first: Mailchimp UNSUB_TIME / CLEAN_TIME,
#: MailerLite "unsubscribed_at", Brevo and Mailjet dates, generic ones.
TIME_HEADERS = (
    "unsub time",
    "clean time",
    "unsubscribed at",
    "unsubscribed",
    "unsubscribe date",
    "unsubscribed date",
    "unsubscription date",
    "date unsubscribed",
    "unsub date",
    "optout date",
    "opt out date",
    "blocklisted at",
    "blacklisted at",
    "blocklist date",
    "complaint date",
    "bounced at",
    "bounce date",
    "event date",
    "date",
    "timestamp",
    "time",
    "aika",
    "päivämäärä",
    "pvm",
)

#: Columns that say what kind of refusal a row is: a status, type or reason
#: (Mailchimp UNSUB_REASON, Mailjet "Status", Brevo "Blocklist reason"...).
KIND_HEADERS = (
    "status",
    "state",
    "type",
    "event",
    "reason",
    "unsub reason",
    "unsubscribe reason",
    "bounce type",
    "email status",
    "subscription status",
    "blocklist reason",
    "blacklist reason",
    "tila",
    "syy",
)

#: Words in those columns, checked in this order.
COMPLAINT_WORDS = ("spam", "complain", "abuse", "junk", "roskaposti", "valitus")
SOFT_WORDS = ("soft",)
BOUNCE_WORDS = ("bounce", "cleaned", "hard", "invalid", "undeliverable", "palautu")
SUBSCRIBED_WORDS = ("subscribed", "active", "tilattu", "aktiivinen")
UNSUBSCRIBE_WORDS = ("unsub", "opt out", "optout", "opted out", "block", "black", "peru", "kielt")


class Kind:
    UNSUBSCRIBE = "unsubscribe"
    COMPLAINT = "complaint"
    BOUNCE = "bounce"
    IGNORED = "ignored"  # a soft bounce, or still subscribed


class Outcome:
    """What happens to each address of the file."""

    WITHDRAW = "withdraw"  # consent withdrawn for the matched customers
    ALREADY = "already"  # their latest email event is already a withdrawal
    BOUNCE = "bounce"  # hard bounce: listed for staff to correct the address
    NOT_FOUND = "not_found"  # not in the register
    IGNORED = "ignored"  # soft bounce or still subscribed: nothing to do
    UNREADABLE = "unreadable"  # no address on the row

    LABELS = {
        WITHDRAW: pgettext_lazy("unsubscribe row", "Consent withdrawn"),
        ALREADY: pgettext_lazy("unsubscribe row", "Already withdrawn"),
        BOUNCE: pgettext_lazy("unsubscribe row", "Hard bounce: correct the address"),
        NOT_FOUND: pgettext_lazy("unsubscribe row", "Not in the register"),
        IGNORED: pgettext_lazy("unsubscribe row", "Nothing to do"),
        UNREADABLE: pgettext_lazy("unsubscribe row", "Cannot be read"),
    }
    ORDER = (WITHDRAW, BOUNCE, ALREADY, NOT_FOUND, IGNORED, UNREADABLE)


@dataclass
class Columns:
    email: int
    time: int | None
    kinds: list
    whole_file_kind: str = Kind.UNSUBSCRIBE


def recognise_columns(headers, rows):
    """Which column is the address, the time and the kind. A file of one
    column (a plain list of addresses, with or without a header) is a list
    of unsubscribes. Raises ImportFileError when no column holds addresses."""
    names = [normalise_header(header) for header in headers]
    compact = [name.replace(" ", "") for name in names]

    def find(candidates):
        for candidate in candidates:
            for index, name in enumerate(names):
                if name == candidate or compact[index] == candidate.replace(" ", ""):
                    return index
        return None

    email = find(EMAIL_HEADERS)
    if email is None:
        # No known header: the column whose cells are addresses.
        sample = rows[:50]
        best = max(
            range(len(headers)),
            key=lambda i: sum(1 for _n, cells in sample if "@" in cells[i]),
            default=None,
        )
        if best is not None and any("@" in cells[best] for _n, cells in sample):
            email = best
    if email is None:
        raise ImportFileError(
            _(
                "No column of email addresses was found. The file needs a column named "
                "“Email” or “Email Address”, or a single column of addresses."
            )
        )
    if {"member rating", "optin time"} <= set(names) and not {"unsub time", "clean time"} & set(
        names
    ):
        raise ImportFileError(
            _(
                "This looks like Mailchimp's export of subscribed contacts. Upload the "
                "export of unsubscribed, cleaned or complained contacts instead."
            )
        )
    kinds = [i for i, name in enumerate(names) if name in KIND_HEADERS and i != email]
    # Mailchimp's export of cleaned contacts says so only by its CLEAN_TIME.
    cleaned = "clean time" in names and "unsub time" not in names
    whole = Kind.BOUNCE if cleaned else Kind.UNSUBSCRIBE
    return Columns(email=email, time=find(TIME_HEADERS), kinds=kinds, whole_file_kind=whole)


def kind_of(text, default):
    """The kind of a row from the words of its status, type or reason cells."""
    text = text.casefold()
    if any(word in text for word in COMPLAINT_WORDS):
        return Kind.COMPLAINT
    if any(word in text for word in SOFT_WORDS):
        return Kind.IGNORED
    if any(word in text for word in BOUNCE_WORDS):
        return Kind.BOUNCE
    if any(word in text for word in UNSUBSCRIBE_WORDS):
        return Kind.UNSUBSCRIBE
    if any(word in text for word in SUBSCRIBED_WORDS):
        return Kind.IGNORED
    return default


#: Day-first forms (Finnish and European); ISO 8601 is tried first. A date
#: with slashes is ambiguous (US month first) and is not guessed.
TIME_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y")


def parse_time(text, now):
    """A time of the file as an aware datetime, or None. Times without a zone
    are UTC, as the services export them. A time in the future is now."""
    text = text.strip()
    if not text or len(text) > 40:
        return None
    value = None
    try:
        value = datetime.datetime.fromisoformat(text.replace(" UTC", "+00:00"))
    except ValueError:
        for form in TIME_FORMATS:
            try:
                value = datetime.datetime.strptime(text, form)
                break
            except ValueError:
                continue
    if value is None:
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=datetime.UTC)
    if value.year < 2000:
        return None
    return min(value, now)


#: An address as the newsletter services hold them. Only compared with the
#: register (where the customer form validated them), so a simple shape is
#: enough: Django's validator costs ten times as much per row.
EMAIL_SHAPE = re.compile(r"[^@\s,;<>\"']+@[^@\s,;<>\"']+\.[^@\s,;<>\"'.]+")


def looks_like_email(text):
    return bool(EMAIL_SHAPE.fullmatch(text))


def normalise_email(text):
    """An address as compared: without spaces and the `mailto:` of a link."""
    text = "".join(text.split()).strip("<>\"'")
    if text.casefold().startswith("mailto:"):
        text = text[7:]
    return text


@dataclass(slots=True)
class Entry:
    """One address of the file (rows with the same address are one entry)."""

    number: int
    email: str
    kind: str
    at: datetime.datetime | None = None
    outcome: str = Outcome.NOT_FOUND
    customers: list = field(default_factory=list)  # [(pk, full name)]
    withdraw_ids: list = field(default_factory=list)


@dataclass
class Analysis:
    entries: list
    unreadable: list  # [(row number, text)]
    columns: Columns
    row_count: int = 0

    @functools.cached_property
    def counts(self):
        counts = dict.fromkeys(Outcome.ORDER, 0)
        for entry in self.entries:
            counts[entry.outcome] += 1
        counts[Outcome.UNREADABLE] = len(self.unreadable)
        counts["complaints"] = sum(
            1
            for entry in self.entries
            if entry.kind == Kind.COMPLAINT and entry.outcome == Outcome.WITHDRAW
        )
        counts["customers"] = sum(len(entry.withdraw_ids) for entry in self.entries)
        return counts

    def of(self, outcome):
        return [entry for entry in self.entries if entry.outcome == outcome]

    def match(self, chunk=1000):
        """Decide every address against the register as it is now (again)."""
        _match(self.entries, chunk)
        self.__dict__.pop("counts", None)


def analyse(table, now=None, chunk=1000, progress=None):
    """Decide every address of the file against the register as it is now.
    A few indexed queries per thousand addresses."""
    analysis = read_entries(table, now=now, progress=progress)
    analysis.match(chunk)
    return analysis


#: Rows looked at to find the column of addresses when no header names it
#: (and all that the upload reads of the file).
COLUMN_SAMPLE = 50


def read_entries(table, *, now=None, progress=None):
    """The addresses of the file, one entry each, not yet matched."""
    now = now or timezone.now()
    columns = recognise_columns(table.headers, table.rows)
    rows = table.rows
    if looks_like_email(normalise_email(table.headers[columns.email])):
        # A plain list of addresses has no header: its first line is an address.
        rows = [(1, table.headers), *rows]
    entries, unreadable = {}, []
    for done, (number, cells) in enumerate(rows, start=1):
        if progress is not None:
            progress.report(done, len(rows))
        email = normalise_email(cells[columns.email])
        if not email or len(email) > 254 or not looks_like_email(email):
            unreadable.append((number, cells[columns.email][:100]))
            continue
        kind_text = " ".join(cells[i] for i in columns.kinds)
        kind = kind_of(kind_text, columns.whole_file_kind)
        at = parse_time(cells[columns.time], now) if columns.time is not None else None
        key = email.upper()
        entry = entries.get(key)
        if entry is None:
            entries[key] = Entry(number=number, email=email, kind=kind, at=at)
            continue
        # The same address twice (unsubscribed, then complained): the strongest
        # kind and the earliest time.
        rank = [Kind.IGNORED, Kind.BOUNCE, Kind.UNSUBSCRIBE, Kind.COMPLAINT]
        if rank.index(kind) > rank.index(entry.kind):
            entry.kind = kind
        if at and (entry.at is None or at < entry.at):
            entry.at = at
    return Analysis(list(entries.values()), unreadable, columns, row_count=len(table.rows))


def _match(entries, chunk):
    by_email = {}
    keys = [entry.email.upper() for entry in entries]
    for start in range(0, len(keys), chunk):
        found = (
            Customer.objects.annotate(email_upper=Upper("email"))
            .filter(email_upper__in=keys[start : start + chunk])
            .values_list("email_upper", "pk", "first_name", "last_name")
            .order_by("pk")
        )
        for email, pk, first, last in found:
            by_email.setdefault(email, []).append((pk, f"{first} {last}"))
    ids = [pk for customers in by_email.values() for pk, _name in customers]
    withdrawn = set()
    for start in range(0, len(ids), chunk):
        latest = (
            Consent.objects.filter(
                customer_id__in=ids[start : start + chunk], channel=Consent.Channel.EMAIL
            )
            .current()
            .values_list("customer_id", "event")
        )
        withdrawn |= {pk for pk, event in latest if event == Consent.Event.CONSENT_WITHDRAWN}
    for entry in entries:
        entry.customers = by_email.get(entry.email.upper(), [])
        entry.withdraw_ids = []
        if entry.kind == Kind.IGNORED:
            entry.outcome = Outcome.IGNORED
        elif not entry.customers:
            entry.outcome = Outcome.NOT_FOUND
        elif entry.kind == Kind.BOUNCE:
            entry.outcome = Outcome.BOUNCE
        else:
            entry.withdraw_ids = [pk for pk, _name in entry.customers if pk not in withdrawn]
            entry.outcome = Outcome.WITHDRAW if entry.withdraw_ids else Outcome.ALREADY


#: Addresses of each outcome kept for the preview page (and shown on it).
PREVIEW_SHOWN = 200


def preview_of(analysis):
    """What the preview page shows, kept with the file: the counts, and the
    first PREVIEW_SHOWN addresses of each outcome with the ids of their
    customers (not their names: the page reads those when it is shown)."""
    sections = {}
    for outcome in Outcome.ORDER:
        if outcome == Outcome.UNREADABLE:
            # No address, so nobody matched: rows of the file only.
            items = [
                {"number": number, "email": text, "kind": "", "at": None, "customers": []}
                for number, text in analysis.unreadable[:PREVIEW_SHOWN]
            ]
        else:
            items = [
                {
                    "number": entry.number,
                    "email": entry.email,
                    "kind": entry.kind,
                    "at": entry.at.isoformat() if entry.at else None,
                    "customers": [pk for pk, _name in entry.customers],
                }
                for entry in analysis.of(outcome)[:PREVIEW_SHOWN]
            ]
        sections[outcome] = items
    return {
        "at": timezone.now().isoformat(),
        "counts": analysis.counts,
        # Customers with an address of the file, all of them: the page is a
        # read of this many (customer_searched's result count).
        "matched": sum(len(entry.customers) for entry in analysis.entries),
        "sections": sections,
    }


def _read_and_check(upload, *, step, now=None, progress=None):
    """Read the kept file and its addresses (`step` names the checking on the
    progress page); not yet matched against the register."""
    if progress is not None:
        progress.step(UnsubscribeImport.Step.READ)
    table = read_table(bytes(upload.content))
    if progress is not None:
        progress.step(step, total=len(table.rows))
    return read_entries(table, now=now, progress=progress)


@transaction.atomic
def unsubscribes_upload(*, file_name, content, by, request=None, check_rows=True):
    """Keep an uploaded file until it is confirmed or cancelled. Only its first
    rows are read here (the format, the header and the column of addresses),
    so that the upload is quick; every address is checked by the preview's
    task in the worker (unless `check_rows` is false: the command line
    applies at once). Raises ImportFileError for a file that cannot be read
    or has no addresses."""
    table = read_table(content, first=COLUMN_SAMPLE)
    recognise_columns(table.headers, table.rows)
    upload = UnsubscribeImport.objects.create(
        created_by=by,
        file_name=plain_file_name(file_name),
        content=content,
    )
    audit_event_create(
        action=AuditEvent.Action.IMPORT_UPLOADED,
        by=by,
        target=upload,
        request=request,
        detail={"file": upload.file_name, "bytes": len(content)},
    )
    if check_rows:
        unsubscribes_preview_start(upload)
    return upload


def unsubscribes_preview_start(upload):
    """Have the worker check every address for the preview, once the current
    transaction commits."""
    task_mark_queued(upload, UnsubscribeImport.Step.ANALYSE)
    enqueue_on_commit("registry.imports.tasks.preview_unsubscribes", upload)


@cycle_collector_paused()
def unsubscribes_preview(upload, *, progress=None):
    """Check every address of a waiting file against the register and keep
    what the preview page shows (in the task worker). Returns the analysis."""
    analysis = _read_and_check(upload, step=UnsubscribeImport.Step.ANALYSE, progress=progress)
    analysis.match()
    preview = preview_of(analysis)
    UnsubscribeImport.objects.filter(pk=upload.pk, status=UnsubscribeImport.Status.PENDING).update(
        preview=preview, row_count=analysis.row_count
    )
    upload.preview, upload.row_count = preview, analysis.row_count
    return analysis


class UnsubscribeStateError(PlainError):
    """Applied twice, cancelled, not checked yet, or waited too long."""


def _check_can_apply(upload):
    if upload.status != UnsubscribeImport.Status.PENDING or upload.content is None:
        raise UnsubscribeStateError(_("This import has already been handled."))
    if upload.is_expired:
        raise UnsubscribeStateError(
            _("The file waited too long for confirmation and is discarded: upload it again.")
        )


@transaction.atomic
def unsubscribes_apply_start(*, upload, by, request=None):
    """Have the worker apply a checked file, once the current transaction
    commits. A second confirmation while the first waits or runs (a double
    click, a second tab) starts nothing more. Raises UnsubscribeStateError."""
    upload = UnsubscribeImport.objects.select_for_update().get(pk=upload.pk)
    _check_can_apply(upload)
    if upload.task_active:
        return upload
    if not upload.preview:
        raise UnsubscribeStateError(_("The file has not been checked yet: wait for the preview."))
    task_mark_queued(upload, UnsubscribeImport.Step.CHECK)
    enqueue_on_commit(
        "registry.imports.tasks.apply_unsubscribes",
        upload,
        by.pk,
        client_ip(request) if request else None,
    )
    return upload


@cycle_collector_paused()
def unsubscribes_apply(
    *, upload, by, request=None, ip_address=None, batch_size=2000, progress=None
):
    """Append a *consent withdrawn* event for email to the ledger of every
    matched customer (complaints marked); audit each and the import with the
    file name and counts. The file is read outside the transaction (so that
    `progress` can be seen); the addresses are matched against the register
    again inside it, as it is then, and everything is written in that one
    transaction. The file is not kept afterwards. Returns (upload, analysis)."""
    upload = UnsubscribeImport.objects.defer("preview").get(pk=upload.pk)
    _check_can_apply(upload)
    now = timezone.now()
    analysis = _read_and_check(
        upload, step=UnsubscribeImport.Step.CHECK, now=now, progress=progress
    )
    if progress is not None:
        progress.step(UnsubscribeImport.Step.WRITE)
    return _unsubscribes_write(
        upload,
        analysis,
        by=by,
        request=request,
        ip_address=ip_address,
        now=now,
        batch_size=batch_size,
    )


@transaction.atomic
def _unsubscribes_write(checked, analysis, *, by, request, ip_address, now, batch_size):
    upload = UnsubscribeImport.objects.select_for_update().defer("preview").get(pk=checked.pk)
    _check_can_apply(upload)
    # Still allowed now, and until the commit (its row locked).
    account_still_allowed(by, UNSUBSCRIBE_PERMISSION, lock=True)
    analysis.match()
    counts = analysis.counts
    event = audit_event_create(
        action=AuditEvent.Action.UNSUBSCRIBES_IMPORTED,
        by=by,
        target=upload,
        request=request,
        ip_address=ip_address,
        detail={"file": upload.file_name, "rows": analysis.row_count, **counts},
    )
    pairs = [(pk, entry) for entry in analysis.of(Outcome.WITHDRAW) for pk in entry.withdraw_ids]
    role = event.actor_role
    reach_changed()
    for start in range(0, len(pairs), batch_size):
        part = pairs[start : start + batch_size]
        withdrawals = Consent.objects.bulk_create(
            [
                Consent(
                    customer_id=pk,
                    channel=Consent.Channel.EMAIL,
                    event=Consent.Event.CONSENT_WITHDRAWN,
                    method=Consent.Method.NEWSLETTER_SERVICE,
                    occurred_at=entry.at or now,
                    recorded_by=by,
                    recorded_by_role=role,
                    recorded_at=now,
                    complaint=entry.kind == Kind.COMPLAINT,
                )
                for pk, entry in part
            ]
        )
        marketing_journal_append(withdrawals)  # they outlive a restore of an older backup
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    at=now,
                    actor=by,
                    actor_role=role,
                    action=AuditEvent.Action.CONSENT_RECORDED,
                    target_type="registry.customer",
                    target_id=str(pk),
                    ip_address=event.ip_address,
                    detail={
                        "channel": Consent.Channel.EMAIL,
                        "event": Consent.Event.CONSENT_WITHDRAWN,
                        "method": Consent.Method.NEWSLETTER_SERVICE,
                        "complaint": entry.kind == Kind.COMPLAINT,
                        "occurred_at": (entry.at or now).isoformat(),
                        "unsubscribe_import": upload.pk,
                    },
                )
                for pk, entry in part
            ]
        )
        Customer.objects.filter(pk__in=[pk for pk, _entry in part]).mark_active(now)
    upload.status = UnsubscribeImport.Status.APPLIED
    upload.applied_at = now
    upload.row_count = analysis.row_count
    upload.counts = counts
    upload.content = None  # the file is not kept once applied
    upload.preview = {}
    upload.save(
        update_fields=["status", "applied_at", "row_count", "counts", "content", "preview"]
    )
    return upload, analysis


@transaction.atomic
def unsubscribes_cancel(*, upload):
    """Drop a waiting file and its preview; nothing was changed. Its task, if
    one waits for the worker, is dropped too; one that checks addresses stops
    at its next progress report (the writing cannot be stopped: the cancel
    then waits for it and finds the file applied)."""
    updated = unsubscribes_discard_files(
        UnsubscribeImport.objects.filter(pk=upload.pk), task_state=UnsubscribeImport.State.NONE
    )
    task_dequeue(upload)
    return bool(updated)


def unsubscribes_discard_files(uploads=None, *, older_than=None, **also):
    """Cancel waiting files (of `uploads`, or all; those uploaded before
    `older_than`) and drop them and their previews."""
    pending = (uploads if uploads is not None else UnsubscribeImport.objects).filter(
        status=UnsubscribeImport.Status.PENDING
    )
    if older_than is not None:
        pending = pending.filter(created_at__lt=older_than)
    return pending.update(
        status=UnsubscribeImport.Status.CANCELLED, content=None, preview={}, **also
    )


@erasure_handler("registry.unsubscribeimport")
def _erase_from_unsubscribe_imports(erasure):
    """A waiting file may hold the person's address: every waiting file is
    discarded (upload it again), and file names are scrubbed."""
    unsubscribes_discard_files()
    erasure.scrub_rows(UnsubscribeImport.objects.all(), ("file_name",))

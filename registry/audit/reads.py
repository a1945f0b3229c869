"""Which events of the audit trail are reads of customer records, and how
many records each read: the one place the monitoring of access (the
unusual-activity alert, the access review, the health page's exports;
registry.accounts.selectors) takes them from.

Every action of AuditEvent.Action is in READS or in NOT_READS, never both:
tests/test_monitoring_all.py fails on an action in neither, so an action
added later is counted, or said not to be a read and why, before it ships.

A read is of one of three kinds: a page about one person (`page`), a page
that lists customers (`list`: the customer list, every other list read,
a course's participants), or a file handed out (`file`). It counts either
one record (`rows=False`: one person, whatever its detail says) or the
event's `rows` (`rows=True`: how many the page showed or the file holds;
an old event without a count, one).
"""

from dataclasses import dataclass

from .models import AuditEvent

Action = AuditEvent.Action


@dataclass(frozen=True)
class Read:
    """How an action reads customer records: its kind (PAGE, LIST or FILE),
    and whether it counts its `rows` (else one)."""

    kind: str
    rows: bool

    PAGE = "page"
    LIST = "list"
    FILE = "file"


#: The reads of customer records, with what each counts.
READS = {
    # Pages about one person.
    Action.CUSTOMER_VIEWED: Read(Read.PAGE, rows=False),
    Action.ACCESS_REPORT_VIEWED: Read(Read.PAGE, rows=False),
    # A request of someone who is not a customer shows its requester, their
    # name and contact, as a customer's page shows the customer.
    Action.CASE_VIEWED: Read(Read.PAGE, rows=False),
    # Lists: the customers the page showed (customers_shown).
    Action.CUSTOMER_SEARCHED: Read(Read.LIST, rows=True),
    Action.PARTICIPANT_LIST_VIEWED: Read(Read.LIST, rows=True),
    # Files: the rows they hold.
    Action.REGISTER_EXPORTED: Read(Read.FILE, rows=True),
    Action.MARKETING_LIST_EXPORTED: Read(Read.FILE, rows=True),
    Action.PARTICIPANT_LIST_EXPORTED: Read(Read.FILE, rows=True),
    # An import's rejected rows: each a row of the file, a person's name and
    # addresses (a customer's, or someone's who would have been one).
    Action.IMPORT_REJECTS_DOWNLOADED: Read(Read.FILE, rows=True),
    # The audit trail: its events. Any of them may name a customer (its
    # target, search words, a change's old and new values, a typed reason),
    # and which do cannot be told without reading their free text, so each
    # event counts, as each row of a list does.
    Action.AUDIT_TRAIL_EXPORTED: Read(Read.FILE, rows=True),
    # One person's files: the access report, and the answer to a request
    # without a customer (the letter names the requester).
    Action.ACCESS_REPORT_EXPORTED: Read(Read.FILE, rows=False),
    Action.CASE_ANSWER_EXPORTED: Read(Read.FILE, rows=False),
}

#: The actions that read no customer record, each with the reason. A change
#: that shows the record afterwards is read by the page it leads to (the
#: customer's page, a course page), which writes its own event.
NOT_READS = {
    Action.LOGIN: "an account's login",
    Action.LOGOUT: "an account's logout",
    Action.LOGIN_FAILED: "an account's failed login",
    Action.LOCKOUT: "an account's lockout",
    Action.PASSWORD_CHANGED: "an account's password",
    Action.ACCOUNT_CREATED: "an account",
    Action.ACCESS_CHANGED: "an account's rights",
    Action.ACCOUNT_DEACTIVATED: "an account",
    Action.ACCOUNT_LOCKED: "an account",
    Action.ACCOUNT_UNLOCKED: "an account",
    Action.ACCOUNT_REACTIVATED: "an account",
    Action.TWO_FACTOR_ENABLED: "an account's device",
    Action.TWO_FACTOR_FAILED: "an account's code",
    Action.TWO_FACTOR_REPLACED: "an account's device",
    Action.TWO_FACTOR_REMOVED: "an account's device",
    Action.TWO_FACTOR_CHANGED: "an account's device",
    Action.CUSTOMER_CREATED: "a write of what the user typed; the page after it is a read",
    Action.CUSTOMER_CHANGED: "a write; the edit form that showed the record is a read",
    Action.CUSTOMER_MERGED: "a write; the merge page that showed both records is a read",
    Action.CONSENT_RECORDED: "a write; the consent form is a read",
    Action.CUSTOMER_ERASED: "removes the record; the erasure page is a read",
    Action.CUSTOMER_RESTRICTED: "a write; the restriction page is a read",
    Action.CUSTOMER_RESTRICTION_LIFTED: "a write; its page is a read",
    Action.COURSE_CREATED: "a course, no customer",
    Action.COURSE_CHANGED: "a course, no customer",
    Action.ENROLLED: "a write; the course page or customer page after it is a read",
    Action.ENROLLMENT_CANCELLED: "a write; the cancel page is a read",
    Action.WAITLIST_PROMOTED: "a write by the register, shown to nobody",
    Action.ATTENDANCE_MARKED: "a write; roll call, which showed the list, is a read",
    Action.CASE_LOGGED: "a write of what the user typed; the request's page is a read",
    Action.CASE_UPDATED: "a write; the request's page is a read",
    Action.CASE_LINKED: "a write; the linking pages are reads",
    Action.CASE_RESTORED: "a restore's write from the journal, shows nobody",
    Action.IMPORT_UPLOADED: "the user's own file; its preview is a read",
    Action.CUSTOMERS_IMPORTED: "a write of the file's rows; the preview was a read",
    Action.IMPORT_UNDONE: "removes customers; the import's page after it is a read",
    Action.UNSUBSCRIBES_IMPORTED: "a write; the unsubscribe preview is a read",
    Action.MESSAGE_QUEUED: "a write; the preview or the page it leads to is a read",
    Action.MESSAGE_RESENT: "a write; the outbox that showed it is a read",
    Action.RETENTION_RUN: "erases; the retention list is a read",
    Action.BACKUP_VERIFIED: "a restore into a scratch database that nobody is shown",
    Action.LOGS_PRUNED: "blanks old values, shows none",
    Action.CONSENT_REDATED: "a repair after an upgrade (repair_register), shows nobody",
    Action.REGISTER_REPAIRED: "a repair run's counts (repair_register), shows nobody",
}

#: Pages about one person, lists and files, as the monitoring counts them.
VIEWS = [action for action, read in READS.items() if read.kind == Read.PAGE]
LISTS = [action for action, read in READS.items() if read.kind == Read.LIST]
EXPORTS = [action for action, read in READS.items() if read.kind == Read.FILE]
#: The reads that count their `rows`.
COUNTING_ROWS = [action for action, read in READS.items() if read.rows]


def customers_shown(event):
    """How many customers a list read showed (its `rows`), else None: the
    trail's page says "N customers shown" of the lists the monitoring counts."""
    rows = event.detail.get("rows") if isinstance(event.detail, dict) else None
    return rows if event.action in LISTS and isinstance(rows, int) else None

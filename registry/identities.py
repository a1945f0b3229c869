"""The identities a person has had in the register: (id, moment added) pairs.

The erasure and marketing journals name a customer by id and the moment the
customer was added (created_at), so that a restore of an older backup never
applies an entry to someone else holding the id. A merge changes both: the
kept record takes the earlier moment of the two and the other record is
deleted (registry.services.customer_merge). A backup made before the merge
holds the person as the two old records, so a journal entry written after it
names every identity the person has had: the current one, the kept record's
moment before each merge, and each record merged into it, records merged
into those included.

They are read from the merge events (the events targeting the customer's
ids, through the trail's index on the target), which record the removed
record's id and moment and the kept record's moment before the merge. A
merge event counts only if the moment it left the kept record with (the
earlier of the two) is a moment the person had under that id: an event of an
earlier holder of the id (one a restore took away) names someone else.

Merge events written before they recorded the moments name the removed id
alone. Its record is not named: an id alone is not one person (after a
restore of an older backup the counter may have given it to someone else,
and a further restore may bring back an earlier holder of it), and an
erasure must never reach someone else. Such a merged-away record can come
back with a restore of a backup older than the merge, as before.
"""

from datetime import UTC, datetime, timedelta

from registry.audit.models import CUSTOMER_TARGET, AuditEvent


def customer_identities(customer):
    """The (id, created_at) pairs `customer` has had, the current one first."""
    return customers_identities([customer])[customer.pk]


def customers_identities(customers):
    """{customer id: [(id, created_at), ...]} for each of `customers`, the
    current identity first. One query for each level of merges (a record
    merged into one later merged is the next level), whatever the number of
    customers."""
    known = {customer.pk: [(customer.pk, customer.created_at)] for customer in customers}
    owner = {(customer.pk, customer.created_at): customer.pk for customer in customers}
    applied = set()
    frontier = set(known)
    while frontier:
        events = (
            AuditEvent.objects.filter(
                action=AuditEvent.Action.CUSTOMER_MERGED,
                target_type=CUSTOMER_TARGET,
                target_id__in=[str(pk) for pk in frontier],
            )
            .exclude(pk__in=applied)
            .order_by("-at", "-id")
            .values_list("pk", "target_id", "detail")
        )
        frontier = set()
        # Newest first: the latest merge left the moment the record has now,
        # and its moment before that merge is the one the one before left.
        for event_id, target_id, detail in events:
            moments = _moments(detail)
            if moments is None or not target_id.isdigit():
                continue  # written before the moments were recorded
            kept_before, removed_id, removed_at = moments
            kept_id = int(target_id)
            person = owner.get((kept_id, min(kept_before, removed_at)))
            if person is None:
                continue  # someone else's: an earlier holder of the id
            applied.add(event_id)
            for identity in ((kept_id, kept_before), (removed_id, removed_at)):
                if identity not in owner:
                    owner[identity] = person
                    known[person].append(identity)
                    frontier.add(identity[0])
    return known


def _moments(detail):
    """(kept record's created_at before, removed id, its created_at) of a
    merge event's detail, or None if it does not record them."""
    try:
        return (
            datetime.fromisoformat(detail["kept_created_at"]),
            int(detail["removed_id"]),
            datetime.fromisoformat(detail["removed_created_at"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def identities_as_json(identities):
    """The pairs as a journal entry holds them: [[id, "ISO moment"], ...]."""
    return [[pk, added.isoformat()] for pk, added in identities]


def identities_from_entry(entry):
    """The (id, created_at) pairs a journal entry names: its "identities" and
    its own customer_id and created_at (an entry written before the
    identities were kept names those alone). Pairs without a moment are not
    returned (see registry.backups for the erasure journal's oldest entries)."""
    pairs = set()
    if entry.get("created_at"):
        pairs.add((entry["customer_id"], datetime.fromisoformat(entry["created_at"])))
    for pk, added in entry.get("identities") or ():
        pairs.add((int(pk), datetime.fromisoformat(added)))
    return pairs


#: The farthest a clock is from UTC (UTC-12:00 to UTC+14:00). PostgreSQL
#: refuses some offsets beyond, after a restore has loaded the backup.
LARGEST_OFFSET = timedelta(hours=14)
#: The years a journalled moment may fall in, in UTC: the pages show it in
#: local time, which must exist too. A request's days are not later
#: (registry.rights.casejournal).
YEARS = range(1900, 9999)
#: The largest id a journal may name: JSON's largest safe integer. Far beyond
#: any register; a restore sets the customers' id counter past the erasure
#: journal's ids, and one near PostgreSQL's bigint limit stopped the restore
#: after the backup was loaded, or left no id for a new customer (the
#: eleventh probe).
LARGEST_ID = 2**53 - 1


def journal_moment(text):
    """A moment as a journal entry holds it (ISO text with its offset from
    UTC, as the register writes it); ValueError otherwise. A moment without
    its offset never equals the register's (a customer erased since was not
    found again) and cannot be compared with them (the restore stopped after
    loading the backup): refused, as one with an offset no clock has or
    outside YEARS (the eleventh probe)."""
    if not isinstance(text, str):
        raise ValueError("not a moment")
    moment = datetime.fromisoformat(text)
    offset = moment.utcoffset()
    if offset is None or abs(offset) > LARGEST_OFFSET:
        raise ValueError("not a moment with its offset from UTC")
    try:
        in_utc = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("not a moment of the calendar") from None
    if in_utc.year not in YEARS:
        raise ValueError("not a moment of the calendar")
    return moment


def is_journal_id(value):
    return type(value) is int and 0 < value <= LARGEST_ID  # not True, not "7"


def check_journal_entry(entry):
    """ValueError unless `entry` names a person as both journals do: an
    object with the customer's id, the moment added (ISO text, or none in
    the erasure journal's oldest entries) and the other (id, moment) pairs
    the person had. A restore reads the journals before it restores, so that
    a line it could not apply stops it before the backup is loaded."""
    if not isinstance(entry, dict) or not is_journal_id(entry.get("customer_id")):
        raise ValueError("not an entry")
    if entry.get("created_at") is not None:
        journal_moment(entry["created_at"])
    pairs = entry.get("identities") or []
    if not isinstance(pairs, list):
        raise ValueError("identities")
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and is_journal_id(pair[0])):
            raise ValueError("identities")
        journal_moment(pair[1])

"""The journals outside the database: what must outlive a restore of an
older backup.

A building block (it imports nothing of the register): the durable append
(fsync before the transaction of the change commits, under a lock), the
reading of a journal file that checks every line and names the one it
cannot use, and the prune of the marketing journal.

Two files. The erasure journal (ERASURE_JOURNAL_PATH, registry.rights.erasure)
holds the erased. The marketing journal (MARKETING_JOURNAL_PATH) holds
entries of several kinds, one JSON object a line, owner-only; no name, no
address, no typed text. Like erasure handlers (registry.erasure) and repairs
(registry.repairs), each owner registers its kind of entry
(`register_entry_kind`): its name (the entry's "kind"), the check that an
entry is one the restore can apply, the reapply after a restore, and the
prune rule. The kinds:
- "consent": the ledger's events that narrow marketing
  (registry.marketing.journal); entries written before the kinds have no
  "kind" and are these;
- "restriction": restrictions of processing (registry.rights.restriction);
- "case": data subject requests (registry.rights.casejournal).

A restore reads both files before it restores anything (a damaged line stops
it first), then re-applies the erasure journal and the kinds of the
marketing journal in a fixed order (registry.backups).
"""

import fcntl
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

#: The kind of an entry without "kind": written before the kinds, the ledger's.
DEFAULT_KIND = "consent"


class MarketingJournalError(Exception):
    """The marketing journal cannot be read; the message says where."""


@dataclass(frozen=True)
class EntryKind:
    """A kind of entry of the marketing journal.

    `check(entry)` raises ValueError unless the restore can apply the entry;
    `reapply(entries)` re-applies this kind's entries (oldest first) after a
    restore and returns what it did; `prune(entry, erased)` says whether the
    entry goes at a prune because its customer was erased since (None: only
    time drops it; `customer_erased` for the customer's own entries)."""

    name: str
    check: Callable
    reapply: Callable
    prune: Callable | None


@dataclass(frozen=True)
class Erased:
    """The customers the erasure journal names: (id, moment added) pairs, and
    ids alone (an entry written before the moment was kept)."""

    identities: frozenset
    ids: frozenset


_kinds = {}


def register_entry_kind(name, *, check, reapply, prune):
    """Register the kind of entry `name` (see EntryKind)."""
    _kinds[name] = EntryKind(name=name, check=check, reapply=reapply, prune=prune)


def entries_of(kind, entries):
    """The entries of the kind `kind` among `entries`, in their order."""
    return [entry for entry in entries if entry.get("kind", DEFAULT_KIND) == kind]


def append_durably(path, entries):
    """Append `entries` to the journal file `path`, durably (fsync): call it
    inside the transaction of the change, before it commits."""
    with _locked(path) as journal:
        for entry in entries:
            journal.write(json.dumps(entry) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


def journal_append(entries):
    """Append `entries` to the marketing journal, durably (append_durably)."""
    append_durably(settings.MARKETING_JOURNAL_PATH, entries)


@contextmanager
def _locked(path):
    """The journal opened for appending, with an exclusive lock (flock), so
    that `journal_prune`, which replaces the file, never drops a line written
    meanwhile: a writer that opened the replaced file opens the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    with os.fdopen(fd, "a", encoding="utf-8") as journal:  # closing releases the lock
        yield journal


def read_entries(path, check, *, unreadable):
    """The entries of the journal file `path`, oldest first (none if there is
    no file), each checked by `check(entry)` (ValueError unless the restore
    can apply it). A line that is not such an entry raises
    `unreadable(number)`, the exception naming it (a restore reads the
    journals before it restores: a line torn by a crash, or edited by hand,
    stops it before the backup is loaded)."""
    if not path.exists():
        return []
    entries = []
    with path.open(encoding="utf-8") as journal:
        for number, line in enumerate(journal, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                check(entry)
            except ValueError:
                raise unreadable(number) from None
            entries.append(entry)
    return entries


def read_marketing_journal():
    """The marketing journal's entries, oldest first. MarketingJournalError
    names a line that is not an entry of a registered kind (`check_entry`)."""
    path = settings.MARKETING_JOURNAL_PATH
    return read_entries(
        path,
        check_entry,
        unreadable=lambda number: MarketingJournalError(
            f"Line {number} of the marketing journal {path} is not readable: "
            "repair or remove that line, then restore again."
        ),
    )


def check_entry(entry):
    """ValueError unless `entry` is an entry of a registered kind that its
    check accepts. Only JSON was checked before the tenth probe: an entry
    without a key, or with a moment that is none, stopped the restore after
    the backup was loaded, and an entry giving a consent was recorded as one."""
    if not isinstance(entry, dict):
        raise ValueError("not an entry")
    kind = _kind_of(entry)
    if kind is None:
        raise ValueError("not a kind of the journal")
    kind.check(entry)


def _kind_of(entry):
    """The registered kind of `entry`, or None."""
    name = entry.get("kind", DEFAULT_KIND)
    return _kinds.get(name) if isinstance(name, str) else None


def journal_reapply(entries, *, order):
    """After a restore (and after the erasure journal): each kind's reapply
    with its entries, the kinds in `order` (their names; every registered
    kind, so that none is forgotten). Returns {kind: what its reapply returned}."""
    if set(order) != set(_kinds):
        raise ImproperlyConfigured(
            f"The journal's kinds are {sorted(_kinds)}; the restore's order names {list(order)}."
        )
    return {name: _kinds[name].reapply(entries_of(name, entries)) for name in order}


def customer_erased(entry, erased):
    """A prune rule: the entry names a customer (its id and the moment they
    were added) whom the erasure journal erased (a restore erases them again
    before it would read the entry)."""
    pk, added = entry["customer_id"], datetime.fromisoformat(entry["created_at"])
    return pk in erased.ids or (pk, added) in erased.identities


def journal_prune(*, before, erased=()):
    """Drop the marketing journal's entries recorded before `before` (every
    backup still kept holds what they hold) and those the prune rule of
    their kind drops for the customers erased since (`erased`: (id, moment
    added or None) pairs, as the erasure journal names them). The kept
    lines stay as they were, in a new owner-only file that replaces the old
    one at once. Returns how many entries were dropped."""
    path = settings.MARKETING_JOURNAL_PATH
    if not path.exists():
        return 0
    gone = Erased(
        identities=frozenset((pk, added) for pk, added in erased if added is not None),
        ids=frozenset(pk for pk, added in erased if added is None),
    )
    with _locked(path):
        lines = [
            line
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
            if line.strip()
        ]
        kept = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                kept.append(line)  # not ours to drop: a restore names it
                continue
            if datetime.fromisoformat(entry["recorded_at"]) < before:
                continue
            kind = _kind_of(entry)
            if kind is not None and kind.prune is not None and kind.prune(entry, gone):
                continue
            kept.append(line)
        if len(kept) == len(lines):
            return 0
        scratch = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as new:
            new.writelines(kept)
            new.flush()
            os.fsync(new.fileno())
        os.replace(scratch, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return len(lines) - len(kept)

"""Encrypted, compressed, consistent backups of the whole database.

A backup file is Fernet(gzip(tar(manifest.json, database))), written with
owner-only permissions:
- SQLite: a copy made with sqlite3's online backup API (consistent while the
  app runs; never a plain file copy);
- PostgreSQL: `pg_dump --format=custom` (a consistent snapshot).
The manifest records the engine, the time and the rows of every table, so a
restore can be verified. Fernet (from the `cryptography` package) is
authenticated encryption: a wrong key or a changed byte is refused before
anything is restored.
"""

import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from registry.audit.models import AuditEvent
from registry.audit.services import audit_event_create
from registry.identities import identities_from_entry
from registry.models import Customer

from .imports.services import imports_discard_files
from .imports.unsubscribes import unsubscribes_discard_files
from .journal import MarketingJournalError, journal_prune, journal_reapply, read_marketing_journal
from .marketing.journal import CONSENT
from .reach import new_generation
from .rights.casejournal import CASE
from .rights.erasure import ErasureJournalError, customers_erase, read_journal
from .rights.requesters import requesters_forget
from .rights.restriction import RESTRICTION
from .suppression import restore_from_journal

SUFFIX = ".balansia-backup"

#: The order a restore re-applies the marketing journal's kinds in, after the
#: erasure journal (someone erased since gets nothing back): the ledger's
#: objections and withdrawals, the restrictions of processing, then the data
#: subject requests, linked to whoever is there by then.
JOURNAL_ORDER = (CONSENT, RESTRICTION, CASE)


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


def _fernet():
    key = settings.BACKUP_ENCRYPTION_KEY
    if not key:
        raise BackupError(
            "BACKUP_ENCRYPTION_KEY is not set: backups are never written in clear. "
            "Generate a key with `manage.py backup --generate-key` and keep it apart "
            "from the backups (see README)."
        )
    try:
        return Fernet(key.encode())
    except ValueError:
        raise BackupError(
            "BACKUP_ENCRYPTION_KEY is not a valid key (32 url-safe base64 bytes)."
        ) from None


def generate_key():
    return Fernet.generate_key().decode()


def table_counts(alias="default"):
    conn = connections[alias]
    with conn.cursor() as cursor:
        counts = {}
        for table in sorted(conn.introspection.table_names(cursor)):
            cursor.execute(f"SELECT COUNT(*) FROM {conn.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def _tool(name):
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (Debian: apt-get install postgresql-client).")
    return path


def _run_pg(tool, *options, settings_dict, name=None):
    """Run pg_dump or pg_restore against the database (or `name`)."""
    subprocess.run(  # noqa: S603
        [_tool(tool), *options, *_pg_args(settings_dict, name)],
        check=True,
        env=_pg_env(settings_dict),
        capture_output=True,
    )


def _pg_env(settings_dict):
    env = os.environ.copy()
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    return env


def _pg_args(settings_dict, name=None):
    args = ["--dbname", name or settings_dict["NAME"]]
    if settings_dict.get("HOST"):
        args += ["--host", settings_dict["HOST"]]
    if settings_dict.get("PORT"):
        args += ["--port", str(settings_dict["PORT"])]
    if settings_dict.get("USER"):
        args += ["--username", settings_dict["USER"]]
    return args


def _dump(directory):
    """Write a consistent copy of the database into `directory`; return its name."""
    if connection.vendor == "sqlite":
        target = directory / "database.sqlite3"
        connection.ensure_connection()
        destination = sqlite3.connect(target)
        with destination:
            connection.connection.backup(destination)
        destination.close()
        return target.name
    if connection.vendor == "postgresql":
        target = directory / "database.pgdump"
        _run_pg(
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--file",
            str(target),
            settings_dict=connection.settings_dict,
        )
        return target.name
    raise BackupError(f"Backups of {connection.vendor} are not supported.")


def create_backup(directory=None):
    """Make a backup file; return its path and manifest."""
    fernet = _fernet()
    directory = Path(directory or settings.BACKUP_DIR)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        manifest = {
            "format": 1,
            "engine": connection.vendor,
            "created_at": timezone.now().isoformat(timespec="seconds"),
            "tables": table_counts(),
        }
        manifest["database"] = _dump(scratch)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            data = json.dumps(manifest, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(scratch / manifest["database"], arcname=manifest["database"])
        token = fernet.encrypt(gzip.compress(buffer.getvalue(), compresslevel=6))
    path, fd = _new_file(directory, manifest["engine"])
    with os.fdopen(fd, "wb") as out:
        out.write(token)
        out.flush()
        os.fsync(out.fileno())
    return path, manifest


def _new_file(directory, engine):
    """A new owner-only file named by the second it was made (a second backup
    in the same second gets a number after the time)."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    for number in range(1, 100):
        nth = f"-{number}" if number > 1 else ""
        path = directory / f"balansia-{stamp}{nth}-{engine}{SUFFIX}"
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
    raise BackupError(f"Too many backups in {directory} made at {stamp}.")


def _open(path, scratch):
    """Decrypt and unpack a backup into `scratch`; return the manifest."""
    fernet = _fernet()
    try:
        data = gzip.decompress(fernet.decrypt(Path(path).read_bytes()))
    except InvalidToken:
        raise BackupError(
            f"{path} cannot be decrypted: the key is wrong or the file is damaged. "
            "Nothing was restored."
        ) from None
    except OSError as error:
        raise BackupError(f"{path} cannot be read: {error}") from None
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(scratch, filter="data")
    manifest = json.loads((Path(scratch) / "manifest.json").read_text())
    if manifest.get("engine") != connection.vendor:
        raise BackupError(
            f"The backup is of {manifest.get('engine')}, this database is {connection.vendor}."
        )
    return manifest


def database_is_empty():
    return not Customer.objects.exists()


def _load(manifest, scratch, alias="default", name=None):
    conn = connections[alias]
    source = Path(scratch) / manifest["database"]
    if conn.vendor == "sqlite":
        conn.ensure_connection()
        backup = sqlite3.connect(source)
        with backup:
            backup.backup(conn.connection)
        backup.close()
        return
    conn.close()
    _run_pg(
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        str(source),
        settings_dict=conn.settings_dict,
        name=name,
    )


def restore_backup(path, *, force=False):
    """Restore a backup into this database, then re-apply the erasure journal
    and after it the marketing journal (registry.journal), its kinds in
    JOURNAL_ORDER: its objections and withdrawals (registry.marketing.journal),
    its restrictions of processing (registry.rights.restriction), and its
    data subject requests (registry.rights.casejournal); then forget again
    the requesters the retention rule forgets (registry.rights.requesters):
    no journal keeps that a requester was forgotten, and a backup made
    before brought them back until the next retention run (the eleventh
    probe). They are still due: the backup holds when their requests were
    closed.

    Returns (manifest, re-erased customer ids, re-applied Consent rows,
    customers restricted again, (cases re-created, cases brought up to date),
    how many requests had their requester forgotten again).
    """
    try:
        # Both read before anything is restored: a damaged line stops the
        # restore before the backup brings back anyone erased since.
        erasures = read_journal()
        marketing = read_marketing_journal()
    except (ErasureJournalError, MarketingJournalError) as error:
        raise BackupError(str(error)) from None
    with tempfile.TemporaryDirectory() as scratch:
        manifest = _open(path, scratch)
        if not force and not database_is_empty():
            raise BackupError(
                "The database is not empty: restore refused (use --force to overwrite it)."
            )
        _load(manifest, scratch)
    # The cache table came back with the data; counts kept since are not its.
    new_generation()
    erased_again = reapply_erasures(erasures)
    done = journal_reapply(marketing, order=JOURNAL_ORDER)
    return (
        manifest,
        erased_again,
        done[CONSENT],
        done[RESTRICTION],
        done[CASE],
        requesters_forget(),
    )


def reapply_erasures(journal=None):
    """Erase again everybody the journal says was erased (after a restore of a
    backup older than their erasure). `journal`: its entries, as read before
    the restore (read now by default)."""

    journal = read_journal() if journal is None else journal
    # An entry names the person by every (id, moment added) they had: a
    # record merged into them and erased with them comes back from a backup
    # older than the merge under its own id (registry.identities).
    ids = {pk for entry in journal for pk in _entry_ids(entry)}
    if ids:
        # A kept import file of the backup may hold someone erased since,
        # even when that person was never added to the register.
        imports_discard_files()
        unsubscribes_discard_files()
        # The backup's id counter may be older than these ids: a customer
        # added after the restore must not get the id of an erased one (whose
        # journal entry would erase them at the next restore, and whose
        # events would seem theirs).
        _ids_continue_after(Customer, max(ids))
    # Objections kept on the suppression list since the backup was made, with
    # their first times (before the erasures below would add them anew).
    restore_from_journal(journal)
    erased = _erased_identities(journal)
    back = [
        customer
        for customer in Customer.objects.filter(pk__in=ids)
        if customer.pk in erased["ids"]
        or (customer.pk, customer.created_at) in erased["identities"]
    ]
    if back:
        customers_erase(
            customers=back, by=None, reason="erasure journal after restore", journal=False
        )
    return sorted(c.pk for c in back)


def _entry_ids(entry):
    return {entry["customer_id"], *(int(pk) for pk, _added in entry.get("identities") or ())}


def _erased_identities(journal):
    """Whom the journal erased: {"identities": (id, moment added) pairs, "ids":
    ids alone}. An entry names the person by the id and the moment they were
    added, and by every other pair they had (merges: registry.identities);
    an entry written before the moment was kept names the id alone."""
    identities, ids = set(), set()
    for entry in journal:
        identities |= identities_from_entry(entry)
        if entry.get("created_at") is None:
            ids.add(entry["customer_id"])
    return {"identities": identities, "ids": ids}


def _ids_continue_after(model, last_id):
    """Make the table's next id greater than last_id (and than any id in it)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            # Django's SQLite ids are AUTOINCREMENT: the counter is a row of
            # sqlite_sequence, made by the first insert.
            cursor.execute(
                "UPDATE sqlite_sequence SET seq = MAX(seq, %s) WHERE name = %s", [last_id, table]
            )
            if not cursor.rowcount:
                cursor.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, last_id]
                )
        else:
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), "  # noqa: S608
                f"GREATEST(%s, (SELECT COALESCE(MAX(id), 0) FROM {quoted})))",
                [table, last_id],
            )


def verify_backup(path):
    """Restore into a scratch database and compare every table's rows with the
    manifest. Returns a list of differences (empty when the backup is good)."""
    with tempfile.TemporaryDirectory() as scratch:
        manifest = _open(path, scratch)
        source = Path(scratch) / manifest["database"]
        if connection.vendor == "sqlite":
            check = sqlite3.connect(source)
            counts = {
                table: check.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]  # noqa: S608
                for (table,) in check.execute(
                    "SELECT name FROM sqlite_master "
                    "WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            }
            check.close()
        else:
            counts = _verify_postgresql(source)
    expected = manifest["tables"]
    return [
        f"{table}: {expected.get(table)} in the manifest, {counts.get(table)} restored"
        for table in sorted(set(expected) | set(counts))
        if expected.get(table) != counts.get(table)
    ]


def _verify_postgresql(source):
    settings_dict = connection.settings_dict
    name = f"balansia_verify_{os.getpid()}"
    base = {
        k: v
        for k, v in {
            "host": settings_dict.get("HOST"),
            "port": settings_dict.get("PORT"),
            "user": settings_dict.get("USER"),
            "password": settings_dict.get("PASSWORD"),
        }.items()
        if v
    }
    admin = psycopg2.connect(dbname="postgres", **base)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        _run_pg("pg_restore", "--no-owner", str(source), settings_dict=settings_dict, name=name)
        check = psycopg2.connect(dbname=name, **base)
        cursor = check.cursor()
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        counts = {}
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608
            counts[table] = cursor.fetchone()[0]
        check.close()
        return counts
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def backups(directory=None):
    directory = Path(directory or settings.BACKUP_DIR)
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.exists() else []


def _taken_at(path):
    stamp = path.name.split("-")[1:3]
    return datetime.strptime("-".join(stamp), "%Y%m%d-%H%M%S")


def prune(directory=None, *, keep_daily=None, keep_monthly=None):
    """Keep the newest backup of each of the last N days and of the last M
    months; delete the rest. Returns the deleted paths."""
    keep_daily = settings.BACKUP_KEEP_DAILY if keep_daily is None else keep_daily
    keep_monthly = settings.BACKUP_KEEP_MONTHLY if keep_monthly is None else keep_monthly
    newest_first = sorted(backups(directory), key=_taken_at, reverse=True)
    keep, days, months = set(), [], []
    for path in newest_first:
        taken = _taken_at(path)
        if taken.date() not in days and len(days) < keep_daily:
            days.append(taken.date())
            keep.add(path)
        month = (taken.year, taken.month)
        if month not in months and len(months) < keep_monthly:
            months.append(month)
            keep.add(path)
    deleted = [path for path in newest_first if path not in keep]
    for path in deleted:
        path.unlink()
    return deleted


#: How long before the oldest kept backup the marketing journal still keeps
#: an entry: an event is journalled before its transaction commits, and the
#: file is named when the copy is done, so an event journalled a little
#: before that moment may be missing from it.
MARKETING_JOURNAL_MARGIN = timedelta(days=1)


def prune_marketing_journal(directory=None):
    """Drop the marketing journal's entries that every backup still kept
    holds (recorded a day or more before the oldest one was made), and the
    events and restrictions of customers in the erasure journal (their
    cases stay). With no backup, nothing is dropped.
    Returns how many entries were dropped."""
    files = backups(directory)
    if not files:
        return 0
    oldest = timezone.make_aware(min(_taken_at(path) for path in files))
    erased = [
        pair
        for entry in read_journal()
        for pair in (
            identities_from_entry(entry)
            if entry.get("created_at")
            else {(entry["customer_id"], None)}
        )
    ]
    return journal_prune(before=oldest - MARKETING_JOURNAL_MARGIN, erased=erased)


def last_backup_at(directory=None):
    """When the newest backup file was made, or None."""
    files = backups(directory)
    if not files:
        return None
    return timezone.make_aware(_taken_at(max(files, key=_taken_at)))


def backup_verified(path, differences):
    """Record a verification in the audit trail (the health page shows the
    last good one)."""
    audit_event_create(
        action=AuditEvent.Action.BACKUP_VERIFIED,
        detail={"file": Path(path).name, "ok": not differences, "differences": len(differences)},
    )


def last_verified_at():
    """When a backup was last verified good by restoring it, or None."""
    return (
        AuditEvent.objects.filter(action=AuditEvent.Action.BACKUP_VERIFIED, detail__ok=True)
        .values_list("at", flat=True)
        .first()
    )

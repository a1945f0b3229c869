"""Backups: encrypted, restorable, verified, and erasures stay erased."""

import json
import os
from datetime import datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from courses.models import Enrollment
from registry import backups
from registry.management.commands import restore as restore_command
from registry.marketing.models import SuppressedContact
from registry.models import Consent, Customer
from registry.reach import GENERATION_KEY
from registry.rights.erasure import customer_erase, read_journal
from registry.rights.models import DataSubjectRequest

from .factories import (
    ConsentFactory,
    CourseFactory,
    CustomerFactory,
    DataSubjectRequestFactory,
    EnrollmentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def backup_settings(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    settings.BACKUP_ENCRYPTION_KEY = Fernet.generate_key().decode()
    return settings


def reach_generation():
    return cache.get(GENERATION_KEY)


def every_row():
    """Every row of every table but the cache's, to compare before and after
    (a restore starts a new generation of the kept counts: registry.reach)."""
    rows = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            if table == settings.CACHES["default"]["LOCATION"]:
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            rows[table] = sorted(map(repr, cursor.fetchall()))
    return rows


@pytest.fixture
def data():
    staff = UserFactory(username="varmistaja", roles=["Toimisto"])
    customer = CustomerFactory(first_name="Varma", last_name="Kopioitava")
    ConsentFactory(customer=customer, recorded_by=staff)
    EnrollmentFactory(customer=customer, course=CourseFactory())
    DataSubjectRequestFactory(customer=customer, handled_by=staff)
    CustomerFactory.create_batch(3)
    return {"staff": staff, "customer": customer}


def test_round_trip_restores_every_row(data):
    before = every_row()
    path, manifest = backups.create_backup()
    assert manifest["tables"]["registry_customer"] == 4
    call_command("flush", interactive=False, verbosity=0)
    assert not Customer.objects.exists()
    call_command("restore", str(path))
    after = every_row()
    # The restore's own prune_logs run is the one row it adds (test_prune_logs).
    (pruned,) = [row for row in after["registry_auditevent"] if "'logs_pruned'" in row]
    after["registry_auditevent"].remove(pruned)
    assert after == before


def test_a_restore_makes_the_kept_marketing_counts_count_again(data):
    path, _ = backups.create_backup()
    generation = reach_generation()
    call_command("restore", str(path), "--force")
    assert reach_generation() not in {generation, None}


def test_restoring_an_older_backup_erases_again_who_was_erased_since(data):
    path, _ = backups.create_backup()
    customer_erase(customer=data["customer"], by=data["staff"])
    after_erasure = every_row()
    call_command("restore", str(path), "--force")
    assert not Customer.objects.filter(last_name="Kopioitava").exists()
    assert Customer.objects.count() == 3
    # Nothing else changed: the same rows as right after the erasure, except
    # the audit event of the re-applied erasure and the moment her place on
    # the coming course was cancelled (by the re-applied erasure, again).
    restored = every_row()
    for table, rows in after_erasure.items():
        if table not in {"registry_auditevent", "courses_enrollment"}:
            assert restored[table] == rows, table
    assert list(Enrollment.objects.values_list("customer", "status")) == [(None, "cancelled")]


def test_two_backups_in_one_second_are_two_files(data, monkeypatch):
    moment = timezone.localtime()
    monkeypatch.setattr(backups.timezone, "localtime", lambda: moment)
    first, _ = backups.create_backup()
    second, _ = backups.create_backup()
    assert first != second and first.exists() and second.exists()
    assert backups._taken_at(first) == backups._taken_at(second)
    assert oct(os.stat(second).st_mode & 0o777) == "0o600"


def test_a_customer_added_after_a_restore_is_not_erased_by_the_next_restore(data):
    """Found by an audit: the restore brought back the backup's id counter, the
    next customer got the erased one's id, and the next restore erased them."""
    older, _ = backups.create_backup()
    erased = CustomerFactory(last_name="Poistunut")
    customer_erase(customer=erased, by=data["staff"])
    call_command("restore", str(older), "--force")
    innocent = CustomerFactory(last_name="Viaton")
    assert innocent.pk > erased.pk
    newer, _ = backups.create_backup()
    call_command("restore", str(newer), "--force")
    assert Customer.objects.filter(pk=innocent.pk, last_name="Viaton").exists()


def test_the_journal_erases_the_person_added_then_not_another_with_the_id(data):
    path, _ = backups.create_backup()
    erased = data["customer"]
    customer_erase(customer=erased, by=data["staff"])
    call_command("restore", str(path), "--force")
    assert not Customer.objects.filter(pk=erased.pk).exists()
    # Someone else under an id of the journal (as a restore without the
    # counter kept could make): the moment they were added tells them apart.
    (entry,) = read_journal()
    assert datetime.fromisoformat(entry["created_at"]) == erased.created_at
    other = CustomerFactory(last_name="Toinen")
    Customer.objects.filter(pk=other.pk).update(id=erased.pk)
    assert backups.reapply_erasures() == []
    assert Customer.objects.filter(pk=erased.pk, last_name="Toinen").exists()


def test_a_journal_written_before_the_moment_was_kept_still_erases_by_id(data, settings):
    path, _ = backups.create_backup()
    customer_erase(customer=data["customer"], by=data["staff"])
    lines = settings.ERASURE_JOURNAL_PATH.read_text().splitlines()
    old_style = [json.loads(line) for line in lines]
    for entry in old_style:
        del entry["created_at"]
    settings.ERASURE_JOURNAL_PATH.write_text("".join(json.dumps(e) + "\n" for e in old_style))
    call_command("restore", str(path), "--force")
    assert not Customer.objects.filter(last_name="Kopioitava").exists()


def test_a_wrong_key_or_a_damaged_file_is_refused_and_nothing_changes(data, backup_settings):
    path, _ = backups.create_backup()
    before = every_row()
    damaged = path.with_name("damaged" + backups.SUFFIX)
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    damaged.write_bytes(bytes(content))
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("restore", str(damaged), "--force")
    backup_settings.BACKUP_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("restore", str(path), "--force")
    assert every_row() == before


def test_without_a_key_nothing_is_written(data, backup_settings):
    backup_settings.BACKUP_ENCRYPTION_KEY = ""
    with pytest.raises(CommandError, match="never written in clear"):
        call_command("backup")
    assert backups.backups() == []


def test_a_backup_is_not_readable_and_only_the_owner_may_open_it(data):
    path, _ = backups.create_backup()
    content = path.read_bytes()
    for plain in (b"SQLite format 3", b"PGDMP", b"Kopioitava", b"registry_customer"):
        assert plain not in content
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_restore_refuses_a_database_that_holds_data(data):
    path, _ = backups.create_backup()
    with pytest.raises(CommandError, match="not empty"):
        call_command("restore", str(path))


def test_verify_restores_into_a_scratch_database_and_compares(data, capsys):
    path, _ = backups.create_backup()
    CustomerFactory()  # the live database moves on; the backup is still good
    call_command("backup", "--verify", str(path))
    assert "every table has the rows" in capsys.readouterr().out
    assert Customer.objects.count() == 5


def test_prune_keeps_the_daily_and_monthly_backups(backup_settings):
    directory = backup_settings.BACKUP_DIR
    directory.mkdir(parents=True)
    start = datetime(2026, 11, 25, 2, 0)
    for days_ago in range(0, 120):
        taken = start - timedelta(days=days_ago)
        (directory / f"balansia-{taken:%Y%m%d-%H%M%S}-sqlite{backups.SUFFIX}").write_bytes(b"x")
    deleted = backups.prune(keep_daily=7, keep_monthly=3)
    kept = sorted(p.name[9:17] for p in backups.backups())
    assert len(deleted) == 120 - len(kept)
    # The newest of each of the last 7 days, and of each of the last 3 months.
    assert kept == sorted({*(f"202611{d:02d}" for d in range(19, 26)), "20261031", "20260930"})


def test_the_dashboard_warns_when_the_last_backup_is_old(
    client, register_manager, backup_settings
):
    client.force_login(register_manager)
    assert "Varmuuskopiota ei ole tehty" in client.get("/").content.decode()
    backups.create_backup()
    body = client.get("/").content.decode()
    assert (
        "Viimeisin varmuuskopio" in body
        and "border-warning" not in body.split("backup-card")[1][:200]
    )


def test_restoring_an_older_backup_keeps_the_objections_of_those_erased_since(data):
    path, _ = backups.create_backup()
    objector = data["customer"]
    ConsentFactory(customer=objector, channel="direct_marketing", event="objection", text=None)
    customer_erase(customer=objector, by=data["staff"])
    kept = list(SuppressedContact.objects.values_list("digest", "suppressed_at"))
    assert kept
    call_command("restore", str(path), "--force")
    assert list(SuppressedContact.objects.values_list("digest", "suppressed_at")) == kept


def case(reference):
    """A case as the restore reports it (only its reference is printed)."""
    return DataSubjectRequest(reference=reference)


@pytest.mark.parametrize(
    ("done", "printed"),
    [
        (
            ([], [], [], ([], []), 0),
            [
                "Erasure journal: nobody to erase again.",
                "Marketing journal: nothing to re-apply.",
                "Marketing journal: no restriction of processing to re-apply.",
                "Data subject requests: nothing to re-create.",
            ],
        ),
        (
            (
                [7],
                [Consent(customer_id=3)],
                [Customer(pk=4)],
                ([case("DSR-A")], [case("DSR-B")]),
                1,
            ),
            [
                "Re-applied the erasure journal: 1 customer erased again (ids 7).",
                "Re-applied the marketing journal: 1 objection or withdrawal recorded again "
                "(customer ids 3).",
                "Re-applied the marketing journal: 1 restriction of processing set again "
                "(customer ids 4).",
                "Re-applied the marketing journal: 1 data subject request re-created "
                "(DSR-A). The journal keeps no requester, no verification and no outcome: "
                "add them from the original requests.",
                "Re-applied the marketing journal: 1 data subject request brought up to "
                "date (DSR-B).",
                "Retention: the requesters of 1 request without a customer, closed before "
                "the retention period, forgotten again.",
            ],
        ),
        (
            (
                [7, 8],
                [Consent(customer_id=5), Consent(customer_id=3), Consent(customer_id=5)],
                [Customer(pk=4), Customer(pk=2)],
                ([case("DSR-A"), case("DSR-C")], [case("DSR-B"), case("DSR-D")]),
                2,
            ),
            [
                "Re-applied the erasure journal: 2 customers erased again (ids 7, 8).",
                "Re-applied the marketing journal: 3 objections or withdrawals recorded "
                "again (customer ids 3, 5).",
                "Re-applied the marketing journal: 2 restrictions of processing set again "
                "(customer ids 4, 2).",
                "Re-applied the marketing journal: 2 data subject requests re-created "
                "(DSR-A, DSR-C). The journal keeps no requester, no verification and no "
                "outcome: add them from the original requests.",
                "Re-applied the marketing journal: 2 data subject requests brought up to "
                "date (DSR-B, DSR-D).",
                "Retention: the requesters of 2 requests without a customer, closed before "
                "the retention period, forgotten again.",
            ],
        ),
    ],
    ids=["nothing", "one each", "several"],
)
def test_restore_says_what_each_journal_gave_back(monkeypatch, capsys, done, printed):
    """The lines the register manager reads after a restore, word for word,
    for nothing, one and several of each."""
    when = "2026-11-20T03:00:00+02:00"
    monkeypatch.setattr(
        restore_command, "restore_backup", lambda file, force: ({"created_at": when}, *done)
    )
    # Its prune_logs run's lines are test_prune_logs'.
    pruned = []
    monkeypatch.setattr(restore_command, "call_command", lambda *args, **kw: pruned.append(args))
    call_command("restore", "balansia.balansia-backup")
    assert pruned == [("prune_logs",)]
    assert capsys.readouterr().out.splitlines() == [
        f"Restored the backup of {when}.",
        *printed,
        "Logs pruned again, as prune_logs does:",
        f"Not in the backup: corrections of customers' data made since {when}. Make those "
        "corrections again (the rectification requests are among the data subject requests).",
    ]

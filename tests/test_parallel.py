"""The suite runs in parallel processes (pytest-xdist, `make test`), so a test
keeps to what is its own: its files in its own folder, its database that of
its process (test_NAME_gw0, ...), which is also what a worker process it
starts is given."""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from .test_worker import database_url

ROOT = Path(__file__).resolve().parent.parent


def test_a_tests_files_go_into_its_own_folder(settings, tmp_path):
    """Not into the checkout's var/, which every process of a run shares (and
    a laptop's own register may use): a test that expired or erased exports
    there could delete another test's file while it is being read."""
    for name in (
        "EXPORT_DIR",
        "BACKUP_DIR",
        "EMAIL_FILE_PATH",
        "ERASURE_JOURNAL_PATH",
        "MARKETING_JOURNAL_PATH",
    ):
        assert tmp_path in Path(getattr(settings, name)).parents, name


@pytest.mark.django_db
def test_a_worker_process_is_given_the_database_of_this_test_process(tmp_path):
    name = connection.settings_dict["NAME"]
    xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")
    if connection.vendor == "postgresql":
        assert database_url(tmp_path).endswith(f"/{name}")
        assert name.endswith(f"_{xdist_worker}") if xdist_worker else name.startswith("test_")
    else:
        # SQLite: the test database is in this process's memory; the worker
        # gets a copy in the test's own folder.
        assert database_url(tmp_path) == f"sqlite:///{tmp_path / 'worker.sqlite3'}"


#: What a calling make (`make test TEST_WORKERS=3`) passes down to another.
MAKE_VARIABLES = {
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "TEST_WORKERS",
    "PYTEST_ARGS",
}


def pytest_command(*arguments):
    """The pytest command line `make test` would run (with make's defaults,
    whatever the make that runs this test was given)."""
    env = {key: value for key, value in os.environ.items() if key not in MAKE_VARIABLES}
    made = subprocess.run(
        [
            shutil.which("make"),
            "--dry-run",
            "--always-make",
            "--no-print-directory",
            "test",
            *arguments,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    [line] = [line for line in made.stdout.splitlines() if line.startswith(".venv/bin/pytest")]
    return shlex.split(line)[1:]


def test_make_test_runs_in_two_processes_and_can_run_in_one():
    assert pytest_command()[:4] == ["-n", "2", "--dist", "worksteal"]
    # The caller's arguments come last, and pytest takes the last -n.
    assert pytest_command("PYTEST_ARGS=-n0 -k lockout")[-3:] == ["-n0", "-k", "lockout"]

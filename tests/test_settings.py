"""Settings come from the environment and are safe when nothing is set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, identify_hasher, make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

import balansia.settings as production_settings

ROOT = Path(__file__).resolve().parent.parent


def load_settings(**env):
    """Import the settings in a fresh interpreter with only the given variables."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    clean.update(env)
    code = (
        "import balansia.settings as s;"
        "print(s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.TIME_ZONE,"
        " s.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_missing_secret_key_without_debug_is_a_clear_error():
    result = load_settings(SECURE_SSL_REDIRECT="", SESSION_COOKIE_SECURE="")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_is_off_and_production_safe_by_default():
    result = load_settings(SECRET_KEY="x" * 50, SECURE_SSL_REDIRECT="", SESSION_COOKIE_SECURE="")
    assert result.returncode == 0, result.stderr
    debug, ssl_redirect, secure_cookie, tz, _engine = result.stdout.split()
    assert (debug, ssl_redirect, secure_cookie, tz) == ("False", "True", "True", "Europe/Helsinki")


def test_database_defaults_to_sqlite_and_follows_database_url():
    no_url = load_settings(SECRET_KEY="x" * 50, DATABASE_URL="")
    with_url = load_settings(SECRET_KEY="x" * 50, DATABASE_URL="postgres://u@127.0.0.1:5432/b")
    assert no_url.stdout.split()[-1] == "django.db.backends.sqlite3"
    assert with_url.stdout.split()[-1] == "django.db.backends.postgresql"


def test_postgresql_connections_do_not_jit_compile():
    """A JIT compilation cost 180 ms on a 10 ms query of the customer page."""
    code = (
        "import balansia.settings as s;"
        "print(s.DATABASES['default'].get('OPTIONS', {}).get('options', '-'))"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(SECRET_KEY="x" * 50, DATABASE_URL="postgres://u@127.0.0.1:5432/b")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip() == "-c jit=off", result.stderr


SQLITE_READ_AND_WRITE = """
import os, sqlite3
import django
django.setup()
from django.db import connection, transaction
connection.settings_dict["OPTIONS"]["timeout"] = 2
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0])
    cursor.execute("CREATE TABLE t (n integer)")
    cursor.executemany("INSERT INTO t VALUES (%s)", [(n,) for n in range(1000)])
reader = sqlite3.connect(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
rows = reader.execute("SELECT n FROM t")
rows.fetchone()  # a read in the middle of its statement
with transaction.atomic(), connection.cursor() as cursor:
    cursor.execute("INSERT INTO t VALUES (1000)")
print("committed")
"""


def test_a_long_read_does_not_keep_a_save_from_committing_on_sqlite(tmp_path):
    """The laptop's SQLite file is in write-ahead-log mode: a report or an
    export reading does not make a save wait (and fail after the timeout)."""
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(
        SECRET_KEY="x" * 50,
        DATABASE_URL=f"sqlite:///{tmp_path / 'register.sqlite3'}",
        DJANGO_SETTINGS_MODULE="balansia.settings",
    )
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_READ_AND_WRITE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["wal", "committed"], result.stderr


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_a_malformed_boolean_is_refused(value):
    result = load_settings(SECRET_KEY="x" * 50, DEBUG=value)
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


def test_argon2_hashes_passwords_and_short_ones_are_refused(settings):
    # Production's hashers, not the tests' cheaper Argon2 (tests/hashers.py).
    settings.PASSWORD_HASHERS = production_settings.PASSWORD_HASHERS
    hashed = make_password("kurssi-kevät-2027")
    assert hashed.startswith("argon2$")
    assert type(identify_hasher(hashed)) is Argon2PasswordHasher
    assert not Argon2PasswordHasher().must_update(hashed)  # at Django's own cost
    with pytest.raises(ValidationError):
        validate_password("Lyhyt-123")

"""Settings for the Balansia customer register.

Everything that differs between a laptop and production comes from the
environment; `.env.example` lists every variable and the README explains them.
With DEBUG off (the default) the settings are those of production.
"""

import hashlib
import json
import os
import unicodedata
from datetime import date, timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage
from django.utils.translation import gettext_lazy as _
from django_countries.data import COUNTRIES

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    """A string setting; an empty value counts as unset (as in a copied .env.example)."""
    return os.environ.get(name) or default


def envbool(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def envint(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def envmonths(name, default):
    """A period in months: at least 1 (0 or less would reach the present or the
    future: every customer due for erasure, every log value due to go), at most
    1200 (the dates counted back from it stay in the calendar)."""
    value = envint(name, default)
    if not 1 <= value <= 1200:
        raise ImproperlyConfigured(
            f"{name} must be at least 1 and at most 1200 (months), not {value}."
        )
    return value


def envlist(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


#: The EU and EEA (Iceland, Liechtenstein, Norway) by ISO 3166-1 code, with the
#: parts of EU states that ISO codes apart (Åland, the French outermost regions).
#: A transfer elsewhere needs a safeguard (GDPR chapter V).
EU_EEA_COUNTRIES = frozenset(
    {
        *("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"),
        *("IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"),
        *("IS", "LI", "NO"),
        *("AX", "GF", "GP", "MF", "MQ", "RE", "YT"),
    }
)


def envprocessors(name):
    """The processors of the register: a JSON list of objects with name, purpose,
    country (ISO code) and, for a country outside the EU/EEA, the safeguard of
    the transfer. The privacy notice shows the values, so anything else stops
    the start with the reason (README, "Processors")."""
    keys, longest = ("name", "purpose", "country", "safeguard"), 300
    value = env(name, "[]")

    def refuse(problem):
        raise ImproperlyConfigured(
            f"{name}: {problem} Expected a JSON list such as "
            '[{"name": "Esimerkki Hosting Oy", "purpose": "server and database", '
            '"country": "FI"}, {"name": "Example Inc.", "purpose": "newsletter", '
            '"country": "US", "safeguard": "EU-US Data Privacy Framework"}] (README, Processors).'
        ) from None

    try:
        processors = json.loads(value)
    except (ValueError, RecursionError) as error:
        refuse(
            f"not valid JSON ({error}). In a file that make reads (.env), write it "
            "without quotes around it."
        )
    if not isinstance(processors, list):
        refuse("not a list.")
    cleaned = []
    for number, processor in enumerate(processors, start=1):
        if not isinstance(processor, dict):
            refuse(f"processor {number} is not an object.")
        if unknown := sorted(set(processor) - set(keys)):
            refuse(f"processor {number} has unknown keys {unknown}.")
        texts = {}
        for key in keys:
            text = processor.get(key, "")
            if not isinstance(text, str):
                refuse(f"the {key} of processor {number} is not text.")
            text = text.strip()
            # Control and format characters (a NUL, a line break, a right-to-left
            # override) have no place in a line of the notice.
            if len(text) > longest or any(unicodedata.category(c)[0] == "C" for c in text):
                refuse(
                    f"the {key} of processor {number} is longer than {longest} characters "
                    "or holds control characters."
                )
            texts[key] = text
        for key in ("name", "purpose", "country"):
            if not texts[key]:
                refuse(f"processor {number} has no {key}.")
        texts["country"] = texts["country"].upper()
        if texts["country"] not in COUNTRIES:
            refuse(f"the country of processor {number} is not an ISO 3166-1 code (FI, DE, US).")
        if texts["country"] not in EU_EEA_COUNTRIES and not texts["safeguard"]:
            refuse(
                f"processor {number} is outside the EU/EEA ({texts['country']}) and has no "
                "safeguard for the transfer (e.g. the EU-US Data Privacy Framework, or the "
                "EU standard contractual clauses)."
            )
        cleaned.append(texts)
    return cleaned


VAR_DIR = Path(env("VAR_DIR", BASE_DIR / "var"))

DEBUG = envbool("DEBUG", False)

SECRET_KEY = env("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off it is required: generate one with "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(50))'` and put it "
            "in the environment (see .env.example)."
        )
    # Only for a developer's own machine: DEBUG is on, nothing here is production.
    SECRET_KEY = "django-insecure-development-only-key-never-used-with-debug-off"  # noqa: S105

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # WhiteNoise serves static files in runserver too, as it will in production.
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "phonenumber_field",
    "django_countries",
    "crispy_bootstrap5",
    "balansia.apps.AxesConfig",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # Django 6's tasks framework (backported) and its database backend: long
    # work (imports, whole-register exports) runs in `manage.py db_worker`.
    "django_tasks",
    "django_tasks_db",
    "registry",
    "courses",
    # Benchmarks and demo data (management commands only; no models, no URLs).
    "balansia.devtools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Inside SessionMiddleware: it marks the session for saving on the way out.
    "registry.accounts.middleware.SessionTouchMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "balansia.middleware.NoStoreForUsersMiddleware",
    # After the headers' middleware (its 400 gets no-store and X-Frame-Options)
    # and the CSRF cookie's (no new token that would break forms in other tabs).
    "balansia.middleware.RefuseNulMiddleware",
    # The second factor before anything else, the forced password change included.
    "registry.accounts.middleware.TwoFactorMiddleware",
    "registry.accounts.middleware.PasswordChangeRequiredMiddleware",
    # Axes wants to be last so that it sees the outcome of the login view.
    "axes.middleware.AxesMiddleware",
]

# Only the benchmark changes this (balansia.devtools.stock_admin mounts a stock
# admin beside ours).
ROOT_URLCONF = env("ROOT_URLCONF", "balansia.urls")
WSGI_APPLICATION = "balansia.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "balansia.context_processors.register",
                "balansia.context_processors.menu",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# Default: an embedded SQLite file under var/, so that `make run` needs nothing.
# Production: DATABASE_URL=postgres://user:password@host:5432/balansia
DATABASE_URL = env("DATABASE_URL", "")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'balansia.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Take SQLite's write lock when a transaction begins, so that two enrolments
    # for the last place cannot both read "one left" (PostgreSQL locks the row).
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20
    # Write-ahead logging: a long read (a report, an export) does not keep a
    # save from committing, and a save does not stop the readers.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL;"
    # The customer name index carries the search text for PostgreSQL's
    # index-only scans (INCLUDE); SQLite makes the index without it, which is
    # all a laptop's register needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # No JIT compilation: it pays off for long analytical queries, but here it
    # compiled the customer page's course picker, whose estimated cost passed
    # jit_above_cost, for 180 ms to run a 10 ms query (docs/benchmarks.md).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# No state in the app process: the cache lives in the database, like sessions
# and axes lockouts, so any number of gunicorn hosts can serve one database.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "balansia_cache",
        # Django's default of 300 rows culls the lowest keys first when full
        # (the course form's double-post keys among them).
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    }
}

# --- Authentication -------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's ModelBackend that also refuses an account whose logins are locked.
    "registry.accounts.lock.AccountLockBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    # What a guesser tries next: repeats, runs, our own names, the user name.
    {"NAME": "registry.accounts.password_validation.RepeatedCharactersValidator"},
    {"NAME": "registry.accounts.password_validation.SequenceValidator"},
    {"NAME": "registry.accounts.password_validation.ForbiddenWordsValidator"},
    {"NAME": "registry.accounts.password_validation.UserNameInPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Sessions live in the database; they end after SESSION_IDLE_MINUTES without a
# request, and when the browser closes.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = envint("SESSION_IDLE_MINUTES", 30) * 60
# Saved when used, at most once a minute (registry.accounts.middleware.SessionTouchMiddleware).
SESSION_SAVE_EVERY_REQUEST = False
SESSION_TOUCH_SECONDS = 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# Flash messages may name customers ("call these 3: ... 040 ..."): kept in the
# session, in the database, not in Django's default cookie (signed, but
# readable by anyone holding the browser).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Two-factor authentication (django-otp, TOTP) ---------------------------
# Register managers must use it; with this on, every user must.
OTP_REQUIRED_FOR_ALL = envbool("OTP_REQUIRED_FOR_ALL", False)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Balansia asiakasrekisteri")
# Each wrong code doubles the wait before the next attempt (1, 2, 4, 8 s ...).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# Admin never shows the key (or QR code) of an authenticator or the backup codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# Erasure, bulk exports, access changes and a new authenticator ask for the
# password again when the last authentication is older than this.
REAUTH_MINUTES = envint("REAUTH_MINUTES", 10)

# --- Login throttling (django-axes) ---------------------------------------
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15))
# Lock per client address, and per user name with the same browser, so that one
# attacker cannot lock out everybody behind an office NAT by guessing names.
AXES_LOCKOUT_PARAMETERS = ["ip_address", ["username", "user_agent"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# django-axes keeps the POST of a failed password check; every field that may
# hold a password, a code or a confirmation is masked there (a test holds this
# list equal to the password fields of every form of the project).
AXES_SENSITIVE_PARAMETERS = [
    "username",
    "ip_address",
    "old_password",
    "new_password1",
    "new_password2",
    "password1",
    "password2",
    "token",
    "confirmation",
    "csrfmiddlewaretoken",
]
AXES_LOCKOUT_CALLABLE = "registry.accounts.lock.lockout_response"
AXES_CLIENT_IP_CALLABLE = "registry.audit.services.client_ip"
# Against guessing from many addresses: this many failed password checks of one
# account within the window, from anywhere, lock the account's password logins
# until a register manager lifts the lock in admin (registry.accounts.lock).
ACCOUNT_LOCK_FAILURES = envint("ACCOUNT_LOCK_FAILURES", 20)
ACCOUNT_LOCK_WINDOW_MINUTES = envint("ACCOUNT_LOCK_WINDOW_MINUTES", 60)
# Behind a TLS proxy, the request.META key that holds the client's address as
# the proxy saw it, e.g. HTTP_X_REAL_IP or HTTP_X_FORWARDED_FOR. Empty: REMOTE_ADDR.
CLIENT_IP_HEADER = env("CLIENT_IP_HEADER", "")

# --- Security -------------------------------------------------------------
if envbool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# The preload directive only permits submitting the domain to browsers' HSTS lists.
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "balansia.views.csrf_failure"

# Only our own origin: Bootstrap is vendored under static/, there is no inline
# script, and nothing may frame the register.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# --- Internationalisation -------------------------------------------------
LANGUAGE_CODE = "fi"
LANGUAGES = [("fi", _("Finnish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date and time format per language (balansia/formats/<language>/formats.py).
FORMAT_MODULE_PATH = ["balansia.formats"]
TIME_ZONE = env("TIME_ZONE", "Europe/Helsinki")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", VAR_DIR / "static"))
# The manifest of hashed names is written here, outside STATIC_ROOT, so that
# WhiteNoise does not serve a list of every static file.
STATIC_MANIFEST_DIR = Path(env("STATIC_MANIFEST_DIR", VAR_DIR / "static-manifest"))
# Production serves hashed, compressed copies made by `collectstatic`. The
# tests and `make run` serve straight from static/ (STATIC_FROM_SOURCE=true).
STATIC_FROM_SOURCE = envbool("STATIC_FROM_SOURCE", DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": (
        {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
        if STATIC_FROM_SOURCE
        else {
            "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage",
            "OPTIONS": {"manifest_storage": FileSystemStorage(location=STATIC_MANIFEST_DIR)},
        }
    ),
}
WHITENOISE_USE_FINDERS = STATIC_FROM_SOURCE
WHITENOISE_AUTOREFRESH = STATIC_FROM_SOURCE

# Phone numbers are stored as E.164; numbers typed without a country code are Finnish.
PHONENUMBER_DEFAULT_REGION = "FI"
PHONENUMBER_DB_FORMAT = "E164"
COUNTRIES_FIRST = ["FI", "SE", "NO", "EE"]

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- The controller, for the privacy notice --------------------------------
# Real names and numbers go into the environment of the server, never into
# this repository. The defaults are obviously fictional.
REGISTER_CONTROLLER = {
    "name": env("CONTROLLER_NAME", "Viva Balansia Oy"),
    "street": env("CONTROLLER_STREET", "Esimerkkikatu 1"),
    "postal_code": env("CONTROLLER_POSTAL_CODE", "80100"),
    "city": env("CONTROLLER_CITY", "Joensuu"),
    "business_id": env("CONTROLLER_BUSINESS_ID", "0000000-0"),
    "email": env("CONTROLLER_EMAIL", "info@example.invalid"),
}
REGISTER_CONTACT_PERSON = {
    "name": env("REGISTER_CONTACT_NAME", "Rekisterivastaava (nimi asetuksissa)"),
    "phone": env("REGISTER_CONTACT_PHONE", "+358 40 000 0000"),
    "email": env("REGISTER_CONTACT_EMAIL", "tietosuoja@example.invalid"),
}
# Who processes the register's data on the controller's behalf (hosting, mail
# relay, off-site backups, newsletter service), for the privacy notice and the
# record of processing; `check --deploy` warns while it is empty.
REGISTER_PROCESSORS = envprocessors("REGISTER_PROCESSORS")
try:
    PRIVACY_NOTICE_UPDATED = date.fromisoformat(env("PRIVACY_NOTICE_UPDATED", "2026-11-25"))
except ValueError:
    raise ImproperlyConfigured("PRIVACY_NOTICE_UPDATED must be a date: YYYY-MM-DD.") from None

# --- Data subject rights ---------------------------------------------------
# Customers with no activity (no change, consent event or enrolment) for this
# many months are listed for review and erasure (manage.py retention).
RETENTION_MONTHS = envmonths("RETENTION_MONTHS", 36)
# The audit trail keeps who did what for as long as the register exists, but
# the values that may name someone it does not need to (search words, user
# names typed at the login, staff addresses) only this many months; django-axes'
# login records go after as long (manage.py prune_logs).
AUDIT_KEEP_MONTHS = envmonths("AUDIT_KEEP_MONTHS", 24)
# Erased customer ids are also appended here, outside the database, so that a
# restore of an older backup can erase them again. Keep it beside the backups.
ERASURE_JOURNAL_PATH = Path(env("ERASURE_JOURNAL_PATH", VAR_DIR / "erasure-journal.jsonl"))
# Every objection and withdrawn consent of the ledger is also appended here,
# so that a restore of an older backup records it again (registry.marketing.
# journal). Keep it beside the backups and the erasure journal.
MARKETING_JOURNAL_PATH = Path(env("MARKETING_JOURNAL_PATH", VAR_DIR / "marketing-journal.jsonl"))
# The key of the suppression list (keyed hashes of the addresses of erased
# customers who had objected or withdrawn; registry.suppression). Set it on
# its own: derived from SECRET_KEY by default, so rotating SECRET_KEY would
# make every kept hash unrecognisable. `check --deploy` warns while it is unset.
SUPPRESSION_KEY_SET = bool(env("SUPPRESSION_KEY", ""))
SUPPRESSION_KEY = (
    env("SUPPRESSION_KEY", "")
    or hashlib.sha256(b"balansia.suppression:" + SECRET_KEY.encode()).hexdigest()
)

# --- Import of customers from files ----------------------------------------
# Largest file accepted, in bytes, and most data rows in one import.
IMPORT_MAX_BYTES = envint("IMPORT_MAX_BYTES", 20 * 1024 * 1024)
IMPORT_MAX_ROWS = envint("IMPORT_MAX_ROWS", 50_000)
# An import can be undone for this many days, if its customers are unchanged.
# The rejected rows stay downloadable for as long; then they are discarded.
IMPORT_UNDO_DAYS = envint("IMPORT_UNDO_DAYS", 14)
# An uploaded file that is neither imported nor cancelled is discarded after this.
IMPORT_PENDING_HOURS = envint("IMPORT_PENDING_HOURS", 24)

# --- Background tasks ------------------------------------------------------
# Tasks wait in the database (django-tasks-db) until `manage.py db_worker`
# takes them; any number of workers on any hosts share one database, and each
# task runs once (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED).
TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}
# A running task that has not reported progress for this many seconds is
# taken as dead (its worker was killed): the page says "failed, try again".
TASK_STALE_SECONDS = envint("TASK_STALE_SECONDS", 180)
# A finished export waits this long for its one download, then is deleted.
EXPORT_DIR = Path(env("EXPORT_DIR", VAR_DIR / "exports"))
EXPORT_KEEP_MINUTES = envint("EXPORT_KEEP_MINUTES", 60)
# A marketing list or audit trail export of more rows than this is written by
# the task worker (like the whole register); up to it, it is sent at once.
EXPORT_INLINE_MAX_ROWS = envint("EXPORT_INLINE_MAX_ROWS", 5000)

# --- Messages to customers (courses.messages) -------------------------------
# The company's mail server. Without EMAIL_HOST (a laptop) every message is
# written as an .eml file under var/mail/ instead of being sent.
EMAIL_HOST = env("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS or EMAIL_USE_SSL, not both.")
EMAIL_FILE_PATH = Path(env("EMAIL_FILE_PATH", VAR_DIR / "mail"))
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "courses.mail.EmlFileBackend"
)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", REGISTER_CONTROLLER["email"])
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where customers' replies go (Reply-To).
MESSAGE_REPLY_TO = env("MESSAGE_REPLY_TO", REGISTER_CONTROLLER["email"])
# The company's phone number in the messages ("call us if you cannot come").
MESSAGE_PHONE = env("MESSAGE_PHONE", REGISTER_CONTACT_PERSON["phone"])
# The reminder goes this many days before a course's first session.
REMINDER_DAYS = envint("REMINDER_DAYS", 2)
# Message texts are deleted this many days after they were written (the
# record of what was sent, to whom and when stays).
MESSAGE_BODY_DAYS = envint("MESSAGE_BODY_DAYS", 90)
# Sending is tried this many times, waiting longer each time (1, 2, 4, 8 ...
# times MESSAGE_RETRY_SECONDS), before the message is marked failed.
MESSAGE_SEND_ATTEMPTS = envint("MESSAGE_SEND_ATTEMPTS", 5)
MESSAGE_RETRY_SECONDS = envint("MESSAGE_RETRY_SECONDS", 60)

# --- Backups ---------------------------------------------------------------
BACKUP_DIR = Path(env("BACKUP_DIR", VAR_DIR / "backups"))
# A Fernet key (generate: manage.py backup --generate-key). Without it no
# backup is written: never in clear.
BACKUP_ENCRYPTION_KEY = env("BACKUP_ENCRYPTION_KEY", "")
BACKUP_KEEP_DAILY = envint("BACKUP_KEEP_DAILY", 7)
BACKUP_KEEP_MONTHLY = envint("BACKUP_KEEP_MONTHLY", 12)

# --- Monitoring ------------------------------------------------------------
# The register manager's dashboard warns when one user views or exports more
# customer records than this within an hour.
UNUSUAL_ACTIVITY_PER_HOUR = envint("UNUSUAL_ACTIVITY_PER_HOUR", 200)
# Accounts with no login for this many days are shown as dormant in the access
# review, and `manage.py deactivate_dormant_users` deactivates them.
DORMANT_DAYS = envint("DORMANT_DAYS", 90)

# The first register manager that `make run` creates when there is no user.
INITIAL_ADMIN_USERNAME = env("BALANSIA_ADMIN_USERNAME", "admin")

# --- Logging --------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        # Axes logs user names and addresses at INFO; keep them in the audit trail only.
        "axes": {"level": "WARNING"},
        # fpdf2's font subsetting lists every glyph of each access report at INFO.
        "fontTools": {"level": "WARNING"},
    },
}

"""manage.py prune_logs: what the logs keep only AUDIT_KEEP_MONTHS.

The audit trail's events stay (who, when, what, to what, how many); the search
words, the user names typed at the login and the addresses of older events go,
and so do django-axes' older login records, its attempts past their lockout and
the sessions that ended.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.db.models import F, QuerySet
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from courses.models import Course
from courses.models import Session as CourseSession
from courses.services import session_cancel
from registry import backups
from registry.audit.models import AuditEvent
from registry.audit.retention import TYPED_VALUES
from registry.audit.services import audit_event_create, customer_viewed
from registry.erasure import ERASED
from registry.forms import CustomerFilterForm
from registry.reports.health import GREEN, RED, health
from registry.reports.processing import processing_record_markdown
from registry.rights.models import add_months
from registry.rights.selectors import access_report

from .factories import CourseFactory, CustomerFactory
from .restores import restore
from .test_settings import load_settings

pytestmark = pytest.mark.django_db

#: Older than the default AUDIT_KEEP_MONTHS (24).
LONG_AGO = timedelta(days=800)


def age(queryset, by=LONG_AGO):
    """Move events back in time (the trail refuses updates; go around it)."""
    for event in queryset:
        QuerySet.update(AuditEvent.objects.filter(pk=event.pk), at=event.at - by)


def log_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def searched(query, **detail):
    return audit_event_create(
        action=AuditEvent.Action.CUSTOMER_SEARCHED,
        ip_address="192.0.2.7",
        detail={"query": query, "results": 3, "rows": 3, **detail},
    )


def pruned_event():
    return AuditEvent.objects.get(action=AuditEvent.Action.LOGS_PRUNED)


def test_old_search_words_user_names_and_addresses_go_and_the_events_stay(
    client, staff_member, password
):
    customer = CustomerFactory(first_name="Iida", last_name="Ikivanha")
    log_in(client, "toimisto", "väärä-salasana-123")
    log_in(client, "toimisto-typo", "salasana-ehkä")
    log_in(client, "toimisto", password)
    client.get(reverse("registry:customer-list"), {"q": "Eskola Matti"})
    client.get(reverse("registry:customer-detail", args=[customer.pk]))
    age(AuditEvent.objects.all())
    recent = searched("Tuore Haku")

    call_command("prune_logs", verbosity=0)

    search = AuditEvent.objects.get(action="customer_searched", at__lt=recent.at)
    assert search.detail["query"] == ERASED
    assert search.detail["results"] == 0 and "rows" in search.detail
    assert search.detail["scrubbed_at"]
    assert search.actor == staff_member and search.actor_role == "staff"
    failed = AuditEvent.objects.filter(action="login_failed").order_by("at", "id")
    assert [event.detail["username"] for event in failed] == [ERASED, ERASED]
    assert failed[0].target_id == str(staff_member.pk)
    old = AuditEvent.objects.exclude(pk=recent.pk).exclude(action="logs_pruned")
    assert old.count() == 5
    assert not old.filter(ip_address__isnull=False).exists()
    assert all(event.detail.get("scrubbed_at") for event in old)
    # The events the access report and the access review read are all there.
    assert [row["action"] for row in access_report(customer)["processing"]] == ["customer_viewed"]
    recent.refresh_from_db()
    assert recent.detail == {"query": "Tuore Haku", "results": 3, "rows": 3}
    assert recent.ip_address == "192.0.2.7"


def test_the_audit_trail_shows_what_was_removed(client, register_manager):
    searched("Eskola Matti")
    age(AuditEvent.objects.all())
    call_command("prune_logs", verbosity=0)
    client.force_login(register_manager)
    body = client.get(reverse("registry:audit-trail")).content.decode()
    assert "Eskola" not in body and "192.0.2.7" not in body
    assert "[poistettu]" in body


def test_an_erasure_s_mark_is_kept():
    erased_at = "2024-01-05T10:00:00+00:00"
    event = searched(f"{ERASED} Matti", scrubbed_at=erased_at)
    age([event])
    call_command("prune_logs", verbosity=0)
    event.refresh_from_db()
    assert event.detail["query"] == ERASED
    assert event.detail["scrubbed_at"] == erased_at
    assert event.ip_address is None


def test_the_run_records_its_counts_and_a_second_run_finds_nothing(client, staff_member, password):
    searched("Eskola Matti")
    searched("")  # the list without search words: only the address goes
    audit_event_create(action=AuditEvent.Action.LOGIN_FAILED, detail={"username": "toimsto"})
    customer_viewed(customer=CustomerFactory(), by=staff_member, request=None)  # nothing to go
    age(AuditEvent.objects.all())

    call_command("prune_logs", verbosity=0)
    first = pruned_event()
    assert first.actor is None
    assert first.detail == {
        "cutoff": add_months(first.at, -24).date().isoformat(),
        "events": 3,
        "ip_addresses": 2,
        "search_words": 1,
        "user_names": 1,
        "filter_values": 0,
        "cancel_reasons": 0,
        "login_records": 0,
        "failed_login_records": 0,
        "login_attempts": 0,
        "sessions": 0,
        "session_reasons": 0,
    }
    before = list(AuditEvent.objects.values_list("id", "detail", "ip_address"))

    call_command("prune_logs", verbosity=0)
    second = AuditEvent.objects.filter(action="logs_pruned").exclude(pk=first.pk).get()
    counts = {key: value for key, value in second.detail.items() if key != "cutoff"}
    assert counts == dict.fromkeys([key for key in first.detail if key != "cutoff"], 0)
    after = AuditEvent.objects.exclude(pk=second.pk).values_list("id", "detail", "ip_address")
    assert list(after) == before


def test_the_retention_follows_the_setting(settings):
    settings.AUDIT_KEEP_MONTHS = 3
    event = searched("Eskola Matti")
    age([event], by=timedelta(days=100))
    call_command("prune_logs", verbosity=0)
    event.refresh_from_db()
    assert event.detail["query"] == ERASED


def test_the_old_values_go_in_one_update_whatever_their_number():
    for number in range(30):
        searched(f"Nimi {number}")
        audit_event_create(
            action=AuditEvent.Action.LOCKOUT, ip_address="192.0.2.9", detail={"username": "x"}
        )
    age(AuditEvent.objects.all())
    with CaptureQueriesContext(connection) as queries:
        call_command("prune_logs", verbosity=0)
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "registry_auditevent"')]
    assert len(updates) == 1
    assert not AuditEvent.objects.filter(ip_address__isnull=False, action="lockout").exists()
    assert pruned_event().detail["events"] == 60


def test_axes_login_records_go_after_as_long_and_attempts_after_their_lockout(
    client, staff_member, password
):
    log_in(client, "toimisto", "väärä-salasana-123")
    log_in(client, "toimisto", password)
    assert (AccessLog.objects.count(), AccessFailureLog.objects.count()) == (1, 1)
    AccessLog.objects.update(attempt_time=timezone.now() - LONG_AGO)
    AccessFailureLog.objects.update(attempt_time=timezone.now() - LONG_AGO)
    client.logout()
    log_in(client, "toimisto", "väärä-salasana-456")
    log_in(client, "toimisto", password)
    client.logout()
    # A fresh failure from another address: an attempt still within its lockout.
    client.post(
        reverse("login"),
        {"username": "toimisto", "password": "väärä-salasana-789"},
        REMOTE_ADDR="192.0.2.44",
    )
    AccessAttempt.objects.create(
        username="vanha",
        ip_address="192.0.2.45",
        user_agent="x",
        http_accept="*/*",
        path_info="/login/",
        get_data="",
        post_data="",
        failures_since_start=3,
    )
    AccessAttempt.objects.filter(username="vanha").update(
        attempt_time=timezone.now() - timedelta(minutes=16)
    )

    call_command("prune_logs", verbosity=0)

    assert AccessLog.objects.count() == 1 and AccessFailureLog.objects.count() == 2
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["192.0.2.44"]
    detail = pruned_event().detail
    assert (detail["login_records"], detail["failed_login_records"]) == (1, 1)
    assert detail["login_attempts"] == 1


def test_sessions_that_ended_are_cleared(client, staff_member):
    client.force_login(staff_member)
    ended = SessionStore()
    ended["anything"] = "x"
    ended.create()
    Session.objects.filter(pk=ended.session_key).update(
        expire_date=timezone.now() - timedelta(minutes=1)
    )
    call_command("prune_logs", verbosity=0)
    assert list(Session.objects.values_list("pk", flat=True)) == [client.session.session_key]
    assert pruned_event().detail["sessions"] == 1
    assert client.get(reverse("home")).status_code == 200


def test_a_dry_run_counts_and_changes_nothing(client, staff_member, password, capsys):
    log_in(client, "toimisto", "väärä-salasana-123")
    searched("Eskola Matti")
    age(AuditEvent.objects.all())
    AccessFailureLog.objects.update(attempt_time=timezone.now() - LONG_AGO)
    before = list(AuditEvent.objects.values_list("id", "detail", "ip_address"))

    call_command("prune_logs", "--dry-run")

    out = capsys.readouterr().out
    assert "Audit events: 2 would be rewritten (search words 1, typed user names 1" in out
    assert "1 failed-login records" in out and "Dry run: nothing was changed." in out
    assert list(AuditEvent.objects.values_list("id", "detail", "ip_address")) == before
    assert AccessFailureLog.objects.count() == 1
    assert not AuditEvent.objects.filter(action="logs_pruned").exists()


def list_filtered(client, **filters):
    """The customer list with its filters, as a user opens it: the event it writes."""
    client.get(reverse("registry:customer-list"), filters)
    return AuditEvent.objects.filter(action="customer_searched").latest("id")


def test_a_city_typed_in_the_list_filter_goes_and_the_choices_stay(client, staff_member):
    CustomerFactory(city="Kuusamo", source="web_registration")
    client.force_login(staff_member)
    old = list_filtered(
        client, q="Eskola", city="Kuusamo", source="web_registration", contactable="post"
    )
    only_city = list_filtered(client, city="Kuusamo")
    age([old, only_city])
    recent = list_filtered(client, city="Kuusamo")
    assert old.detail["filters"]["city"] == "Kuusamo"

    call_command("prune_logs", verbosity=0)

    old.refresh_from_db()
    assert old.detail["query"] == ERASED
    assert old.detail["filters"] == {
        "city": ERASED,
        "source": "web_registration",
        "contactable": "post",
        "page": "1",
    }
    only_city.refresh_from_db()
    assert only_city.detail["query"] == ""  # no words were typed: nothing to blank
    assert only_city.detail["filters"]["city"] == ERASED
    assert only_city.detail["scrubbed_at"] and only_city.ip_address is None
    recent.refresh_from_db()
    assert recent.detail["filters"]["city"] == "Kuusamo"
    counts = pruned_event().detail
    assert (counts["filter_values"], counts["search_words"], counts["events"]) == (2, 1, 2)


def test_a_dry_run_counts_the_typed_filter_values_and_changes_nothing(
    client, staff_member, capsys
):
    client.force_login(staff_member)
    age([list_filtered(client, city="Kuusamo")])
    before = list(AuditEvent.objects.values_list("id", "detail", "ip_address"))

    call_command("prune_logs", "--dry-run")

    out = capsys.readouterr().out
    assert "typed filter values 1," in out and "Dry run: nothing was changed." in out
    assert list(AuditEvent.objects.values_list("id", "detail", "ip_address")) == before


def test_every_typed_filter_of_the_customer_list_is_blanked():
    """The list's filters that take free text (not a choice or a number) are
    in TYPED_VALUES: a new one must be added there, or blanked some other way."""
    typed = {
        name
        for name, field in CustomerFilterForm.base_fields.items()
        if type(field) is forms.CharField and name != "q"
    }
    assert typed == {path[1] for path in TYPED_VALUES if path[0] == "filters"}


@pytest.mark.parametrize(
    "filters",
    ["Kuusamo", ["Kuusamo"], {"city": ["Kuusamo"]}, {"city": {"x": "Kuusamo"}}, {"city": 7}],
    ids=range(5),
)
def test_hostile_filters_do_not_break_it(filters):
    event = searched("Eskola", filters=filters)
    age([event])
    call_command("prune_logs", verbosity=0)
    event.refresh_from_db()
    assert event.detail["query"] == ERASED and event.ip_address is None
    if isinstance(filters, dict):
        assert event.detail["filters"] == {"city": ERASED}
    else:
        assert event.detail["filters"] == filters  # not an object: left as it was


HOSTILE_DETAILS = [
    ["a", "list", {"query": "Eskola"}],
    "just a text",
    12345,
    {"query": {"nested": "Eskola"}},
    {"query": 7},
    {"query": ["Eskola", "Matti"]},
    {"query": "Eskola " * 200_000},
    {"query": "Eskola", "scrubbed_at": {"not": "a date"}},
    {"query": "'; DROP TABLE registry_auditevent; --", "$.query": "x", '"': "y"},
]


@pytest.mark.parametrize("detail", HOSTILE_DETAILS, ids=range(len(HOSTILE_DETAILS)))
def test_hostile_details_do_not_break_it(detail):
    event = AuditEvent.objects.create(
        action=AuditEvent.Action.CUSTOMER_SEARCHED, ip_address="192.0.2.7", detail=detail
    )
    age([event])
    call_command("prune_logs", verbosity=0)
    event.refresh_from_db()
    assert event.ip_address is None
    if isinstance(detail, dict):
        assert event.detail["query"] == ERASED
        assert event.detail["scrubbed_at"]
        others = [key for key in detail if key not in ("query", "scrubbed_at")]
        assert {key: event.detail[key] for key in others} == {key: detail[key] for key in others}
    else:
        assert event.detail == detail  # not an object: left as it was
    assert pruned_event().detail["events"] == 1


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL's jsonb cannot hold a NUL at all"
)
def test_a_nul_in_the_search_words_does_not_break_it():
    event = searched("Esko\x00la")
    age([event])
    call_command("prune_logs", verbosity=0)
    event.refresh_from_db()
    assert event.detail["query"] == ERASED


def test_the_health_page_shows_when_the_logs_were_last_pruned():
    def line():
        with translation.override("en"):
            (found,) = [line for line in health() if "audit trail" in line.promise]
        return found

    assert line().status == GREEN  # nothing old enough yet
    age([searched("Eskola Matti")])
    assert line().status == RED
    assert "never" in line().evidence
    call_command("prune_logs", verbosity=0)
    assert line().status == GREEN
    assert "Logs last pruned" in line().evidence
    assert line().link == reverse("registry:audit-trail") + "?action=logs_pruned"


def test_the_notice_and_the_record_of_processing_tell_the_period(client, settings):
    settings.AUDIT_KEEP_MONTHS = 18
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    notice = client.get(reverse("privacy-notice")).content.decode()
    assert "network addresses for 18 months" in notice
    assert "IP addresses in them, and the login records, 18 months" in processing_record_markdown()


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_period_that_would_blank_the_present_is_refused(value):
    result = load_settings(SECRET_KEY="x" * 50, AUDIT_KEEP_MONTHS=value)
    assert result.returncode != 0
    assert "AUDIT_KEEP_MONTHS must be at least 1" in result.stderr


# --- The reasons typed when a session was cancelled ------------------------------


def cancelled(staff_member, reason, *, over_for):
    """A course over for `over_for` whose session was cancelled with `reason`
    (while it was coming: a course over is an archive and cannot change)."""
    course = CourseFactory()
    session = session_cancel(session=course.sessions.get(), reason=reason, by=staff_member)
    shift = course.ends_at - timezone.now() + over_for
    CourseSession.objects.filter(pk=session.pk).update(
        starts_at=F("starts_at") - shift, ends_at=F("ends_at") - shift
    )
    Course.objects.filter(pk=course.pk).update(
        starts_at=F("starts_at") - shift, ends_at=F("ends_at") - shift
    )
    age(AuditEvent.objects.filter(action=AuditEvent.Action.COURSE_CHANGED, target_id=course.pk))
    return session


def test_a_cancelled_sessions_reason_goes_after_as_long_from_the_courses_end(staff_member):
    """The reason is typed text that may name someone no erasure reaches (an
    instructor, a relative): blanked AUDIT_KEEP_MONTHS after the course
    ended, as the trail's copy of it is after the cancellation; that the
    session was cancelled, and when, stays."""
    old = cancelled(staff_member, "Ohjaaja Maija Mallikas sairastui", over_for=LONG_AGO)
    recent = cancelled(staff_member, "Sali varattu Eskolan häihin", over_for=timedelta(days=30))
    cancel_events = AuditEvent.objects.filter(action=AuditEvent.Action.COURSE_CHANGED)
    version = old.version

    call_command("prune_logs", verbosity=0)

    old.refresh_from_db()
    assert old.cancelled_reason == ERASED and old.is_cancelled and old.cancelled_at
    assert old.version == version  # no form edits the reason: nothing to refuse
    recent.refresh_from_db()
    assert recent.cancelled_reason == "Sali varattu Eskolan häihin"
    # Both events are older than AUDIT_KEEP_MONTHS (aged above): both blanked.
    assert [e.detail["reason"] for e in cancel_events] == [ERASED, ERASED]
    counts = pruned_event().detail
    assert (counts["session_reasons"], counts["cancel_reasons"]) == (1, 2)


def test_a_dry_run_counts_the_cancelled_sessions_reasons(staff_member, capsys):
    session = cancelled(staff_member, "Ohjaaja Maija Mallikas sairastui", over_for=LONG_AGO)

    call_command("prune_logs", "--dry-run")

    out = capsys.readouterr().out
    assert "reasons for cancelling a session 1," in out
    assert "Cancelled sessions' reasons, of courses over before the limit: 1 would be" in out
    assert "would be blanked" in out
    session.refresh_from_db()
    assert session.cancelled_reason == "Ohjaaja Maija Mallikas sairastui"

    call_command("prune_logs")
    assert "of courses over before the limit: 1 were blanked" in capsys.readouterr().out
    call_command("prune_logs")  # a second run finds nothing
    assert "of courses over before the limit: 0 were blanked" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backup_key")
def test_a_restore_prunes_again_what_the_backup_kept_longer_than_the_logs_keep(capsys):
    """A backup made before the last prune_logs run holds search words and
    addresses that the run blanked since: a restore brought them back until
    the next daily run (found, not fixed, on 29 November). The restore
    prunes the logs as prune_logs does, and says so."""
    old = searched("Eskola Matti")
    age([old])
    path, _ = backups.create_backup()
    call_command("prune_logs", verbosity=0)
    old.refresh_from_db()
    assert old.detail["query"] == ERASED

    out = restore(path, capsys)

    old.refresh_from_db()
    assert old.detail["query"] == ERASED and old.ip_address is None
    assert "Audit events: 1 were rewritten" in out
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGS_PRUNED).exists()

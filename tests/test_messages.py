"""The outbox (issue 20): who gets which message, and delivery over a real
SMTP server (aiosmtpd in the test process)."""

import email
import os
import subprocess
import sys
from datetime import timedelta
from email import policy
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.mail import EmailMessage
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from courses import messages as outbox
from courses.mail import EmlFileBackend
from courses.models import Enrollment, Message, MessageSettings
from courses.services import (
    course_update,
    enrollment_cancel,
    enrollment_create,
    session_cancel,
    session_update,
)
from courses.tasks import message_deliver, retry_delay, send_message
from registry.audit.models import AuditEvent
from registry.rights.documents import access_document
from registry.rights.erasure import customer_erase
from registry.rights.selectors import access_report

from . import smtp
from .factories import CourseFactory, CustomerFactory, EnrollmentFactory

BASE_DIR = Path(__file__).resolve().parent.parent

smtp_server = smtp.smtp_server  # a real SMTP server (aiosmtpd) in the test process


@pytest.fixture
def immediate_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


def _kinds(customer):
    return list(customer.messages.order_by("id").values_list("kind", flat=True))


# --- Who gets what ---------------------------------------------------------


@pytest.mark.django_db
def test_enrolment_confirmed_with_the_session_dates_in_finnish(staff_member):
    start = timezone.make_aware(timezone.datetime(2031, 3, 3, 18, 0))
    course = CourseFactory(
        title="Äijäjooga",
        sessions=[
            (start, start + timedelta(hours=1)),
            (start + timedelta(days=7), start + timedelta(days=7, hours=1)),
        ],
    )
    customer = CustomerFactory(first_name="Öljy")
    enrollment_create(customer=customer, course=course, source="office", by=staff_member)
    message = customer.messages.get()
    assert message.kind == Message.Kind.ENROLLED
    assert message.state == Message.State.QUEUED
    assert message.to == customer.email
    assert message.caused_by == staff_member
    assert message.subject == "Ilmoittautuminen vahvistettu: Äijäjooga"
    assert "Hei Öljy," in message.body
    assert "ma 3.3.2031 klo 18.00\u201319.00" in message.body
    assert "ma 10.3.2031 klo 18.00\u201319.00" in message.body
    assert django_settings.REGISTER_CONTROLLER["name"] in message.body
    event = AuditEvent.objects.get(action=AuditEvent.Action.MESSAGE_QUEUED)
    assert event.target_id == str(customer.pk)
    assert event.detail["kind"] == "enrolled"
    assert event.detail["course_id"] == course.pk
    assert "Äijäjooga" not in str(event.detail)  # never the text


@pytest.mark.django_db
def test_waiting_list_gets_its_position(staff_member):
    course = CourseFactory(capacity=1)
    EnrollmentFactory(course=course)
    first, second = CustomerFactory(), CustomerFactory()
    enrollment_create(customer=first, course=course, source="office", by=staff_member)
    enrollment_create(customer=second, course=course, source="office", by=staff_member)
    assert _kinds(second) == ["waitlisted"]
    assert "sijalla 2" in second.messages.get().body
    assert "sijalla 1" in first.messages.get().body


@pytest.mark.django_db
def test_cancel_by_staff_tells_the_cancelled_and_the_first_in_the_queue(staff_member):
    course = CourseFactory(capacity=1)
    enrolled = EnrollmentFactory(course=course)
    waiting = [CustomerFactory(), CustomerFactory()]
    for customer in waiting:
        enrollment_create(customer=customer, course=course, source="office", by=staff_member)
    enrollment_cancel(enrollment=enrolled, by=staff_member)
    assert _kinds(enrolled.customer) == ["enrollment_cancelled"]
    assert _kinds(waiting[0]) == ["waitlisted", "promoted"]
    assert _kinds(waiting[1]) == ["waitlisted"]  # still waiting: nothing new
    promoted = waiting[0].messages.get(kind="promoted")
    assert promoted.subject.startswith("Vapautunut paikka")
    assert "soitathan meille" in promoted.body


@pytest.mark.django_db
def test_session_moved_and_cancelled_reach_only_those_with_a_place(staff_member):
    start = timezone.make_aware(timezone.datetime(2031, 3, 3, 18, 0))
    course = CourseFactory(
        capacity=1, location="Sali 1", sessions=[(start, start + timedelta(hours=1))]
    )
    participant = EnrollmentFactory(course=course).customer
    cancelled = EnrollmentFactory(course=course, status="cancelled").customer
    waiting = EnrollmentFactory(course=course, status="waitlisted").customer
    session = course.sessions.get()
    new_start = session.starts_at + timedelta(days=1)
    session_update(
        session=session,
        data={
            "starts_at": new_start,
            "ends_at": new_start + timedelta(hours=2),
            "location": "Sali 2",
        },
        by=staff_member,
    )
    session.refresh_from_db()
    session_cancel(session=session, reason="Ohjaaja sairastui", by=staff_member)
    assert _kinds(participant) == ["session_moved", "session_cancelled"]
    assert _kinds(cancelled) == []
    assert _kinds(waiting) == []
    moved = participant.messages.get(kind="session_moved")
    assert "Ennen: ma 3.3.2031 klo 18.00\u201319.00, Sali 1" in moved.body
    assert "Nyt:   ti 4.3.2031 klo 18.00\u201320.00, Sali 2" in moved.body
    assert "Ohjaaja sairastui" in participant.messages.get(kind="session_cancelled").body


@pytest.mark.django_db
def test_course_cancelled_tells_participants_and_waiting_list_not_the_cancelled(staff_member):
    course = CourseFactory(capacity=1)
    participant = EnrollmentFactory(course=course).customer
    waiting = EnrollmentFactory(course=course, status="waitlisted").customer
    cancelled = EnrollmentFactory(course=course, status="cancelled").customer
    EnrollmentFactory(course=course, customer=None)  # an erased customer's place
    course_update(course=course, data={"is_cancelled": True, "capacity": 2}, by=staff_member)
    assert Message.objects.count() == 2
    assert _kinds(participant) == ["course_cancelled"]
    assert _kinds(waiting) == ["course_cancelled"]
    assert _kinds(cancelled) == []
    assert participant.messages.get().subject.startswith("Peruutusilmoitus")


@pytest.mark.django_db
def test_a_switched_off_kind_is_not_written(staff_member):
    MessageSettings.objects.update_or_create(pk=1, defaults={"enrolled": False})
    customer = CustomerFactory()
    enrollment_create(customer=customer, course=CourseFactory(), source="office", by=staff_member)
    assert _kinds(customer) == []


@pytest.mark.django_db
def test_no_email_address_is_listed_to_call_never_sent(staff_member):
    customer = CustomerFactory(email="")
    enrollment_create(customer=customer, course=CourseFactory(), source="office", by=staff_member)
    message = customer.messages.get()
    assert message.state == Message.State.NO_ADDRESS
    assert list(Message.objects.to_call()) == [message]
    assert message_deliver(message.pk) is None
    message.refresh_from_db()
    assert message.state == Message.State.NO_ADDRESS
    assert message.attempts == 0


@pytest.mark.django_db
def test_reminders_go_once_to_those_with_a_place(settings):
    settings.REMINDER_DAYS = 2
    soon = CourseFactory(starts_at=timezone.now() + timedelta(days=1))
    later = CourseFactory(starts_at=timezone.now() + timedelta(days=5))
    participant = EnrollmentFactory(course=soon).customer
    waiting = EnrollmentFactory(course=soon, status="waitlisted").customer
    not_yet = EnrollmentFactory(course=later).customer
    call_command("send_reminders")
    call_command("send_reminders")  # the cron again: never twice
    assert _kinds(participant) == ["reminder"]
    assert _kinds(waiting) == []
    assert _kinds(not_yet) == []
    assert participant.messages.get().subject.startswith("Muistutus:")


@pytest.mark.django_db
def test_bodies_are_deleted_after_the_retention_and_metadata_kept(settings, staff_member):
    settings.MESSAGE_BODY_DAYS = 90
    customer = CustomerFactory()
    enrollment_create(customer=customer, course=CourseFactory(), source="office", by=staff_member)
    old = customer.messages.get()
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    new = outbox.message_create(customer=customer, kind="reminder", course=old.course, sessions=[])
    call_command("purge_message_bodies")
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.body == ""
    assert old.body_deleted_at is not None
    assert (old.kind, old.to, old.subject) == ("enrolled", customer.email, old.subject)
    assert new.body


@pytest.mark.django_db
def test_mail_written_to_files_is_deleted_after_the_retention(settings, tmp_path):
    """Without a mail server each message is an .eml file on the server: it
    holds what the text holds and goes when the text would."""
    settings.MESSAGE_BODY_DAYS = 90
    settings.EMAIL_FILE_PATH = tmp_path
    EmlFileBackend().send_messages([EmailMessage("Muistutus", "Hei Aino,", to=["a@example.fi"])])
    (old,) = tmp_path.glob("*.eml")
    EmlFileBackend().send_messages([EmailMessage("Muistutus", "Hei Eino,", to=["e@example.fi"])])
    (new,) = set(tmp_path.glob("*.eml")) - {old}
    long_ago = (timezone.now() - timedelta(days=91)).timestamp()
    os.utime(old, (long_ago, long_ago))
    other = tmp_path / "notes.txt"
    other.write_text("not mail")
    os.utime(other, (long_ago, long_ago))
    out = StringIO()
    call_command("purge_message_bodies", stdout=out)
    assert not old.exists()
    assert new.exists()
    assert other.exists()  # only mail files
    assert "1 mail files deleted" in out.getvalue()


@pytest.mark.django_db
def test_erasure_deletes_the_messages_and_the_access_report_lists_them(
    register_manager, staff_member
):
    customer = CustomerFactory()
    enrollment_create(customer=customer, course=CourseFactory(), source="office", by=staff_member)
    report = access_report(customer)
    assert [m["kind"] for m in report["messages"]] == ["enrolled"]
    document = access_document(report, "fi")
    section = next(s for s in document.sections if s.title == "Sinulle lähetetyt viestit")
    assert section.rows[0][1] == "Ilmoittautuminen vahvistettu"
    customer_erase(customer=customer, by=register_manager)
    assert not Message.objects.exists()


# --- Delivery over SMTP ----------------------------------------------------


@pytest.mark.django_db
def test_delivered_over_smtp_with_finnish_letters_and_headers(smtp_server, staff_member):
    course = CourseFactory(title="Äänijooga öisin")
    customer = CustomerFactory(first_name="Äystö")
    other = CustomerFactory()
    enrollment_create(customer=customer, course=course, source="office", by=staff_member)
    message = customer.messages.get()
    assert message_deliver(message.pk) is None
    message.refresh_from_db()
    assert message.state == Message.State.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
    [(recipients, mail)] = smtp_server.emails()
    assert recipients == [customer.email]
    assert other.email not in str(mail)
    # Python folds an encoded subject onto a line of its own: unfolded, the same.
    assert mail["Subject"].strip() == "Ilmoittautuminen vahvistettu: Äänijooga öisin"
    assert mail["To"] == customer.email
    assert mail["From"] == "Viva Balansia <kurssit@example.invalid>"
    assert mail["Reply-To"] == "info@example.invalid"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "text/plain"
    assert "Hei Äystö," in mail.get_content()
    # Nothing to track the reader: no HTML, no images, no links rewritten.
    assert "<img" not in mail.as_string()


@pytest.mark.django_db
def test_a_staff_message_is_not_marked_automatic(smtp_server, staff_member):
    course = CourseFactory()
    participants = [EnrollmentFactory(course=course).customer for _ in range(2)]
    EnrollmentFactory(course=course, status="cancelled")
    EnrollmentFactory(course=course, status="waitlisted")
    written = outbox.staff_message_create(
        course=course,
        audience="participants",
        subject="Sali vaihtui",
        text="Olemme salissa 2 <b>tänään</b>.",
        by=staff_member,
    )
    for message in written:
        message_deliver(message.pk)
    mails = smtp_server.emails()
    assert sorted(r for recipients, _mail in mails for r in recipients) == sorted(
        c.email for c in participants
    )
    mail = mails[0][1]
    assert mail["Subject"] == "Sali vaihtui"
    assert mail["Auto-Submitted"] is None
    assert "Olemme salissa 2 <b>tänään</b>." in mail.get_content()


@pytest.mark.django_db
def test_a_refusing_server_means_retries_with_growing_waits_then_failed(
    smtp_server, settings, staff_member
):
    settings.MESSAGE_SEND_ATTEMPTS = 3
    smtp_server.refuse = True
    customer = CustomerFactory()
    enrollment_create(customer=customer, course=CourseFactory(), source="office", by=staff_member)
    message = customer.messages.get()
    before = timezone.now()
    send_message.call(message.pk)  # the task, as the worker runs it
    message.refresh_from_db()
    assert (message.state, message.attempts) == (Message.State.QUEUED, 1)
    assert "Relaying denied" in message.error
    retry = DBTaskResult.objects.get(args_kwargs__args=[message.pk])
    assert retry.run_after >= before + retry_delay(1)
    assert retry_delay(1) < retry_delay(2) < retry_delay(3)
    assert message_deliver(message.pk) == retry_delay(2)
    assert message_deliver(message.pk) is None
    message.refresh_from_db()
    assert (message.state, message.attempts) == (Message.State.FAILED, 3)
    assert smtp_server.emails() == []
    # Sent again from the outbox, to a server that now accepts it.
    smtp_server.refuse = False
    outbox.message_resend(message=message, by=staff_member)
    message.refresh_from_db()
    assert (message.state, message.attempts) == (Message.State.QUEUED, 0)
    message_deliver(message.pk)
    message.refresh_from_db()
    assert message.state == Message.State.SENT
    assert AuditEvent.objects.filter(action=AuditEvent.Action.MESSAGE_RESENT).count() == 1


@pytest.mark.django_db
def test_sent_after_commit_by_the_task(
    smtp_server, immediate_tasks, staff_member, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        enrollment_create(
            customer=customer, course=CourseFactory(), source="office", by=staff_member
        )
        assert smtp_server.emails() == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    assert customer.messages.get().state == Message.State.SENT
    assert len(smtp_server.emails()) == 1


@pytest.mark.django_db
def test_without_a_mail_server_messages_are_eml_files(settings, tmp_path, staff_member):
    settings.EMAIL_BACKEND = "courses.mail.EmlFileBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    customer = CustomerFactory()
    enrollment_create(
        customer=customer,
        course=CourseFactory(title="Tähtijooga"),
        source="office",
        by=staff_member,
    )
    message_deliver(customer.messages.get().pk)
    [eml] = (tmp_path / "mail").glob("*.eml")
    mail = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert mail["Subject"].strip() == "Ilmoittautuminen vahvistettu: Tähtijooga"


@pytest.mark.skipif(
    "sqlite" in django_settings.DATABASES["default"]["ENGINE"],
    reason="the worker process needs a database it can reach (SQLite tests run in memory)",
)
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_sends_the_queue(smtp_server, staff_member):
    customers = [CustomerFactory(), CustomerFactory(email="")]
    course = CourseFactory()
    for customer in customers:
        enrollment_create(customer=customer, course=course, source="office", by=staff_member)
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "DEFAULT_FROM_EMAIL": "kurssit@example.invalid",
    }
    subprocess.run(
        [sys.executable, "manage.py", "db_worker", "--batch", "--no-startup-delay"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    assert customers[0].messages.get().state == Message.State.SENT
    assert customers[1].messages.get().state == Message.State.NO_ADDRESS
    [(recipients, _mail)] = smtp_server.emails()
    assert recipients == [customers[0].email]
    assert Enrollment.objects.count() == 2

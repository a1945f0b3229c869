"""Erasure on the courses' side (the audit of 2026-12, h2): after it, her
name is found nowhere (JOURNEYS step 8) and her place on a coming course
goes to the next in line. The reasons typed when a session is cancelled, the
messages kept for other customers, the audit events of courses and the
mail files written without a mail server are scrubbed; her past places stay
as anonymous counts."""

import email
import os
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from django.utils import timezone

from courses.messages import staff_message_create
from courses.models import Message, Session
from courses.services import enrollment_create, session_cancel
from courses.tasks import message_deliver
from registry.audit.models import AuditEvent
from registry.rights.erasure import customer_erase

from .factories import CourseFactory, CustomerFactory

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent
NAME = ("Hilkka", "Häivytettävä")
#: What must not be found after the erasure: her names and her address.
HER_VALUES = ("Hilkka", "Häivytettävä", "hilkka.haivy")


@pytest.fixture
def hilkka(db):
    return CustomerFactory(
        first_name=NAME[0],
        last_name=NAME[1],
        email="hilkka.haivy@example.invalid",
        phone="+358407778899",
    )


@pytest.fixture
def olli(db):
    return CustomerFactory(first_name="Olli", last_name="Muukalainen", phone="")


def assert_nothing_of_her(text):
    for value in HER_VALUES:
        assert value.casefold() not in text.casefold(), f"{value!r} in {text!r}"


def coming_course(**kwargs):
    start = timezone.now().replace(microsecond=0) + timedelta(days=3)
    hours = timedelta(hours=2)
    return CourseFactory(
        sessions=[
            (start, start + hours),
            (start + timedelta(days=7), start + timedelta(days=7) + hours),
        ],
        **kwargs,
    )


def erased_event():
    return AuditEvent.objects.get(action=AuditEvent.Action.CUSTOMER_ERASED)


# --- 1. The reason of a cancelled session --------------------------------------


def test_a_cancelled_sessions_reason_that_names_her_is_scrubbed(
    hilkka, olli, register_manager, staff_member
):
    course = coming_course()
    session = course.sessions.order_by("starts_at").last()
    session_cancel(session=session, reason="Hilkka Häivytettävä varasi salin", by=staff_member)
    other = course.sessions.order_by("starts_at").first()
    Session.objects.filter(pk=other.pk).update(cancelled_reason="Ohjaaja sairastui")
    version = Session.objects.get(pk=session.pk).version

    customer_erase(customer=hilkka, by=register_manager)

    session.refresh_from_db()
    assert_nothing_of_her(session.cancelled_reason)
    assert session.cancelled_reason.endswith("varasi salin")
    # A form opened on the session before the erasure cannot write it back.
    assert session.version == version + 1
    other.refresh_from_db()
    assert other.cancelled_reason == "Ohjaaja sairastui"
    assert other.version == 1
    assert erased_event().detail["rewritten"]["courses.session"] == 1


# --- 2. Messages kept for other customers ---------------------------------------


def test_messages_to_others_that_name_her_are_scrubbed(
    hilkka, olli, register_manager, staff_member
):
    course = coming_course()
    enrollment_create(customer=hilkka, course=course, source="office", by=staff_member)
    enrollment_create(customer=olli, course=course, source="office", by=staff_member)
    staff_message_create(
        course=course,
        audience="participants",
        subject="Hilkka Häivytettävä ja joogamatot",
        text="Hilkka Häivytettävä tuo ensi kerralla joogamatot kaikille.",
        by=staff_member,
    )
    session = course.sessions.order_by("starts_at").last()
    session_cancel(session=session, reason="Hilkka Häivytettävä varasi salin", by=staff_member)
    assert Message.objects.filter(customer=olli).count() == 3

    customer_erase(customer=hilkka, by=register_manager)

    # Hers are gone; the other's stay, without her.
    assert set(Message.objects.values_list("customer", flat=True)) == {olli.pk}
    staff, cancelled = (
        Message.objects.get(customer=olli, kind=kind) for kind in ("staff", "session_cancelled")
    )
    for message in (staff, cancelled):
        assert_nothing_of_her(message.subject + message.body)
        assert "Hei Olli" in message.body
    assert "joogamatot kaikille" in staff.body
    assert staff.subject.endswith("ja joogamatot")
    assert "varasi salin" in cancelled.body
    assert erased_event().detail["rewritten"]["courses.message"] == 2


# --- 4. Mail files written without a mail server ---------------------------------


def _deliver_all():
    for pk in Message.objects.order_by("pk").values_list("pk", flat=True):
        message_deliver(pk)


def _decoded(path):
    mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return " ".join([*(str(value) for value in mail.values()), mail.get_content()])


def test_mail_files_that_name_her_are_deleted_and_only_those(
    hilkka, olli, register_manager, staff_member, settings, tmp_path
):
    settings.EMAIL_BACKEND = "courses.mail.EmlFileBackend"
    folder = Path(settings.EMAIL_FILE_PATH)
    course = coming_course()
    enrollment_create(customer=hilkka, course=course, source="office", by=staff_member)
    enrollment_create(customer=olli, course=course, source="office", by=staff_member)
    staff_message_create(
        course=course,
        audience="participants",
        subject="Hilkka Häivytettävä ja joogamatot",
        text="Hilkka Häivytettävä tuo joogamatot.",
        by=staff_member,
    )
    _deliver_all()
    files = sorted(folder.glob("*.eml"))
    assert len(files) == 4  # two confirmations, the staff message to both
    naming = [path for path in files if "Hilkka" in _decoded(path)]
    assert len(naming) == 3  # her confirmation names her too
    # What is not mail, or not in the folder itself, is not touched: a link
    # (to a file elsewhere), a folder, another kind of file.
    outside = tmp_path / "outside.txt"
    outside.write_text("Hilkka Häivytettävä", encoding="utf-8")
    (folder / "link.eml").symlink_to(outside)
    (folder / "old.eml").mkdir()
    (folder / "old.eml" / "inner.eml").write_text("To: hilkka.haivy@example.invalid\n\nHei")
    (folder / "notes.txt").write_text("Hilkka Häivytettävä", encoding="utf-8")

    customer_erase(customer=hilkka, by=register_manager)

    left = sorted(folder.glob("*.eml"))
    assert [path for path in left if path.is_file() and not path.is_symlink()] == [
        path for path in files if path not in naming
    ]
    assert "Hei Olli" in _decoded(left[0])
    assert (folder / "link.eml").is_symlink() and outside.read_text(encoding="utf-8")
    assert (folder / "old.eml" / "inner.eml").exists()
    assert (folder / "notes.txt").exists()
    assert erased_event().detail["rewritten"]["mail_files"] == 3


def test_an_encoded_name_is_found_in_a_mail_file(hilkka, register_manager, settings):
    """A subject in RFC 2047 words and a body in base64 hide the letters
    from a search of the file's bytes: the file is read as mail."""
    folder = Path(settings.EMAIL_FILE_PATH)
    folder.mkdir(parents=True)
    mail = email.message.EmailMessage()
    mail["Subject"] = "Terveisiä Häivytettävälle"
    mail["To"] = "joku@example.invalid"
    mail.set_content("Hilkka Häivytettävä tulee.", cte="base64")
    raw = mail.as_bytes()
    assert b"Hilkka" not in raw and "Häivytettävä".encode() not in raw
    (folder / "20261201-120000-abcdef12.eml").write_bytes(raw)

    customer_erase(customer=hilkka, by=register_manager)

    assert not list(folder.glob("*.eml"))


def test_an_erasure_without_a_mail_folder_is_fine(hilkka, register_manager, settings):
    assert not os.path.exists(settings.EMAIL_FILE_PATH)
    customer_erase(customer=hilkka, by=register_manager)
    assert "mail_files" not in erased_event().detail.get("rewritten", {})

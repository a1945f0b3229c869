"""Erasure on the courses' side (the audit of 2026-12, h2): after it, her
name is found nowhere (JOURNEYS step 8) and her place on a coming course
goes to the next in line. The reasons typed when a session is cancelled, the
messages kept for other customers, the audit events of courses and the
mail files written without a mail server are scrubbed; her past places stay
as anonymous counts."""

import ast
import email
import os
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from courses import services as courses_services
from courses.messages import staff_message_create
from courses.models import Attendance, Enrollment, Message, Session
from courses.services import enrollment_cancel, enrollment_create, session_cancel
from courses.tasks import message_deliver
from registry.audit import erasure as audit_erasure
from registry.audit.models import AuditEvent
from registry.rights.erasure import customer_erase, customers_erase

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory

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


def test_a_course_and_a_session_named_for_her_are_scrubbed_past_ones_too(
    hilkka, register_manager, staff_member
):
    """Her own course (every place on it hers) loses every part of her name;
    a course of many, past ones too, her full name."""
    private = coming_course(
        title="Yksityisohjaus: Hilkka Häivytettävä",
        description="Hilkka Häivytettävän toiveesta aamuisin.",
        location="Hilkka Häivytettävän koti",
    )
    enrollment_create(customer=hilkka, course=private, source="office", by=staff_member)
    home_visit = private.sessions.order_by("starts_at").first()
    Session.objects.filter(pk=home_visit.pk).update(location="Häivytettävän kotikäynti")
    a_year_ago = timezone.now().replace(microsecond=0) - timedelta(days=365)
    past = CourseFactory(title="Hilkka Häivytettävä, syksy", starts_at=a_year_ago)
    other = coming_course(title="Aamujooga", description="Kaikille.", location="Sali 2")
    versions = {course.pk: course.version for course in (private, past, other)}

    customer_erase(customer=hilkka, by=register_manager)

    for course in (private, past):
        course.refresh_from_db()
        assert_nothing_of_her(course.title + course.description + course.location)
        # A form opened on the course before the erasure cannot write it back.
        assert course.version == versions[course.pk] + 1
    assert private.title.startswith("Yksityisohjaus: ")
    assert private.description.endswith("toiveesta aamuisin.")
    home_visit.refresh_from_db()
    assert_nothing_of_her(home_visit.location)
    assert home_visit.location.endswith("kotikäynti")
    other.refresh_from_db()
    assert (other.title, other.description, other.location, other.version) == (
        "Aamujooga",
        "Kaikille.",
        "Sali 2",
        versions[other.pk],
    )
    rewritten = erased_event().detail["rewritten"]
    assert rewritten["courses.course"] == 2
    assert rewritten["courses.session"] == 1


def test_the_courses_of_her_own_are_found_once_per_erasure(
    hilkka, olli, register_manager, staff_member, monkeypatch
):
    """The courses' and the sessions' handlers both scrub her own courses
    harder (a first name alone goes): which courses those are is read once
    per erasure (two queries), not once per handler, and again for the next
    erasure."""
    hers = coming_course(title="Yksityisohjaus: Hilkka", location="Hilkka, koti")
    his = coming_course(title="Yksityisohjaus: Olli", location="Olli, koti")
    for course in (hers, his):
        Session.objects.filter(course=course).update(location=course.location)
    enrollment_create(customer=hilkka, course=hers, source="office", by=staff_member)
    enrollment_create(customer=olli, course=his, source="office", by=staff_member)
    own_courses = courses_services._own_courses
    calls = []

    def counted(erasure):
        calls.append(erasure)
        return own_courses(erasure)

    monkeypatch.setattr(courses_services, "_own_courses", counted)
    customer_erase(customer=hilkka, by=register_manager)
    assert len(calls) == 1
    customer_erase(customer=olli, by=register_manager)
    assert len(calls) == 2
    for course in (hers, his):
        course.refresh_from_db()
        assert (course.title, course.location) == (
            "Yksityisohjaus: [poistettu]",
            "[poistettu], koti",
        )
        assert set(course.sessions.values_list("location", flat=True)) == {"[poistettu], koti"}


def test_a_course_of_many_keeps_words_that_only_begin_like_her_name(
    olli, register_manager, staff_member
):
    """The review of 2026-11-29: erasing Satu Lahti of Rantatie 1 turned
    "Satujooga lapsille" into "[poistettu]jooga lapsille", "Pilates, Lahti"
    into "Pilates, [poistettu]" and blanked a session's place at her street
    address, on courses of many people and in the archive. There only her
    full name, email and phone go."""
    satu = CustomerFactory(
        first_name="Satu",
        last_name="Lahti",
        email="satu.lahti@example.invalid",
        phone="+358401112233",
        street_address="Rantatie 1",
    )
    course = coming_course(
        title="Satujooga lapsille",
        description="Satu Lahden toive. Lisätiedot: satu.lahti@example.invalid, 040 111 2233.",
        location="Pilates, Lahti",
    )
    Session.objects.filter(course=course).update(location="Rantatie 1")
    for customer in (satu, olli):
        enrollment_create(customer=customer, course=course, source="office", by=staff_member)

    customer_erase(customer=satu, by=register_manager)

    course.refresh_from_db()
    assert (course.title, course.location) == ("Satujooga lapsille", "Pilates, Lahti")
    # The stem goes, the ending stays, as everywhere in an erasure.
    assert course.description == "[poistettu]n toive. Lisätiedot: [poistettu], [poistettu]."
    assert set(Session.objects.filter(course=course).values_list("location", flat=True)) == {
        "Rantatie 1"
    }


def test_a_full_column_that_names_her_still_fits_after_the_erasure(
    hilkka, olli, register_manager, staff_member
):
    """ERASED is longer than her first name: a reason of the column's full
    length that names her would not fit any more (PostgreSQL refused the
    update, and the whole erasure with it)."""
    course = coming_course()
    enrollment_create(customer=olli, course=course, source="office", by=staff_member)
    session = course.sessions.order_by("starts_at").last()
    reason = ("Hilkka " * 40)[:200]
    session_cancel(session=session, reason=reason, by=staff_member)
    Message.objects.filter(customer=olli).update(subject=reason)
    limit = Session._meta.get_field("cancelled_reason").max_length
    assert len(reason) == limit == Message._meta.get_field("subject").max_length

    customer_erase(customer=hilkka, by=register_manager)

    session.refresh_from_db()
    assert len(session.cancelled_reason) == limit
    assert_nothing_of_her(session.cancelled_reason)
    for message in Message.objects.filter(customer=olli):
        assert len(message.subject) == limit
        assert_nothing_of_her(message.subject)


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


# --- 3. The audit trail of courses ----------------------------------------------


def test_the_reason_in_a_course_change_event_is_scrubbed(hilkka, register_manager, staff_member):
    course = coming_course()
    session = course.sessions.order_by("starts_at").last()
    session_cancel(session=session, reason="Hilkka Häivytettävä varasi salin", by=staff_member)

    customer_erase(customer=hilkka, by=register_manager)

    event = AuditEvent.objects.get(action=AuditEvent.Action.COURSE_CHANGED)
    assert_nothing_of_her(str(event.detail))
    assert event.detail["reason"].endswith("varasi salin")
    assert "scrubbed_at" in event.detail


#: The product's modules that may write audit events.
PRODUCT = ("balansia", "courses", "registry")


def _product_modules():
    for package in PRODUCT:
        for path in sorted((BASE_DIR / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path, ast.parse(path.read_text(encoding="utf-8"))


def _actions_named(node):
    """The AuditEvent.Action members an expression names (`X if c else Y` both)."""
    return {
        getattr(AuditEvent.Action, sub.attr)
        for sub in ast.walk(node)
        if isinstance(sub, ast.Attribute)
        and isinstance(sub.value, ast.Attribute)
        and sub.value.attr == "Action"
        and hasattr(AuditEvent.Action, sub.attr)
    }


class _Keys:
    """The keys of a detail as the code writes it, or None where the code
    does not say (a dict made elsewhere, a comprehension, a parameter)."""

    def __init__(self, tree):
        self.functions = {
            node.name: node
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        self.parents = {
            child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)
        }

    def function_of(self, node):
        while node is not None and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node = self.parents.get(node)
        return node

    def of(self, node, depth=0):
        if depth > 5:
            return None
        if isinstance(node, ast.Constant) and node.value is None:
            return set()
        if isinstance(node, ast.Dict):
            keys = set()
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:  # **spread
                    spread = self.of(value, depth + 1)
                    if spread is None:
                        return None
                    keys |= spread
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    keys.add(key.value)
                else:
                    return None
            return keys
        if isinstance(node, ast.IfExp):
            return self._union([node.body, node.orelse], depth)
        if isinstance(node, ast.BoolOp):
            return self._union(node.values, depth)
        if isinstance(node, ast.Name):
            return self._name(node, depth)
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            function = self.functions.get(name)
            if function is None:
                return None
            returns = [n.value for n in ast.walk(function) if isinstance(n, ast.Return)]
            return self._union(returns, depth) if returns else None
        return None

    def _union(self, nodes, depth):
        keys = set()
        for node in nodes:
            more = self.of(node, depth + 1)
            if more is None:
                return None
            keys |= more
        return keys

    def _name(self, node, depth):
        function = self.function_of(node)
        if function is None:
            return None
        values, keys = [], set()
        for sub in ast.walk(function):
            if isinstance(sub, ast.Assign):
                for target in sub.targets:
                    if isinstance(target, ast.Name) and target.id == node.id:
                        values.append(sub.value)
                    elif (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == node.id
                    ):
                        if not isinstance(target.slice, ast.Constant):
                            return None
                        keys.add(target.slice.value)
            elif _changes_in_place(sub, node.id):
                return None
        if not values:
            return None  # a parameter: its caller's
        assigned = self._union(values, depth)
        return None if assigned is None else assigned | keys


def _changes_in_place(node, name):
    """`name += ...` or `name.update(...)`: keys this test does not follow."""
    if isinstance(node, ast.AugAssign):
        return getattr(node.target, "id", None) == name
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and getattr(node.func.value, "id", None) == name
        and node.func.attr in ("update", "setdefault")
    )


def _writes_an_event(func):
    """audit_event_create(...), AuditEvent(...) (for bulk_create) or
    AuditEvent.objects.create(...)."""
    if isinstance(func, ast.Name):
        return func.id in ("audit_event_create", "AuditEvent")
    return func.attr == "create" and "AuditEvent" in ast.unparse(func.value)


def audit_writes():
    """Every place the product writes an audit event: (where, the actions it
    may write, the keys of its detail or None)."""
    for path, tree in _product_modules():
        keys = _Keys(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            named = {k.arg: k.value for k in node.keywords if k.arg}
            if "action" not in named or not _writes_an_event(node.func):
                continue
            actions = _actions_named(named["action"])
            detail = named.get("detail")
            where = f"{path.relative_to(BASE_DIR)}:{node.lineno}"
            yield where, actions, named["action"], set() if detail is None else keys.of(detail)


def test_every_audit_action_is_scrubbed_unless_it_holds_only_codes():
    """An action is left out of an erasure's scrub only when it is listed in
    ACTIONS_WITHOUT_VALUES with the keys of its detail, each a code, an id, a
    number or a time; every other action (a new one too) is scrubbed. Every
    place the code writes an event of a listed action must write only the
    keys listed for it, in a way this test can read; one that writes a new
    key (a reason, a name, a file) fails here until its action is scrubbed,
    or the key is listed because it holds no typed text."""
    without = audit_erasure.ACTIONS_WITHOUT_VALUES
    assert set(AuditEvent.Action) - set(without) == audit_erasure.ACTIONS_WITH_VALUES
    assert AuditEvent.Action.COURSE_CHANGED in audit_erasure.ACTIONS_WITH_VALUES
    writes = list(audit_writes())
    assert len(writes) > 40  # the scan finds the writes
    unread, undeclared, forwarded = [], [], []
    for where, actions, expression, keys in writes:
        if not actions:
            forwarded.append((where, ast.unparse(expression)))
            continue
        for action in actions & set(without):
            if keys is None:
                unread.append((where, action))
            elif keys - without[action]:
                undeclared.append((where, action, sorted(keys - without[action])))
    assert not unread, f"details this test cannot read (scrub the action): {unread}"
    assert not undeclared, f"keys not listed in ACTIONS_WITHOUT_VALUES: {undeclared}"
    # Only the trail's own writer takes the action from its caller.
    assert [where for where, _expression in forwarded] == ["registry/audit/services.py:26"]


def test_the_scan_reads_a_key_added_later_and_says_when_it_cannot():
    """The test above would have caught the audit's finding: a reason
    written with an action that is not scrubbed."""
    tree = ast.parse(
        "def session_cancel(reason):\n"
        "    detail = {'session_id': 1}\n"
        "    detail['reason'] = reason\n"
        "    audit_event_create(action=AuditEvent.Action.ENROLLED, detail=detail)\n"
        "def passed_on(detail):\n"
        "    audit_event_create(action=AuditEvent.Action.ENROLLED, detail=detail)\n"
    )
    keys = _Keys(tree)
    first, second = (
        {k.arg: k.value for k in node.keywords}
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "audit_event_create"
    )
    assert _actions_named(first["action"]) == {AuditEvent.Action.ENROLLED}
    assert keys.of(first["detail"]) == {"session_id", "reason"}
    assert keys.of(second["detail"]) is None


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


# --- 5. Her places on courses ----------------------------------------------------


def test_her_place_on_a_coming_course_goes_to_the_next_in_line(
    hilkka, olli, register_manager, staff_member, client
):
    course = coming_course(capacity=1)
    enrollment_create(customer=hilkka, course=course, source="office", by=staff_member)
    enrollment_create(customer=olli, course=course, source="office", by=staff_member)
    hers = Enrollment.objects.get(customer=hilkka)
    assert Enrollment.objects.get(customer=olli).status == "waitlisted"
    before = Message.objects.filter(customer=olli).count()

    customer_erase(customer=hilkka, by=register_manager)

    hers.refresh_from_db()
    assert (hers.customer, hers.status) == (None, "cancelled")
    assert Enrollment.objects.get(customer=olli).status == "enrolled"
    # As a cancellation at the office: audited, the promoted told, nobody
    # told of a place of someone who is gone.
    cancelled = AuditEvent.objects.get(action=AuditEvent.Action.ENROLLMENT_CANCELLED)
    assert cancelled.actor == register_manager
    assert cancelled.detail == {"course_id": course.pk}
    promoted = AuditEvent.objects.get(action=AuditEvent.Action.WAITLIST_PROMOTED)
    assert promoted.target_id == str(olli.pk)
    assert list(
        Message.objects.filter(customer=olli).order_by("pk").values_list("kind", flat=True)
    )[before:] == ["promoted"]
    assert set(Message.objects.values_list("customer", flat=True)) == {olli.pk}
    client.force_login(staff_member)
    page = client.get(reverse("courses:course-detail", args=[course.pk])).content.decode()
    assert "Muukalainen" in page


def test_her_queue_places_and_cancelled_courses_are_cancelled_past_places_stay(
    hilkka, olli, register_manager, staff_member
):
    full = coming_course(capacity=1)
    EnrollmentFactory(customer=olli, course=full)
    waiting = EnrollmentFactory(customer=hilkka, course=full, status="waitlisted")
    cancelled_course = coming_course(is_cancelled=True)
    on_cancelled = EnrollmentFactory(customer=hilkka, course=cancelled_course)
    start = timezone.now() - timedelta(days=30)
    past = CourseFactory(starts_at=start, ends_at=start + timedelta(hours=2))
    was_there = EnrollmentFactory(customer=hilkka, course=past)
    Attendance.objects.create(
        session=past.sessions.get(), enrollment=was_there, status="came", marked_at=start
    )

    customer_erase(customer=hilkka, by=register_manager)

    for enrollment in (waiting, on_cancelled, was_there):
        enrollment.refresh_from_db()
        assert enrollment.customer is None
    assert waiting.status == on_cancelled.status == "cancelled"
    # Her past place stays as an anonymous count, with her attendance.
    assert was_there.status == "enrolled"
    assert past.enrollments.taking_a_place().count() == 1
    assert Attendance.objects.get(enrollment=was_there).status == "came"
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.WAITLIST_PROMOTED).exists()


def test_two_erased_on_one_course_the_place_goes_to_neither(
    hilkka, olli, register_manager, staff_member
):
    """Erased together (the retention run), the one waiting is not given the
    other's place on the way out: the place goes to the next one staying."""
    course = coming_course(capacity=1)
    second = CustomerFactory(first_name="Toinen", last_name="Lähtijä")
    for customer in (hilkka, second, olli):
        enrollment_create(customer=customer, course=course, source="office", by=staff_member)

    customers_erase(customers=[hilkka, second], by=register_manager)

    assert list(course.enrollments.order_by("pk").values_list("customer", "status")) == [
        (None, "cancelled"),
        (None, "cancelled"),
        (olli.pk, "enrolled"),
    ]
    promoted = AuditEvent.objects.get(action=AuditEvent.Action.WAITLIST_PROMOTED)
    assert promoted.target_id == str(olli.pk)


def test_a_place_left_in_the_queue_by_an_earlier_erasure_is_passed_over(olli, staff_member):
    """Erasures before this one left their queue places without a person:
    a freed place goes to the first who is still there."""
    course = coming_course(capacity=1)
    taken = EnrollmentFactory(course=course)
    left = EnrollmentFactory(customer=None, course=course, status="waitlisted")
    waiting = EnrollmentFactory(customer=olli, course=course, status="waitlisted")

    enrollment_cancel(enrollment=taken, by=staff_member)

    left.refresh_from_db()
    waiting.refresh_from_db()
    assert (left.status, waiting.status) == ("waitlisted", "enrolled")

"""An edit page left open for more than a day loses nothing that was typed,
and tells no history (registry.forms.VersionField, README "Two people
editing one customer").

A page's version token is good for the history for a day. Before, a page
older than that was refused with "open the page again" and came back with the
same expired token: every later save was refused too, and what was typed was
lost. Now the token of a page older than a day still counts as the record's:
the save goes through while the record is as it was; when it has changed, the
form comes back with the user's changes on top of the record as it is now,
with a fresh token, and without the changes' old and new values."""

import datetime
import time
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import pytest
from django.contrib.auth.models import Permission
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from courses.models import Course
from courses.services import course_update, session_update
from registry.forms import VersionField
from registry.models import Customer
from registry.once import SUBMISSION_SECONDS
from registry.rights.models import DataSubjectRequest
from registry.rights.services import case_update
from registry.roles import STAFF
from registry.services import customer_update

from .factories import CourseFactory, CustomerFactory, DataSubjectRequestFactory, UserFactory
from .test_edit_conflicts import opened, submitted

pytestmark = pytest.mark.django_db


@contextmanager
def a_day_later():
    """The clock of signatures (TimestampSigner reads django.core.signing's
    `time`) a day and a minute on: a page opened before is older than a day."""
    later = time.time() + SUBMISSION_SECONDS + 60
    with mock.patch("django.core.signing.time", SimpleNamespace(time=lambda: later)):
        yield


def move(customer, by, *streets):
    for street in streets:
        customer_update(
            customer=Customer.objects.get(pk=customer.pk),
            data={"street_address": street},
            by=by,
        )


def outdated_without_history(response, *history):
    """The refusal of a page older than a day: the note, none of `history`."""
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="edit-outdated"' in body
    assert "Sivu oli auki yli vuorokauden" in body
    assert 'id="edit-conflict"' not in body
    for value in history:
        assert value not in body, value
    return response.context["form"]


# --- Customers ---------------------------------------------------------------


def test_a_page_older_than_a_day_saves_when_nobody_changed_the_record(client, staff_member):
    customer = CustomerFactory(city="Joensuu", postal_code="80100")
    url = reverse("registry:customer-update", args=[customer.pk])
    client.force_login(staff_member)
    form = opened(client, url)
    with a_day_later():
        response = client.post(url, submitted(form, city="Kuopio"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.city, customer.version) == ("Kuopio", 2)


def test_a_page_older_than_a_day_on_a_changed_record_keeps_what_was_typed(
    client, staff_member, register_manager
):
    """Someone moved the customer twice while the page was open for over a
    day: the save is refused, the form shows the new street (left as it was on
    the page) with this user's city, a fresh token and a note, but not the
    streets in between; saving it again keeps both changes."""
    customer = CustomerFactory(street_address="Ensitie 1", city="Joensuu", postal_code="80100")
    url = reverse("registry:customer-update", args=[customer.pk])
    client.force_login(staff_member)
    form = opened(client, url)
    move(customer, register_manager, "Toinentie 2", "Kolmastie 3")

    with a_day_later():
        refused = client.post(url, submitted(form, city="Kuopio"))
        again = outdated_without_history(refused, "Ensitie 1", "Toinentie 2", "vastaava")
        customer.refresh_from_db()
        assert (customer.street_address, customer.city, customer.version) == (
            "Kolmastie 3",
            "Joensuu",
            3,
        )
        assert again["street_address"].value() == "Kolmastie 3"
        assert again["city"].value() == "Kuopio"
        assert VersionField(record=customer).read(again["version"].value()) == (3, True)

        saved = client.post(url, submitted(again))
    assert saved.status_code == 302
    customer.refresh_from_db()
    assert (customer.street_address, customer.city, customer.version) == (
        "Kolmastie 3",
        "Kuopio",
        4,
    )


def test_a_page_within_the_day_still_names_what_changed(client, staff_member, register_manager):
    customer = CustomerFactory(street_address="Ensitie 1", city="Joensuu", postal_code="80100")
    url = reverse("registry:customer-update", args=[customer.pk])
    client.force_login(staff_member)
    form = opened(client, url)
    move(customer, register_manager, "Toinentie 2")
    body = client.post(url, submitted(form, city="Kuopio")).content.decode()
    assert 'id="edit-conflict"' in body and "Ensitie 1 → Toinentie 2" in body
    assert 'id="edit-outdated"' not in body


def test_a_page_without_its_token_comes_back_with_a_fresh_one_and_no_history(
    client, staff_member, register_manager
):
    """A page whose token is missing or not the server's (a page from before
    the versions were signed, a retired key, or made by hand): nothing is
    saved and no history told, but what was typed comes back with the
    record's values now where they differ, and a token of the version now,
    so that saving again after a look goes through."""
    customer = CustomerFactory(street_address="Ensitie 1", city="Joensuu", postal_code="80100")
    url = reverse("registry:customer-update", args=[customer.pk])
    client.force_login(staff_member)
    form = opened(client, url)
    move(customer, register_manager, "Toinentie 2", "Kolmastie 3")

    for version in ("1", "", VersionField.token(CustomerFactory())):
        refused = client.post(url, submitted(form, city="Kuopio", version=version))
        assert refused.status_code == 200
        again = refused.context["form"]
        assert again.has_error("__all__", "no_version")
        body = refused.content.decode()
        assert "Mitään ei tallennettu" in body
        # What was typed, as typed; the record's values now beside it; no history.
        assert again["street_address"].value() == "Ensitie 1"
        assert again["city"].value() == "Kuopio"
        assert "Katuosoite: Kolmastie 3; Postitoimipaikka: Joensuu" in body
        assert "Toinentie 2" not in body and 'id="edit-conflict"' not in body
        assert VersionField(record=customer).read(again["version"].value()) == (3, True)
        customer.refresh_from_db()
        assert (customer.city, customer.version) == ("Joensuu", 3)

    fixed = submitted(again, street_address="Kolmastie 3")
    assert client.post(url, fixed).status_code == 302
    customer.refresh_from_db()
    assert (customer.street_address, customer.city) == ("Kolmastie 3", "Kuopio")


# --- Courses, sessions and requests -------------------------------------------


def test_a_course_page_older_than_a_day(client, staff_member, register_manager):
    course = CourseFactory(title="Jooga", location="Sali 1")
    url = reverse("courses:course-update", args=[course.pk])
    client.force_login(staff_member)
    with a_day_later():
        # Nobody changed the course: the old page saves.
        assert client.post(url, submitted(opened(client, url), title="Jooga 1")).status_code == 302
    form = opened(client, url)
    for location in ("Sali 2", "Sali 3"):
        course_update(
            course=Course.objects.get(pk=course.pk),
            data={"location": location},
            by=register_manager,
        )
    with a_day_later():
        refused = client.post(url, submitted(form, title="Jooga aloittelijoille"))
        again = outdated_without_history(refused, "Sali 1", "Sali 2", "vastaava")
        assert (again["location"].value(), again["title"].value()) == (
            "Sali 3",
            "Jooga aloittelijoille",
        )
        assert client.post(url, submitted(again)).status_code == 302
    course.refresh_from_db()
    assert (course.title, course.location) == ("Jooga aloittelijoille", "Sali 3")


def session_moved_while_open(client, staff_member, register_manager):
    """A session's page opened by staff, then the session moved from Sali 1
    to Sali 2 by the register manager: (session, url, the form opened)."""
    course = CourseFactory(location="Sali 1")
    session = course.sessions.get()
    url = reverse("courses:session-update", args=[course.pk, session.pk])
    client.force_login(staff_member)
    form = opened(client, url)
    session_update(session=session, data={"location": "Sali 2"}, by=register_manager)
    return session, url, form


def test_a_session_page_older_than_a_day(client, staff_member, register_manager):
    session, url, form = session_moved_while_open(client, staff_member, register_manager)
    later = timezone.localtime(session.starts_at + datetime.timedelta(days=1)).replace(second=0)
    with a_day_later():
        refused = client.post(
            url, submitted(form, starts_at=later.strftime("%Y-%m-%dT%H:%M"), ends_at="")
        )
        # The end left empty: a field error beside the form's note, and the
        # next post of the same page is refused the same way, not lost.
        assert refused.context["form"].has_error("ends_at")
        ends = (later + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
        refused = client.post(url, {**refused.context["form"].data.dict(), "ends_at": ends})
        again = outdated_without_history(refused, "vastaava")
        typed = later.replace(tzinfo=None)
        assert again["starts_at"].value() == typed
        assert again["ends_at"].value() == typed + datetime.timedelta(hours=2)
        # A session's changes are written in its course's trail, so this form
        # does not put another's change in by itself (within the day neither):
        # the user, told to check, does.
        assert client.post(url, submitted(again, location="Sali 2")).status_code == 302
    session.refresh_from_db()
    assert (session.location, timezone.localtime(session.starts_at)) == ("Sali 2", later)


def test_a_request_page_older_than_a_day(client, register_manager):
    case = DataSubjectRequestFactory(
        received_on=datetime.date(2026, 11, 20), deadline=datetime.date(2026, 12, 20)
    )
    url = reverse("registry:request-detail", args=[case.pk])
    client.force_login(register_manager)
    form = opened(client, url)
    case_update(
        case=DataSubjectRequest.objects.get(pk=case.pk),
        data={"deadline": datetime.date(2027, 1, 20), "extension_reason": "Monta pyyntöä"},
        by=register_manager,
    )
    with a_day_later():
        typed = submitted(form, status="done", outcome="Raportti lähetetty")
        # (The register manager sees the case's own trail on its page anyway.)
        again = outdated_without_history(client.post(url, typed))
        assert again["status"].value() == "done"
        assert again["outcome"].value() == "Raportti lähetetty"
        assert again["deadline"].value() == datetime.date(2027, 1, 20)
        assert client.post(url, submitted(again)).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.deadline) == ("done", datetime.date(2027, 1, 20))


# --- Hostile tokens ------------------------------------------------------------


def hostile_tokens(record):
    signer = VersionField.signer()
    key = f"{record._meta.label_lower}.{record.pk}"
    return [
        "\x00",
        f"{VersionField.token(record)}\x00",
        "x" * 100_000,
        "9" * 30,
        ["1", "2"],
        signer.sign(f"{key}.x"),
        signer.sign(f"{key}.\u0661"),  # a digit, but not an ASCII one
        signer.sign(f"{key}.{'9' * 190}"),
        signing.TimestampSigner(salt="registry.once.customer-create").sign(f"{key}.1"),
    ]


def test_hostile_tokens_are_an_unmatched_page_not_a_500(client, register_manager):
    customer, course = CustomerFactory(), CourseFactory()
    session = course.sessions.get()
    case = DataSubjectRequestFactory(customer=customer)
    client.force_login(register_manager)
    for url, record in (
        (reverse("registry:customer-update", args=[customer.pk]), customer),
        (reverse("courses:course-update", args=[course.pk]), course),
        (reverse("courses:session-update", args=[course.pk, session.pk]), session),
        (reverse("registry:request-detail", args=[case.pk]), case),
    ):
        form = opened(client, url)
        for token in hostile_tokens(record):
            if isinstance(token, str):
                assert VersionField(record=record).read(token) is None, token
            response = client.post(url, submitted(form, version=token))
            if "\x00" in token:  # refused before any form (balansia.middleware)
                assert response.status_code == 400, (url, token)
                continue
            assert response.status_code == 200, (url, token)
            assert response.context["form"].has_error("__all__", "no_version"), (url, token)
    assert VersionField(record=customer).read(None) is None
    assert VersionField(record=customer).read(1) is None


# --- The merge page ------------------------------------------------------------


@pytest.fixture
def pair():
    keep = CustomerFactory(first_name="Aino", last_name="Esimerkki", city="Joensuu")
    other = CustomerFactory(first_name="Aino", last_name="Esimerkki", city="Liperi")
    return keep, other


def test_a_merge_page_older_than_a_day(client, pair, register_manager, staff_member):
    keep, other = pair
    url = reverse("registry:customer-merge-confirm", args=[keep.pk, other.pk])
    client.force_login(register_manager)
    chosen = submitted(opened(client, url), city="other")
    for email in ("ensin@example.invalid", "sitten@example.invalid"):
        customer_update(
            customer=Customer.objects.get(pk=keep.pk), data={"email": email}, by=staff_member
        )
    with a_day_later():
        refused = client.post(url, chosen)
        body = refused.content.decode()
        assert "tietueet ovat muuttuneet" in body and 'id="edit-outdated"' in body
        assert 'id="edit-conflict"' not in body
        assert "ensin@example.invalid" not in body and "toimisto" not in body
        assert Customer.objects.filter(pk=other.pk).exists()
        again = refused.context["form"]
        assert again["city"].value() == "other"
        assert client.post(url, submitted(again)).status_code == 302
    keep.refresh_from_db()
    assert (keep.email, keep.city) == ("sitten@example.invalid", "Liperi")
    assert not Customer.objects.filter(pk=other.pk).exists()


def test_a_merge_page_older_than_a_day_merges_when_nothing_changed(client, pair, register_manager):
    keep, other = pair
    url = reverse("registry:customer-merge-confirm", args=[keep.pk, other.pk])
    client.force_login(register_manager)
    chosen = submitted(opened(client, url), city="other")
    with a_day_later():
        assert client.post(url, chosen).status_code == 302
    keep.refresh_from_db()
    assert keep.city == "Liperi"


def test_plain_versions_on_the_merge_page_tell_no_history(client, pair, staff_member):
    """The merge page carried the two versions as plain numbers: posted by
    hand with `keep_version=1`, the refusal listed every change of both
    records since (old and new values), to anyone given the merge permission
    (README: not only the register manager). They are signed now; a page
    without them comes back with tokens of the versions now."""
    keep, other = pair
    for email in ("ensin@example.invalid", "sitten@example.invalid"):
        customer_update(
            customer=Customer.objects.get(pk=keep.pk), data={"email": email}, by=staff_member
        )
    merger = UserFactory(username="yhdistaja", roles=[STAFF])
    merger.user_permissions.add(Permission.objects.get(codename="merge_customer"))
    client.force_login(merger)
    url = reverse("registry:customer-merge-confirm", args=[keep.pk, other.pk])
    chosen = submitted(opened(client, url), city="other", keep_version="1", other_version="1")
    refused = client.post(url, chosen)
    assert refused.status_code == 200
    body = refused.content.decode()
    assert "ensin@example.invalid" not in body and 'id="edit-conflict"' not in body
    again = refused.context["form"]
    assert again.has_error("__all__", "no_version")
    assert Customer.objects.filter(pk=other.pk).exists()
    assert VersionField(record=keep).read(again["keep_version"].value()) == (3, True)

    assert client.post(url, submitted(again)).status_code == 302
    keep.refresh_from_db()
    assert (keep.email, keep.city) == ("sitten@example.invalid", "Liperi")


def test_a_session_conflict_lists_the_values_now_where_the_form_shows_others(
    client, staff_member, register_manager
):
    """A session's changes are in its course's trail, so a refused save could
    not say what changed, and the form came back with every posted value:
    saving again without a look undid the other's change unseen. Now the
    note lists the session's values where the form shows others."""
    _session, url, form = session_moved_while_open(client, staff_member, register_manager)
    refused = client.post(url, submitted(form, location="Sali 1"))
    assert refused.status_code == 200
    conflict = refused.context["form"].conflict
    assert conflict.record_now == ["Paikka: Sali 2"]
    assert "<li>Paikka: Sali 2</li>" in refused.content.decode()
    assert refused.context["form"]["location"].value() == "Sali 1"  # theirs, to decide

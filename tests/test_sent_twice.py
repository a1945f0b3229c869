"""A page sent twice (a double click, the browser's "send again", two posts in
parallel) saves once (registry.once): a course series, a new customer, a
message to a course, a data subject request. Probe: two parallel posts made
two customers every time, sent 20 messages to 10 participants and logged two
cases."""

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.messages import get_messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.core import signing
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from courses import message_views
from courses import views as course_views
from courses.forms import SeriesForm
from courses.models import Course, Message
from registry import views as registry_views
from registry.forms import CustomerCreateForm
from registry.models import Customer
from registry.once import SUBMISSION_SECONDS, Once
from registry.rights import views as rights_views
from registry.rights.models import DataSubjectRequest

from .factories import CourseFactory, CustomerFactory, EnrollmentFactory
from .test_sessions import series_post

PARTICIPANTS = 10


@dataclass
class Form:
    """One of the forms, as its user fills it in."""

    user: str  # the persona who uses it
    open: Callable  # (client, world) -> (url, data): the page filled in, ready to send
    saved: Callable  # () -> how many things it has saved
    once: str  # the note to a second post of the same page
    again: str  # the note to a post without the page's token
    service: tuple  # (module, name): the save, slowed down for the parallel test


def token_of(response):
    """The token as the page holds it (a hidden field)."""
    return re.search(r'name="submission" value="([^"]+)"', response.content.decode())[1]


def open_series(client, world):
    url = reverse("courses:course-create")
    data = client.post(url, series_post()).context["form"].data  # every date ticked
    return url, {**data.dict(), "dates": data.getlist("dates")}


def open_customer(client, world):
    url = reverse("registry:customer-create")
    data = {
        "first_name": "Väinö",
        "last_name": "Äijälä",
        "phone": "050 765 4321",
        "country": "FI",
        "source": "enrolment_or_purchase",
    }
    return url, {**data, "submission": token_of(client.get(url))}


def open_message(client, world):
    url = reverse("courses:course-message", args=[world["course"].pk])
    data = {"audience": "participants", "subject": "Sali vaihtui", "text": "Olemme salissa 2."}
    client.get(url)
    preview = client.post(url, data)
    return url, {**data, "submission": token_of(preview), "confirm": "1"}


def open_case(client, world):
    url = reverse("registry:request-create", args=[world["customer"].pk])
    data = {
        "kind": "erasure",
        "received_on": "2026-11-20",
        "identity_verification": "Soitti rekisteröidystä numerosta",
    }
    return url, {**data, "submission": token_of(client.get(url))}


FORMS = {
    "series": Form(
        user="staff_member",
        open=open_series,
        saved=lambda: Course.objects.filter(title="Hathajooga").count(),
        once="Kurssi oli jo lisätty: lomake lähetettiin kahdesti.",
        again="Tarkista kurssikerrat ja tallenna uudelleen.",
        service=(course_views, "course_create"),
    ),
    "customer": Form(
        user="staff_member",
        open=open_customer,
        saved=lambda: Customer.objects.filter(last_name="Äijälä").count(),
        once="Asiakas oli jo lisätty: lomake lähetettiin kahdesti.",
        again="Tarkista tiedot ja tallenna uudelleen.",
        service=(registry_views, "customer_create"),
    ),
    "message": Form(
        user="staff_member",
        open=open_message,
        saved=lambda: Message.objects.count(),
        once="Viesti oli jo lähetetty: lomake lähetettiin kahdesti. Uusia viestejä ei lähetetty.",
        again="Tarkista viesti ja lähetä uudelleen.",
        service=(message_views, "staff_message_create"),
    ),
    "case": Form(
        user="register_manager",
        open=open_case,
        saved=lambda: DataSubjectRequest.objects.count(),
        once="Pyyntö oli jo kirjattu: lomake lähetettiin kahdesti.",
        again="Tarkista pyyntö ja kirjaa se uudelleen.",
        service=(rights_views, "case_log"),
    ),
}
#: How many things the first post of each saves.
FIRST = {"series": 1, "customer": 1, "message": PARTICIPANTS, "case": 1}


@pytest.fixture
def world(db):
    course = CourseFactory()
    EnrollmentFactory.create_batch(PARTICIPANTS, course=course)
    return {"course": course, "customer": CustomerFactory()}


def notes(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("name", FORMS)
def test_the_same_page_sent_twice_saves_once(client, request, world, name):
    form = FORMS[name]
    client.force_login(request.getfixturevalue(form.user))
    url, data = form.open(client, world)
    first = client.post(url, data)
    assert first.status_code == 302 and form.saved() == FIRST[name]
    again = client.post(url, data)
    assert form.saved() == FIRST[name]
    # The second post lands where the first did, and says why.
    assert again.status_code == 302 and again.url == first.url
    assert notes(again)[-1] == form.once


@pytest.mark.parametrize("name", FORMS)
def test_the_page_edited_after_back_saves_again(client, request, world, name):
    """The token counts together with what the page holds: Back, another
    value, send: that is a new save, as the user meant."""
    form = FORMS[name]
    client.force_login(request.getfixturevalue(form.user))
    url, data = form.open(client, world)
    client.post(url, data)
    field = {"series": "title", "customer": "last_name", "message": "text", "case": "kind"}[name]
    other = {"title": "Hathajooga", "last_name": "Äijälä", "text": "Sali 3.", "kind": "access"}
    if name == "series":
        data = {**data, "description": "Toinen ryhmä"}
    else:
        data = {**data, field: other[field]}
    if name == "customer":
        data["confirm_duplicate"] = "on"  # the first post's customer looks the same
    second = client.post(url, data)
    assert second.status_code == 302
    assert form.saved() == 2 * FIRST[name]


def made_up_tokens(form_class, monkeypatch):
    given = form_class.new_token()
    changed = given[:-1] + ("B" if given.endswith("A") else "A")
    with monkeypatch.context() as past:
        yesterday = time.time() - SUBMISSION_SECONDS - 60
        past.setattr(signing.time, "time", lambda: yesterday)
        expired = form_class.new_token()
    another_forms = (CustomerCreateForm if form_class is SeriesForm else SeriesForm).new_token()
    return [None, "", "x", "a" * 128, changed, given + "x", expired, another_forms]


@pytest.mark.parametrize("name", FORMS)
def test_a_post_without_the_pages_token_saves_nothing_and_loses_nothing(
    client, request, world, monkeypatch, name
):
    """Made by hand, changed, from another form or a page left open since
    yesterday: nothing is saved, the page comes back with what was typed, a
    note and a token of its own; saving that page saves once."""
    form = FORMS[name]
    client.force_login(request.getfixturevalue(form.user))
    url, data = form.open(client, world)
    form_class = type(client.get(url).context["form"])
    for token in [*made_up_tokens(form_class, monkeypatch), "x" * 100_000]:
        posted = {k: v for k, v in data.items() if k != "submission"}
        if token is not None:
            posted["submission"] = token
        response = client.post(url, posted)
        assert response.status_code == 200 and form.saved() == 0, token
        assert form.again in notes(response)
        page = response.context["form"]
        assert page.has_token and page["submission"].value() != token
        for field, value in posted.items():
            if field not in {"submission", "confirm", "dates"}:
                assert page[field].value() == value, field
    page = {field: page.data.getlist(field) for field in page.data}
    if name == "message":
        page["confirm"] = "1"
    assert client.post(url, page).status_code == 302
    assert client.post(url, page).status_code == 302
    assert form.saved() == FIRST[name]
    # A NUL is refused before any view (test_probe_findings).
    assert client.post(url, {**data, "submission": "\x00"}).status_code == 400
    assert form.saved() == FIRST[name]


def test_a_new_customer_with_mistakes_keeps_them_and_gets_a_token(client, staff_member):
    """A page without a token and with a mistake: the mistake beside its field,
    what was typed kept, and a token for the corrected save."""
    client.force_login(staff_member)
    url = reverse("registry:customer-create")
    response = client.post(url, {"first_name": "Väinö", "last_name": "Äijälä", "phone": "040 12"})
    page = response.context["form"]
    assert response.status_code == 200 and not Customer.objects.exists()
    assert page.errors["phone"] and page["phone"].value() == "040 12"
    assert page.has_token


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", FORMS)
def test_the_same_page_sent_twice_in_parallel_saves_once(request, monkeypatch, name):
    """Two posts of one page at the same moment (a double click while the
    first is being saved): the second waits for the first's transaction,
    then lands where the first did."""
    if connection.vendor != "postgresql":
        pytest.skip("Parallel transactions are proven on PostgreSQL (CI runs this file on it).")
    form = FORMS[name]
    user = request.getfixturevalue(form.user)
    course = CourseFactory()
    EnrollmentFactory.create_batch(PARTICIPANTS, course=course)
    world = {"course": course, "customer": CustomerFactory()}
    clients = [Client(), Client()]
    for each in clients:
        each.force_login(user)
    url, data = form.open(clients[0], world)
    # The first save holds its transaction a while, so that the second post
    # arrives while it is open.
    module, service = form.service
    original = getattr(module, service)

    def slow(*args, **kwargs):
        saved = original(*args, **kwargs)
        time.sleep(0.5)
        return saved

    monkeypatch.setattr(module, service, slow)
    barrier = threading.Barrier(2)
    responses, errors = [], []

    def post(each):
        try:
            barrier.wait()
            responses.append(each.post(url, data))
        except Exception as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(each,)) for each in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert form.saved() == FIRST[name]
    assert [r.status_code for r in responses] == [302, 302]
    assert responses[0].url == responses[1].url
    assert sorted(notes(r)[-1] == form.once for r in responses) == [False, True]


def test_a_page_sent_again_is_answered_with_what_the_first_post_saved(rf, staff_member):
    """registry.once's answer to a second post: the note, and the way to what
    the first saved, or elsewhere when that is gone or nothing to look up."""
    kept = CustomerFactory()

    def post(token):
        request = rf.post("/", {"submission": token})
        request.user = staff_member
        request._messages = CookieStorage(request)
        return request, Once(request, CustomerCreateForm(request.POST))

    request, once = post(CustomerCreateForm.new_token())
    assert once.answer_if_sent_again(request, "kahdesti", otherwise="/lista/") is None
    once.saved(kept.pk)
    request, once = post(request.POST["submission"])
    again = once.answer_if_sent_again(
        request, "kahdesti", found_in=Customer.objects.all(), otherwise="/lista/"
    )
    assert again.url == kept.get_absolute_url()
    assert [str(m) for m in request._messages] == ["kahdesti"]
    # Out of sight (or erased): elsewhere; nothing to look up: elsewhere.
    again = once.answer_if_sent_again(
        request, "kahdesti", found_in=Customer.objects.exclude(pk=kept.pk), otherwise="/lista/"
    )
    assert again.url == "/lista/"
    assert once.answer_if_sent_again(request, "kahdesti", otherwise="/lista/").url == "/lista/"

"""Hostile values in every parameter of every GET view answer a page or a
4xx, never a 5xx.

The parameters a view reads are found by watching it: the request's query
dictionary records every key the view asks for, first with a harmless value
(so that forms bind), then with each hostile value. A new view or a new
parameter is covered without a change here; a view missing from the
permission table fails `test_every_view_has_a_rule` there.
"""

import django.core.handlers.wsgi
import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse

from registry.imports.services import import_upload

from .test_imports import HEADER, csv_bytes, person
from .test_permission_table import RULES
from .urlwalk import walk

HOSTILE = {
    "nul": "\x00",
    "long": "a" * 10_000,
    "negative": "-1",
    "not a number, nor a choice": "abc",
    "huge number": "9" * 30,
    "invalid date": "2026-13-45",
    "first day": "0001-01-01",
    "last day": "9999-12-31",
    # A digit to str.isdigit(), not to int().
    "unicode digit": "²",
}
#: Read by nothing; makes every form of a page bound, so that its fields are read.
PROBE = "zz_probe"


class RecordingQueryDict(QueryDict):
    """request.GET that remembers which keys the view read."""

    read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def getlist(self, key, default=None):
        self.read.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


@pytest.fixture
def recording(monkeypatch):
    monkeypatch.setattr(django.core.handlers.wsgi, "QueryDict", RecordingQueryDict)
    RecordingQueryDict.read = set()
    return RecordingQueryDict


@pytest.fixture
def pending_import(register_manager):
    """An import waiting for confirmation: its page is the preview."""
    return import_upload(
        file_name="lista.csv", content=csv_bytes([HEADER, person()]), by=register_manager
    )


def urls_of(name, world, pending_import):
    kwargs, _expected = RULES[name]
    urls = [reverse(name, kwargs=kwargs(world) if kwargs else None)]
    if name == "registry:import-detail":
        urls.append(pending_import.get_absolute_url())
    return urls


def parameters_read(client, url, recording):
    recording.read = set()
    client.get(url, {PROBE: "1"})
    return recording.read - {PROBE}


def answers_one_by_one(client, url, parameters):
    """Each parameter alone with each hostile value: (parameter, value, status)."""
    return [
        (parameter, label, client.get(url, {parameter: value}).status_code)
        for parameter in sorted(parameters)
        for label, value in HOSTILE.items()
    ]


def answers_all_at_once(client, url, parameters):
    """Every parameter with the same hostile value at once (quicker)."""
    return [
        ("*", label, client.get(url, dict.fromkeys(parameters, value)).status_code)
        for label, value in HOSTILE.items()
    ]


@pytest.mark.parametrize("name", sorted(RULES))
def test_hostile_query_values_never_answer_5xx(request, world, pending_import, recording, name):
    """The register manager, who sees most pages: every parameter, one by one.
    Instructors, whose course pages differ: all parameters at once."""
    answered = 0
    for persona, answers_of in (
        ("register_manager", answers_one_by_one),
        ("instructor", answers_all_at_once),
    ):
        client = Client(raise_request_exception=False)
        client.force_login(request.getfixturevalue(persona))
        for url in urls_of(name, world, pending_import):
            if client.get(url).status_code >= 400:
                continue  # not this persona's page, or POST only
            answered += 1
            parameters = parameters_read(client, url, recording)
            failures = [
                answer for answer in answers_of(client, url, parameters) if answer[2] >= 500
            ]
            assert not failures, f"{persona} {url}: {failures}"
    if RULES[name][1].get("register_manager", RULES[name][1]["other"]) in (200, 302):
        assert answered, f"{name} was never requested"


def test_the_watch_finds_the_parameters(client, register_manager, recording):
    """The recording sees what a view reads (else the test above tests nothing)."""
    client.force_login(register_manager)
    parameters = parameters_read(client, reverse("registry:customer-list"), recording)
    assert {"q", "city", "source", "contactable", "sort", "imported", "page"} <= parameters


@pytest.mark.parametrize("name", sorted(name for name, (kwargs, _e) in RULES.items() if kwargs))
def test_numbers_beyond_any_record_are_not_found(request, world, name):
    """/customers/99999999999999999999/ names no customer: 404, not 500 (also
    where the good address answers a GET with a redirect to its record)."""
    client = Client(raise_request_exception=False)
    client.force_login(request.getfixturevalue("register_manager"))
    kwargs = RULES[name][0](world)
    good = client.get(reverse(name, kwargs=kwargs)).status_code
    for key in kwargs:
        url = reverse(name, kwargs={**kwargs, key: 10**20})
        status = client.get(url).status_code
        assert status == (404 if good in (200, 302) else good), url


def test_admin_pages_take_hostile_query_values(client, register_manager, recording):
    """Django admin's pages too (the register manager's), all parameters at once."""
    client = Client(raise_request_exception=False)
    client.force_login(register_manager)
    failures = []
    for name, url in walk():
        if not name.startswith("admin:") or client.get(url).status_code >= 400:
            continue
        answers = answers_all_at_once(client, url, parameters_read(client, url, recording))
        failures += [(url, *answer) for answer in answers if answer[2] >= 500]
    assert not failures

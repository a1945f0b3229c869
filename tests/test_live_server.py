"""The browser tests' live server stops cleanly: a connection the browser
keeps open (keep-alive) is ended with the server, and its thread does not
outlive it to close the shared in-memory database connection from the wrong
thread (tests/liveserver.py)."""

import http.client
import threading

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse

from . import liveserver
from .liveserver import start_live_server

pytestmark = pytest.mark.django_db


def test_a_connection_left_open_ends_with_the_live_server():
    errors = []
    pytest_hook, threading.excepthook = threading.excepthook, errors.append
    try:
        before = set(threading.enumerate())
        server = start_live_server()
        browser = http.client.HTTPConnection(server.thread.host, server.thread.port, timeout=10)
        browser.request("GET", "/accounts/login/")
        response = browser.getresponse()
        response.read()
        # Kept open, as Chromium keeps it: its thread waits for the next request.
        assert response.status == 200 and response.getheader("Connection") != "close"
        server.stop()
        left = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
        browser.close()  # the browser closes at the end of the run, after the server
        for thread in left:
            thread.join(timeout=5)
    finally:
        threading.excepthook = pytest_hook
    assert left == []
    assert [args.exc_value for args in errors] == []


def test_a_request_stuck_in_its_view_does_not_hang_the_stop(monkeypatch):
    """The server waits for a request still running, but not for ever: one
    stuck in its view is named in a warning and left (the run goes on)."""
    release = threading.Event()
    inside = threading.Event()

    def stuck(self, request):
        inside.set()
        release.wait(timeout=10)
        return HttpResponse("late")  # no database: the test is over by then

    monkeypatch.setattr(WSGIHandler, "get_response", stuck)
    monkeypatch.setattr(liveserver, "JOIN_SECONDS", 0.2)
    # The late request's end would close the database connection, no longer
    # shared with its thread once the server stopped: not in this test.
    monkeypatch.setattr(liveserver.ClosingWSGIServer, "_close_connections", lambda self: None)
    before = set(threading.enumerate())
    server = start_live_server()
    browser = http.client.HTTPConnection(server.thread.host, server.thread.port, timeout=10)
    sender = threading.Thread(target=browser.request, args=("GET", "/accounts/login/"))
    sender.start()
    try:
        assert inside.wait(timeout=5)
        with pytest.warns(UserWarning, match="request threads still running"):
            server.stop()
    finally:
        release.set()
        sender.join(timeout=5)
        browser.close()
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=5)

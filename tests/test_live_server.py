"""The browser tests' live server stops cleanly: a connection the browser
keeps open (keep-alive) is ended with the server, and its thread does not
outlive it to close the shared in-memory database connection from the wrong
thread (tests/liveserver.py)."""

import http.client
import threading

import pytest

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

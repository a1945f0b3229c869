"""The browser tests' live server: pytest-django's, with a server that, when
it stops, ends the connections still open and waits for their threads.

Why: Chromium keeps its connections to the server open between requests
(HTTP/1.1 keep-alive), and Django's test server serves each connection in a
thread of its own that waits there for the next request. On SQLite the tests'
database is in memory, and every such thread uses the test thread's connection,
shared only while the server runs (LiveServer.start/stop). Django's server
leaves these threads running when it stops (daemon threads, not waited for),
and the session's live server stops before the browser closes; when the
browser then closed its connections, each thread woke up and closed the
database connection no longer shared with it: a DatabaseError in a thread
("DatabaseWrapper objects created in a thread can only be used in that same
thread"), three or four PytestUnhandledThreadExceptionWarning at the end of
a run with browser tests (tests/test_live_server.py).
"""

import contextlib
import os
import socket
import threading
import warnings

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from pytest_django.live_server_helper import LiveServer

#: How long the server waits, when it stops, for each request thread to end.
JOIN_SECONDS = 30


class ClosingWSGIServer(ThreadedWSGIServer):
    """A threaded test server whose server_close() ends the connections still
    open (a read on them sees the end) and waits for their threads."""

    # Not daemons: socketserver's server_close() joins them (block_on_close).
    daemon_threads = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._open = set()
        self._open_lock = threading.Lock()

    def process_request(self, request, client_address):
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self):
        with self._open_lock:
            still_open = list(self._open)
        for request in still_open:
            # The reading side only: a response being written still goes out.
            # (OSError: its thread closed it meanwhile.)
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RD)
        # Waited for, but not for ever: a request stuck in its view must not
        # hang the run. One left running is named (and then not joined).
        # socketserver's list of the request threads (a list of its own).
        threads = list(self._threads) if isinstance(self._threads, list) else []
        for thread in threads:
            thread.join(timeout=JOIN_SECONDS)
        stuck = [thread.name for thread in threads if thread.is_alive()]
        if stuck:
            self._threads[:] = []  # not joined again by socketserver below
            warnings.warn(
                f"live server: request threads still running after {JOIN_SECONDS} s: {stuck}",
                stacklevel=2,
            )
        super().server_close()


def start_live_server(addr="localhost"):
    """A started LiveServer (pytest-django's) on a ClosingWSGIServer."""
    server = LiveServer(addr, start=False)
    # LiveServerThread._create_server() builds its self.server_class.
    server.thread.server_class = ClosingWSGIServer
    server.start()
    return server


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live_server fixture (same address options), stopped
    after its request threads have ended."""
    addr = (
        request.config.getvalue("liveserver")
        or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS")
        or "localhost"
    )
    server = start_live_server(addr)
    yield server
    server.stop()

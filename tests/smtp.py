"""A real SMTP server in the test process (aiosmtpd) that keeps what it is
given, or refuses it: the outbox is tested by delivery, not by a stub."""

import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller


class Recorder:
    """An SMTP server's handler that keeps what it is given, or refuses."""

    def __init__(self):
        self.envelopes = []
        self.refuse = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return "550 5.7.1 Relaying denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def emails(self):
        return [
            (
                sorted(e.rcpt_tos),
                email.message_from_bytes(e.original_content, policy=policy.default),
            )
            for e in self.envelopes
        ]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Viva Balansia <kurssit@example.invalid>"
    settings.MESSAGE_REPLY_TO = "info@example.invalid"
    handler.port = controller.port
    yield handler
    controller.stop()

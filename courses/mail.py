"""Mail without a mail server: each message as an .eml file.

With no EMAIL_HOST (a laptop, `make run`) settings choose this backend: every
message lands in EMAIL_FILE_PATH (var/mail/) as one .eml file, which any mail
program opens, so a newcomer sees exactly what a customer would receive.
The files hold what the messages hold (names, addresses, dates):
purge_message_bodies deletes them with the texts (purge_mail_files).
"""

import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


class EmlFileBackend(BaseEmailBackend):
    def __init__(self, *, file_path=None, **kwargs):
        super().__init__(**kwargs)
        self.directory = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages):
        self.directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            name = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.eml"
            (self.directory / name).write_bytes(message.message().as_bytes(linesep="\n"))
            sent += 1
        return sent


def purge_mail_files(now=None):
    """Delete the .eml files in EMAIL_FILE_PATH older than MESSAGE_BODY_DAYS
    (by their modification time), as purge_message_bodies deletes the texts
    in the database. Returns how many were deleted."""
    directory = Path(settings.EMAIL_FILE_PATH)
    if not directory.is_dir():
        return 0
    cutoff = ((now or timezone.now()) - timedelta(days=settings.MESSAGE_BODY_DAYS)).timestamp()
    deleted = 0
    for path in directory.glob("*.eml"):
        if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted

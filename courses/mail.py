"""Mail without a mail server: each message as an .eml file.

With no EMAIL_HOST (a laptop, `make run`) settings choose this backend: every
message lands in EMAIL_FILE_PATH (var/mail/) as one .eml file, which any mail
program opens, so a newcomer sees exactly what a customer would receive.
The files hold what the messages hold (names, addresses, dates):
purge_message_bodies deletes them with the texts (purge_mail_files), and an
erasure deletes every file that names an erased customer (mail_files_erase).
"""

import email
import os
import stat
import uuid
from datetime import timedelta
from email import policy
from email.errors import MessageError
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


def _texts_of(content):
    """The texts of a mail file: as stored, and its headers and text parts
    decoded (a subject in RFC 2047 words or a body in base64 or
    quoted-printable hides its letters from the stored bytes). None if the
    file cannot be read as mail."""
    texts = [content.decode("utf-8", "replace")]
    try:
        mail = email.message_from_bytes(content, policy=policy.default)
        texts += [str(value) for value in mail.values()]
        texts += [
            part.get_content() for part in mail.walk() if part.get_content_maintype() == "text"
        ]
    except (MessageError, LookupError, ValueError, TypeError, AttributeError):
        return None
    return texts


def mail_files_erase(scrub):
    """Delete every .eml file in EMAIL_FILE_PATH that holds a value `scrub`
    blanks (an erased customer's name, address or phone): the mail to them,
    and mail to others that names them. Deleted, not rewritten: a file is a
    copy of a message that was sent (the outbox keeps the message, scrubbed),
    and a rewrite of encoded mail could leave a name behind. A file that
    cannot be read as mail is deleted too, on the side of caution.

    Only the folder's own regular files are read: a link is not followed
    (it may point anywhere), a folder is not entered, a name is opened
    relative to the folder (nothing outside it is reached). Returns how many
    files were deleted."""
    try:
        folder = os.open(settings.EMAIL_FILE_PATH, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    deleted = 0
    try:
        with os.scandir(folder) as entries:
            names = [
                entry.name
                for entry in entries
                if entry.name.endswith(".eml") and entry.is_file(follow_symlinks=False)
            ]
        for name in names:
            content = _read_regular(name, folder)
            if content is None:
                continue
            texts = _texts_of(content)
            if texts is None or any(scrub(text) != text for text in texts):
                try:
                    os.unlink(name, dir_fd=folder)
                except FileNotFoundError:
                    continue  # purged meanwhile
                deleted += 1
    finally:
        os.close(folder)
    return deleted


def _read_regular(name, folder):
    """The bytes of the regular file `name` in the open `folder`, or None if
    it is gone or is not one (a link swapped in meanwhile is not followed; a
    pipe does not block)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None
        return file.read()

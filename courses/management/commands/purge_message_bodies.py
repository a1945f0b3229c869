from django.conf import settings
from django.core.management.base import BaseCommand

from courses.mail import purge_mail_files
from courses.messages import purge_message_bodies


class Command(BaseCommand):
    help = (
        "Delete the texts of messages older than MESSAGE_BODY_DAYS; the record of "
        "what kind of message went to whom and when stays. Also deletes the .eml files "
        "in EMAIL_FILE_PATH (mail written without a mail server) as old. Run daily."
    )

    def handle(self, *args, **options):
        emptied = purge_message_bodies()
        files = purge_mail_files()
        self.stdout.write(
            f"{emptied} message texts and {files} mail files deleted "
            f"(older than {settings.MESSAGE_BODY_DAYS} days)."
        )

from django.conf import settings
from django.core.management.base import BaseCommand

from courses.messages import purge_message_bodies


class Command(BaseCommand):
    help = (
        "Delete the texts of messages older than MESSAGE_BODY_DAYS; the record of "
        "what kind of message went to whom and when stays. Run daily."
    )

    def handle(self, *args, **options):
        emptied = purge_message_bodies()
        self.stdout.write(
            f"{emptied} message texts deleted (older than {settings.MESSAGE_BODY_DAYS} days)."
        )

from django.conf import settings
from django.core.management.base import BaseCommand

from courses.messages import send_reminders


class Command(BaseCommand):
    help = (
        "Write the reminders (muistutus) of courses whose first session starts within "
        "REMINDER_DAYS days; the task worker sends them. Run daily: a participant "
        "never gets the same course's reminder twice."
    )

    def handle(self, *args, **options):
        written = send_reminders()
        self.stdout.write(
            f"{written} reminders written (courses starting within {settings.REMINDER_DAYS} days)."
        )

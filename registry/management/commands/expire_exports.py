from django.conf import settings
from django.core.management.base import BaseCommand

from registry.services import register_exports_expire


class Command(BaseCommand):
    help = (
        "Delete the files of whole-register exports not downloaded within "
        "EXPORT_KEEP_MINUTES (a download deletes its file at once). Run daily, "
        "beside expire_imports; hourly keeps the files for less time."
    )

    def handle(self, *args, **options):
        count = register_exports_expire()
        self.stdout.write(
            f"Deleted the files of {count} exports older than "
            f"{settings.EXPORT_KEEP_MINUTES} minutes."
        )

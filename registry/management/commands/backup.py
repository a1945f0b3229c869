from django.core.management.base import BaseCommand, CommandError

from registry import backups


class Command(BaseCommand):
    help = (
        "Write an encrypted, compressed backup of the whole database into BACKUP_DIR. "
        "--prune removes backups beyond the kept daily and monthly ones, and the "
        "marketing journal's entries that every kept backup holds; --verify FILE "
        "restores FILE into a scratch database and compares row counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--prune", action="store_true", help="Also remove old backups.")
        parser.add_argument("--verify", metavar="FILE", help="Verify this backup instead.")
        parser.add_argument(
            "--generate-key", action="store_true", help="Print a new encryption key."
        )

    def handle(self, *args, **options):
        if options["generate_key"]:
            self.stdout.write(backups.generate_key())
            return
        verify = options["verify"]
        try:
            if verify:
                differences = backups.verify_backup(verify)
                backups.backup_verified(verify, differences)
                if differences:
                    raise CommandError(
                        "The backup does not match its manifest:\n" + "\n".join(differences)
                    )
                self.stdout.write(
                    self.style.SUCCESS(f"{verify}: every table has the rows the manifest records.")
                )
                return
            path, manifest = backups.create_backup()
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        rows = sum(manifest["tables"].values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {path} ({len(manifest['tables'])} tables, {rows} rows)"
            )
        )
        if options["prune"]:
            for deleted in backups.prune():
                self.stdout.write(f"Removed {deleted.name}")
            dropped = backups.prune_marketing_journal()
            self.stdout.write(
                f"Marketing journal: {dropped} entries that every kept backup holds, "
                "or of customers erased since, removed."
            )

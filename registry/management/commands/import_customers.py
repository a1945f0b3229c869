import csv
import datetime
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.exports import neutralise
from registry.imports.analysis import (
    TARGET_LABELS,
    ImportOptions,
    Outcome,
    analyse,
    guess_mapping,
    mapping_problems,
    normalise_header,
    options_problems,
)
from registry.imports.models import CustomerImport
from registry.imports.reading import ImportFileError, read_table
from registry.imports.services import (
    AccountNoLongerAllowed,
    ImportStateError,
    import_apply,
    import_upload,
    rejected_rows_table,
)
from registry.models import Consent, ConsentText, Customer


class Command(BaseCommand):
    help = (
        "Import customers from a CSV or XLSX file, as the import page does: the same "
        "column recognition, validation, duplicate matching and audit trail. "
        "Use --dry-run to see what would happen; nothing is written then."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")
        parser.add_argument(
            "--user", help="User name of the person importing (required without --dry-run)."
        )
        parser.add_argument(
            "--source",
            choices=Customer.Source.values,
            default=Customer.Source.INFORMATION_REQUEST,
            help="How the customer relationships began (default: %(default)s).",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="HEADER=FIELD",
            help="Map a column by hand (FIELD empty to skip it). Fields: "
            + ", ".join(TARGET_LABELS),
        )
        parser.add_argument(
            "--consent-date",
            type=datetime.date.fromisoformat,
            help="Date (YYYY-MM-DD) the consents or objections in the file were given.",
        )
        parser.add_argument(
            "--consent-method", choices=Consent.Method.values, default=Consent.Method.WEB_FORM
        )
        parser.add_argument("--email-text", type=int, help="Version of the email consent wording.")
        parser.add_argument("--sms-text", type=int, help="Version of the SMS consent wording.")
        parser.add_argument(
            "--rejects", type=Path, help="Write the rejected rows (with reasons) to this CSV."
        )

    def handle(self, *args, file, dry_run, user, **options):
        if not dry_run and not user:
            raise CommandError("Give --user (who imports, for the audit trail) or --dry-run.")
        by = None
        if user:
            by = get_user_model().objects.filter(username=user, is_active=True).first()
            if by is None or not by.has_perm("registry.import_customers"):
                raise CommandError(f"No active user {user!r} with the import permission.")
        try:
            content = file.read_bytes()
            table = read_table(content)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        except ImportFileError as error:
            raise CommandError(str(error)) from error
        mapping = self._mapping(table.headers, options["map"])
        import_options = self._options(options)
        problems = [
            *mapping_problems(mapping),
            *options_problems(mapping, import_options).values(),
        ]
        self.stdout.write(f"{file.name}: {len(table.rows)} rows, {table.file_format}")
        for header, target in zip(table.headers, mapping, strict=True):
            shown = TARGET_LABELS[target] if target else "(not imported)"
            self.stdout.write(f"  {header} -> {shown}")
        if problems:
            raise CommandError(" ".join(str(problem) for problem in problems))

        analysis = analyse(table, mapping, import_options)
        for row in analysis.of(Outcome.REJECT):
            self.stdout.write(f"  row {row.number}: " + " ".join(row.reasons))
        for row in analysis.rows:
            if row.warnings:
                self.stdout.write(f"  row {row.number}: " + " ".join(row.warnings))
        counts = analysis.counts
        self.stdout.write(
            f"Added: {counts['create']}, already in the register: {counts['match']}, "
            f"rejected: {counts['reject']}."
        )
        if dry_run:
            self._write_rejects(options["rejects"], table.headers, analysis)
            self.stdout.write("Dry run: nothing was written.")
            return
        with transaction.atomic():
            customer_import = import_upload(
                file_name=file.name, content=content, by=by, check_rows=False
            )
            CustomerImport.objects.filter(pk=customer_import.pk).update(
                mapping=mapping, options=import_options.as_json()
            )
            try:
                done = import_apply(customer_import=customer_import, by=by)
            except (ImportStateError, AccountNoLongerAllowed) as error:
                raise CommandError(str(error)) from error
        if options["rejects"] and done.rejected_rows:
            self._write_csv(options["rejects"], *rejected_rows_table(done))
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported as import #{done.pk}: {done.created_count} customers added."
            )
        )

    def _mapping(self, headers, manual):
        mapping = guess_mapping(headers)
        by_header = {normalise_header(header): index for index, header in enumerate(headers)}
        for item in manual:
            header, sep, target = item.partition("=")
            if not sep or normalise_header(header) not in by_header:
                raise CommandError(f"--map {item!r}: no such column in the file.")
            if target and target not in TARGET_LABELS:
                raise CommandError(f"--map {item!r}: unknown field {target!r}.")
            mapping[by_header[normalise_header(header)]] = target
        return mapping

    def _options(self, options):
        def text(channel, version):
            if version is None:
                return None
            found = ConsentText.objects.filter(channel=channel, version=version).first()
            if found is None:
                raise CommandError(f"No {channel} consent wording version {version}.")
            return found

        return ImportOptions(
            source=options["source"],
            consent_date=options["consent_date"],
            consent_method=options["consent_method"],
            email_text=text("email", options["email_text"]),
            sms_text=text("sms", options["sms_text"]),
        )

    def _write_rejects(self, path, headers, analysis):
        if not path:
            return
        rows = [[*row.cells, " ".join(row.reasons)] for row in analysis.of(Outcome.REJECT)]
        self._write_csv(path, [*headers, "Reason for rejection"], rows)

    def _write_csv(self, path, header, rows):
        with path.open("w", encoding="utf-8-sig", newline="") as target:
            writer = csv.writer(target, delimiter=";")
            writer.writerow([neutralise(cell) for cell in header])
            for row in rows:
                writer.writerow([neutralise(cell) for cell in row])
        self.stdout.write(f"Rejected rows written to {path}.")

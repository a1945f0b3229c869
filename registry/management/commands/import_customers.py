import contextlib
import csv
import datetime
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.exports import neutralise
from registry.forms import GIVEN_BY_METHODS
from registry.imports.analysis import (
    REFUSAL_LABELS,
    TARGET_LABELS,
    ImportOptions,
    Outcome,
    guess_mapping,
    mapping_problems,
    normalise_header,
    options_problems,
)
from registry.imports.reading import ImportFileError, read_table
from registry.imports.services import (
    SAMPLE_ROWS,
    AccountNoLongerAllowed,
    ImportStateError,
    file_rows_decided,
    import_apply,
    import_choices_save,
    import_preview,
    import_preview_kept,
    import_preview_rows,
    import_upload,
    rejected_rows_table,
)
from registry.management.output import counted
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
            "--consent-method",
            choices=[value for value, _label in GIVEN_BY_METHODS],
            default=Consent.Method.WEB_FORM,
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
            # The header and format only: every row is read when it is checked.
            head = read_table(content, first=SAMPLE_ROWS)
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        except ImportFileError as error:
            raise CommandError(str(error)) from error
        mapping = self._mapping(head.headers, options["map"])
        import_options = self._options(options)
        if import_options.date_problem():
            # A consent dated after its import would beat the withdrawals
            # recorded until that day (ImportOptions.consent_moment).
            raise CommandError(
                f"--consent-date {import_options.consent_date.isoformat()} is in the future: "
                "give the day the consents or objections were given (today at the latest)."
            )
        problems = [
            *mapping_problems(mapping),
            *options_problems(mapping, import_options).values(),
        ]
        self.stdout.write(f"{file.name}: {head.file_format}")
        for header, target in zip(head.headers, mapping, strict=True):
            shown = TARGET_LABELS[target] if target else "(not imported)"
            self.stdout.write(f"  {header} -> {shown}")
        if problems:
            raise CommandError(" ".join(str(problem) for problem in problems))
        # As the pages do, a chunk of rows at a time (the whole file's checked
        # rows held at once took 4.6 KB a row, docs/benchmarks.md).
        try:
            if dry_run:
                self._dry_run(content, mapping, import_options, options["rejects"])
                return
            done = self._import(file.name, content, mapping, import_options, by)
        except ImportFileError as error:
            raise CommandError(str(error)) from error
        except (ImportStateError, AccountNoLongerAllowed) as error:
            raise CommandError(str(error)) from error
        if options["rejects"] and done.rejected_rows:
            self._write_csv(options["rejects"], *rejected_rows_table(done))
        said = f"Imported as import #{done.pk}: {counted(done.created_count, 'customer')} added"
        if done.recorded_count:
            said += (
                f", {done.recorded_count} objections or withdrawals recorded for customers "
                "already in the register"
            )
        self.stdout.write(self.style.SUCCESS(f"{said}."))

    def _dry_run(self, content, mapping, import_options, rejects):
        """Check every row as the preview does, writing nothing to the database."""
        table = read_table(content)
        row_count, headers = len(table.rows), table.headers
        counts = dict.fromkeys(Outcome.values, 0)
        recording = 0
        with self._csv(rejects) as writer:
            if writer is not None:
                writer([*headers, "Reason for rejection"])
            for row in file_rows_decided(table, mapping, import_options):
                counts[row.outcome] += 1
                recording += bool(row.refusals)
                recorded = [str(REFUSAL_LABELS[refusal]) for refusal in row.refusals]
                self._report(row.number, row.reasons, row.warnings, recorded)
                if writer is not None and row.outcome == Outcome.REJECT:
                    writer([*row.cells, " ".join(row.reasons)])
        self._summary(row_count, counts, recording)
        if rejects:
            self.stdout.write(f"Rejected rows written to {rejects}.")
        self.stdout.write("Dry run: nothing was written.")

    def _import(self, name, content, mapping, import_options, by):
        """Upload, preview and import as the pages do, in one transaction: a
        failure leaves nothing behind."""
        with transaction.atomic():
            customer_import = import_upload(
                file_name=name, content=content, by=by, check_rows=False
            )
            import_choices_save(
                customer_import=customer_import, mapping=mapping, options=import_options
            )
            counts = import_preview(customer_import, fresh=True)
            preview = import_preview_kept(customer_import)
            for shown in import_preview_rows(customer_import, preview):
                self._report(
                    shown["number"], shown["reasons"], shown["warnings"], shown["recorded"]
                )
            self._summary(customer_import.row_count, counts, preview["recorded"])
            return import_apply(customer_import=customer_import, by=by)

    def _report(self, number, reasons, warnings, recorded):
        for said in (reasons, warnings):
            if said:
                self.stdout.write(f"  row {number}: " + " ".join(said))
        if recorded:
            self.stdout.write(
                f"  row {number}: already in the register; recorded: " + ", ".join(recorded)
            )

    def _summary(self, row_count, counts, recording):
        matched = f"{counts['match']}"
        if recording:
            matched += f" (objections or withdrawals recorded for {recording})"
        self.stdout.write(
            f"{row_count} rows. Added: {counts['create']}, already in the register: "
            f"{matched}, rejected: {counts['reject']}."
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

    @contextlib.contextmanager
    def _csv(self, path):
        """A function writing a row of the CSV file `path` (None: no file)."""
        if not path:
            yield None
            return
        with path.open("w", encoding="utf-8-sig", newline="") as target:
            writer = csv.writer(target, delimiter=";")
            yield lambda row: writer.writerow([neutralise(cell) for cell in row])

    def _write_csv(self, path, header, rows):
        with self._csv(path) as write:
            write(header)
            for row in rows:
                write(row)
        self.stdout.write(f"Rejected rows written to {path}.")

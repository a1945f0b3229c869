"""Bringing an existing register in: customers from a CSV or XLSX file.

The steps, each a function here so that the web pages and
`manage.py import_customers` do the same thing:

1. `read_table`: bytes of an uploaded file -> header and rows of text, or an
   `ImportFileError` saying in plain words what is wrong with the file;
2. `guess_mapping`: the file's headers -> customer fields (Finnish and English);
3. `analyse`: every row -> added, already in the register, or rejected with
   its reasons; the same validation and normalisation as the customer form;
4. `import_apply`: writes the added rows in one transaction (audited);
5. `import_undo`: removes an import's customers that nobody has touched since.
"""

import csv
import datetime
import functools
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field

from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Cast, Upper
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from .audit.models import AuditEvent
from .audit.services import audit_event_create
from .changes import plain_value
from .exports import FORMULA_STARTS
from .forms import CustomerRowValidator
from .models import Consent, ConsentText, Customer, CustomerImport, search_text_of
from .phones import format_phone
from .services import CUSTOMER_FIELDS


class ImportFileError(Exception):
    """A file that cannot be imported; the message says why, for the user."""


# --- What a column can be ---------------------------------------------------

#: Columns a file may hold, in the order the mapping lists them.
TARGETS = [
    ("first_name", gettext_lazy("First name")),
    ("last_name", gettext_lazy("Last name")),
    ("full_name", gettext_lazy("Full name (first and last name in one column)")),
    ("email", gettext_lazy("Email")),
    ("phone", gettext_lazy("Phone")),
    ("street_address", gettext_lazy("Street address")),
    ("postal_code", gettext_lazy("Postal code")),
    ("city", gettext_lazy("City")),
    ("country", gettext_lazy("Country")),
    ("email_consent", gettext_lazy("Email marketing consent (yes/no)")),
    ("sms_consent", gettext_lazy("SMS marketing consent (yes/no)")),
    ("objection", gettext_lazy("Objection to direct marketing (yes/no)")),
]
TARGET_LABELS = dict(TARGETS)


def short_label(target):
    """A target's label without its parenthesis: "Email marketing consent"."""
    return str(TARGET_LABELS[target]).split(" (")[0]


CONSENT_TARGETS = {
    "email_consent": (Consent.Channel.EMAIL, Consent.Event.CONSENT_GIVEN),
    "sms_consent": (Consent.Channel.SMS, Consent.Event.CONSENT_GIVEN),
    "objection": (Consent.Channel.DIRECT_MARKETING, Consent.Event.OBJECTION),
}

#: Headers recognised for each target (compared after `normalise_header`).
HEADER_NAMES = {
    "first_name": ("etunimi", "etunimet", "first name", "firstname", "given name", "forename"),
    "last_name": ("sukunimi", "last name", "lastname", "surname", "family name"),
    "full_name": ("nimi", "koko nimi", "name", "full name", "fullname"),
    "email": (
        "sähköposti",
        "sähköpostiosoite",
        "sähköposti osoite",
        "sahkoposti",
        "s posti",
        "sposti",
        "email",
        "e mail",
        "email address",
        "e mail address",
        "mail",
    ),
    "phone": (
        "puhelin",
        "puhelinnumero",
        "puh",
        "puh nro",
        "matkapuhelin",
        "gsm",
        "kännykkä",
        "phone",
        "phone number",
        "telephone",
        "tel",
        "mobile",
        "mobile phone",
    ),
    "street_address": (
        "katuosoite",
        "osoite",
        "lähiosoite",
        "jakeluosoite",
        "street address",
        "address",
        "street",
        "address line 1",
        "address1",
    ),
    "postal_code": (
        "postinumero",
        "postinro",
        "postal code",
        "zip",
        "zip code",
        "zipcode",
        "postcode",
        "post code",
    ),
    "city": (
        "postitoimipaikka",
        "toimipaikka",
        "kaupunki",
        "paikkakunta",
        "kotikunta",
        "kunta",
        "city",
        "town",
        "post office",
    ),
    "country": ("maa", "valtio", "country"),
    "email_consent": (
        "sähköpostimarkkinointi",
        "sähköpostilupa",
        "markkinointilupa",
        "uutiskirje",
        "newsletter",
        "email consent",
        "email marketing",
        "marketing consent",
        "subscribed",
    ),
    "sms_consent": (
        "tekstiviestimarkkinointi",
        "tekstiviestilupa",
        "sms markkinointi",
        "sms lupa",
        "sms consent",
        "sms marketing",
    ),
    "objection": (
        "suoramarkkinointikielto",
        "markkinointikielto",
        "objection",
        "direct marketing objection",
        "do not contact",
        "do not market",
    ),
}


def normalise_header(text):
    """`Sähköposti-osoite:` -> `sähköposti osoite`; `E_MAIL` -> `e mail`."""
    text = re.sub(r"[\s_.\-/:*()]+", " ", str(text).casefold())
    return " ".join(text.split())


@functools.cache
def _header_lookup():
    lookup = {}
    for target, names in HEADER_NAMES.items():
        for name in names:
            lookup[name] = target
            lookup.setdefault(name.replace(" ", ""), target)
    return lookup


def guess_mapping(headers):
    """A target for each header where it is recognisable, else "" (not imported).
    Each target is given to the first column that claims it."""
    lookup = _header_lookup()
    taken, mapping = set(), []
    for header in headers:
        name = normalise_header(header)
        target = lookup.get(name) or lookup.get(name.replace(" ", ""), "")
        if target in taken:
            target = ""
        taken.add(target)
        mapping.append(target)
    return mapping


# --- Reading files -----------------------------------------------------------


@dataclass
class Table:
    """The cells of a file as text: a header and numbered rows (numbers as a
    spreadsheet shows them: the header is row 1)."""

    headers: list
    rows: list  # of (row number, [cells])
    file_format: str
    encoding: str = ""
    delimiter: str = ""


XLSX_MAGIC = b"PK\x03\x04"
OLD_EXCEL_MAGIC = b"\xd0\xcf\x11\xe0"
DELIMITERS = ";,\t|"
MAX_COLUMNS = 60
MAX_CELL = 1000


def read_table(content, *, max_rows=None, first=None):
    """Read an uploaded CSV or XLSX file. Raises ImportFileError with a plain
    explanation when the file cannot be imported as it is. With `first`, only
    that many rows are read (examples for the mapping page)."""
    limits = Limits(settings.IMPORT_MAX_ROWS if max_rows is None else max_rows, first)
    if not content or not content.strip():
        raise ImportFileError(_("The file is empty."))
    if len(content) > settings.IMPORT_MAX_BYTES:
        raise ImportFileError(too_large_message())
    if content.startswith(XLSX_MAGIC):
        table = _read_xlsx(content, limits)
    elif content.startswith(OLD_EXCEL_MAGIC):
        raise ImportFileError(
            _(
                "This is an Excel 97-2003 file (.xls). Save it in Excel as “Excel workbook "
                "(.xlsx)” or as “CSV UTF-8”, and upload that."
            )
        )
    else:
        table = _read_csv(content, limits)
    if not table.headers or not any(table.headers):
        raise ImportFileError(_("The first row of the file must name the columns."))
    if not table.rows:
        raise ImportFileError(_("The file has a header row but no customers under it."))
    return table


def too_large_message():
    return _("The file is larger than %(size)s MB. Split it into smaller files.") % {
        "size": settings.IMPORT_MAX_BYTES // (1024 * 1024)
    }


def _too_many_rows(max_rows):
    return ImportFileError(
        _("The file has more than %(rows)s rows. Split it into smaller files.")
        % {"rows": f"{max_rows:,}".replace(",", " ")}
    )


def _decode(content):
    """Text of a CSV file: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's
    “Unicode text”), or Windows-1252 as Excel in Finland saves “CSV”."""
    if content.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif content.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "cp1252"]
    for encoding in candidates:
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text or _looks_binary(text):
            break
        return text, encoding
    raise ImportFileError(
        _(
            "The file is not a CSV or XLSX file, or its characters cannot be read. "
            "Save it as “CSV UTF-8” or as an Excel workbook (.xlsx)."
        )
    )


def _looks_binary(text):
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n")
    return controls > len(sample) // 100 + 1


def _read_csv(content, limits):
    text, encoding = _decode(content)
    first, _newline, rest = text.lstrip("\ufeff").partition("\n")
    if re.fullmatch(r"sep=.", first.strip(), flags=re.IGNORECASE):
        # Excel's own hint line ("sep=;"), which Excel does not show as a row.
        delimiter, text = first.strip()[4], rest
    else:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        # Numbered by record, as a spreadsheet numbers its rows (a quoted cell
        # may span lines).
        headers, rows = _header_and_rows(
            ([_cell_text(cell) for cell in record] for record in reader), limits
        )
    except csv.Error as error:
        raise ImportFileError(
            _(
                "Row %(row)s of the file cannot be read: %(error)s. Check the quotation "
                "marks on that row, or save the file again from the spreadsheet."
            )
            % {"row": reader.line_num, "error": error}
        ) from error
    return _table(headers, rows, "csv", encoding, delimiter)


@dataclass(frozen=True)
class Limits:
    max_rows: int
    first: int | None = None  # read only this many rows, without complaint


def _header_and_rows(lines, limits):
    """The first non-empty line is the header; the rest are numbered rows.
    Stops reading at one row over the limit."""
    headers, rows = None, []
    for number, cells in enumerate(lines, start=1):
        if headers is None:
            if any(cells):
                headers = cells
            continue
        if limits.first is not None:
            if len(rows) >= limits.first:
                break
        elif len(rows) >= limits.max_rows:
            raise _too_many_rows(limits.max_rows)
        rows.append((number, cells))
    return headers or [], rows


def _sniff_delimiter(text):
    sample = "\n".join(text.lstrip("\ufeff").splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        first = next((line for line in sample.splitlines() if line.strip()), "")
        counts = {d: first.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


#: A workbook is a zip file; openpyxl holds some of its parts in memory
#: whole, so a small file that unpacks to gigabytes (a "zip bomb") is refused
#: from its table of contents, before anything is unpacked.
MAX_UNPACKED_BYTES = 300 * 1024 * 1024


def _damaged_workbook():
    return ImportFileError(
        _(
            "The workbook is damaged and cannot be read. Open it in Excel and save it "
            "again, or save it as “CSV UTF-8”."
        )
    )


def _read_xlsx(content, limits):
    from openpyxl import load_workbook

    try:
        unpacked = sum(item.file_size for item in zipfile.ZipFile(io.BytesIO(content)).infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise _damaged_workbook() from error
    if unpacked > MAX_UNPACKED_BYTES:
        raise ImportFileError(
            _("The workbook is too large when unpacked. Save it as CSV, or split it.")
        )
    # A damaged or hostile workbook fails in many ways inside openpyxl, when it
    # is opened and row by row: a missing part (KeyError), XML that is not
    # well-formed or expands entities beyond expat's limit (ElementTree's
    # ParseError, a SyntaxError), entities at all (defusedxml, which openpyxl
    # uses when it is installed: EntitiesForbidden, a ValueError), and
    # TypeError, ValueError, IndexError... from the contents. Each is a damaged
    # file to the user.
    try:
        # data_only=False: a formula comes as its text ("=HYPERLINK(…)") and is
        # imported as plain text, never evaluated.
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as error:
        raise _damaged_workbook() from error
    try:
        sheet = workbook.worksheets[0]
        headers, rows = _header_and_rows(
            (
                [_xlsx_cell(value) for value in values[: MAX_COLUMNS + 1]]
                for values in sheet.iter_rows(values_only=True)
            ),
            limits,
        )
    except ImportFileError:
        raise
    except Exception as error:
        raise _damaged_workbook() from error
    finally:
        workbook.close()
    return _table(headers, rows, "xlsx")


def _xlsx_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime.datetime):
        value = value.date() if value.time() == datetime.time() else value
    if isinstance(value, datetime.date):
        return value.isoformat()
    return _cell_text(getattr(value, "text", value))


def _cell_text(value):
    text = " ".join(str(value).split()) if value is not None else ""
    # A leading apostrophe is how our own exports make a cell inert; a file
    # exported here and imported again gets its values back.
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    return text[:MAX_CELL]


def _table(headers, rows, file_format, encoding="", delimiter=""):
    while headers and not headers[-1]:
        headers = headers[:-1]
    if len(headers) > MAX_COLUMNS:
        raise ImportFileError(
            _("The file has more than %(columns)s columns.") % {"columns": MAX_COLUMNS}
        )
    width = len(headers)
    headers = [
        header or _("Column %(number)s") % {"number": i + 1} for i, header in enumerate(headers)
    ]
    rows = [(number, (cells + [""] * width)[:width]) for number, cells in rows if any(cells)]
    return Table(headers, rows, file_format, encoding, delimiter)


# --- Checking rows ------------------------------------------------------------

YES = {"kyllä", "kylla", "k", "joo", "yes", "y", "x", "1", "true", "tosi", "on", "✓", "✔"}
NO = {"", "ei", "e", "no", "n", "0", "false", "epätosi", "off", "-"}


@dataclass
class ImportOptions:
    """What the user states for the whole file."""

    source: str = Customer.Source.INFORMATION_REQUEST
    consent_date: datetime.date | None = None
    consent_method: str = Consent.Method.WEB_FORM
    email_text: ConsentText | None = None
    sms_text: ConsentText | None = None

    def as_json(self):
        return {
            "source": self.source,
            "consent_date": self.consent_date.isoformat() if self.consent_date else "",
            "consent_method": self.consent_method,
            "email_text": self.email_text.pk if self.email_text else None,
            "sms_text": self.sms_text.pk if self.sms_text else None,
        }

    @classmethod
    def from_json(cls, data):
        texts = ConsentText.objects.in_bulk(
            [pk for pk in (data.get("email_text"), data.get("sms_text")) if pk]
        )
        date = data.get("consent_date")
        return cls(
            source=data.get("source") or Customer.Source.INFORMATION_REQUEST,
            consent_date=datetime.date.fromisoformat(date) if date else None,
            consent_method=data.get("consent_method") or Consent.Method.WEB_FORM,
            email_text=texts.get(data.get("email_text")),
            sms_text=texts.get(data.get("sms_text")),
        )

    def consent_moment(self):
        """Noon of the stated day, local time: the ledger needs a time, the
        files usually give a day at most."""
        day = self.consent_date or timezone.localdate()
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


class Outcome(models.TextChoices):
    CREATE = "create", pgettext_lazy("import row", "Added")
    MATCH = "match", pgettext_lazy("import row", "Already in the register")
    REJECT = "reject", pgettext_lazy("import row", "Rejected")


@dataclass(slots=True)
class RowResult:
    number: int
    cells: list
    outcome: str = Outcome.CREATE
    data: dict = field(default_factory=dict)
    consents: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    phone_text: str = ""  # E.164, once valid
    match_id: int | None = None
    match_reason: str = ""

    @property
    def full_name(self):
        return f"{self.data.get('first_name', '')} {self.data.get('last_name', '')}".strip()

    @property
    def phone_shown(self):
        return format_phone(self.phone_text)

    @property
    def consent_labels(self):
        return [short_label(target) for target in self.consents]


@dataclass
class Analysis:
    rows: list

    def count(self, outcome):
        return sum(1 for row in self.rows if row.outcome == outcome)

    @functools.cached_property
    def counts(self):
        return {outcome.value: self.count(outcome) for outcome in Outcome}

    def of(self, outcome):
        return [row for row in self.rows if row.outcome == outcome]


def mapping_problems(mapping):
    """What is wrong with a mapping as a whole, in plain words (empty when usable)."""
    targets = [target for target in mapping if target]
    problems = []
    duplicated = sorted({t for t in targets if targets.count(t) > 1})
    for target in duplicated:
        problems.append(
            _("“%(field)s” is chosen for more than one column.") % {"field": TARGET_LABELS[target]}
        )
    names = set(targets)
    if "full_name" in names and names & {"first_name", "last_name"}:
        problems.append(_("Choose either a full name column or first and last name columns."))
    elif "full_name" not in names and not {"first_name", "last_name"} <= names:
        problems.append(_("Choose the columns of the first and last name (or of the full name)."))
    if not names & {"email", "phone", "street_address"}:
        problems.append(_("Choose at least one column for reaching the customer."))
    return problems


def options_problems(mapping, options):
    """What the user must still state for the consent columns: {option: message}."""
    problems = {}
    if "email_consent" in mapping and options.email_text is None:
        problems["email_text"] = _("Choose the email consent wording the customers agreed to.")
    if "sms_consent" in mapping and options.sms_text is None:
        problems["sms_text"] = _("Choose the SMS consent wording the customers agreed to.")
    if set(mapping) & set(CONSENT_TARGETS) and options.consent_date is None:
        problems["consent_date"] = _("State when the consents or objections were given.")
    return problems


def analyse(table, mapping, options):
    """Decide every row: added, already in the register, or rejected (why)."""
    validator = CustomerRowValidator()
    results = [
        _check_row(number, cells, mapping, options, validator) for number, cells in table.rows
    ]
    _reject_duplicates_within_file(results)
    _match_existing(results)
    return Analysis(results)


def _row_values(cells, mapping):
    values = {}
    for cell, target in zip(cells, mapping, strict=False):
        if target:
            values[target] = cell
    if "full_name" in values:
        values["first_name"], values["last_name"] = split_full_name(values.pop("full_name"))
    return values


def split_full_name(text):
    """`Meikäläinen, Maija` or `Maija Meikäläinen` -> (first, last)."""
    text = " ".join(text.split())
    if "," in text:
        last, _sep, first = text.partition(",")
        return first.strip(), last.strip()
    first, _sep, last = text.rpartition(" ")
    return first, last


@functools.cache
def _country_code(text):
    from django_countries import countries

    text = text.strip()
    if not text:
        return "FI"
    if len(text) == 2 and text.upper() in countries:
        return text.upper()
    for language in ("fi", "en", "sv"):
        code = countries.by_name(text, language=language)
        if code:
            return code
    return None


def _check_row(number, cells, mapping, options, validator):
    values = _row_values(cells, mapping)
    result = RowResult(number=number, cells=cells)
    consents = {target: values.pop(target) for target in list(values) if target in CONSENT_TARGETS}
    data = {name: values.get(name, "") for name in CUSTOMER_FIELDS if name != "source"}
    country = _country_code(data.pop("country"))
    postal_code = data["postal_code"].strip()
    if country == "FI" and postal_code.isdigit() and 3 <= len(postal_code) < 5:
        # A spreadsheet that took 00100 for a number made it 100.
        data["postal_code"] = postal_code.zfill(5)
    if country is None:
        result.reasons.append(
            _("Country: “%(value)s” is not a country.") % {"value": values.get("country")}
        )
        country = ""
    cleaned, errors = validator.validate(data, country=country, source=options.source)
    if cleaned:
        result.data = cleaned
        result.phone_text = str(cleaned["phone"] or "")
    for label, messages in (errors or {}).items():
        result.reasons.extend(f"{label}: {message}" if label else message for message in messages)
    for target, value in consents.items():
        answer = value.strip().casefold()
        if answer in NO:
            continue
        if answer not in YES:
            result.reasons.append(
                _("%(column)s: “%(value)s” is not yes or no.")
                % {"column": short_label(target), "value": value}
            )
            continue
        result.consents.append(target)
    if result.data:
        if "email_consent" in result.consents and not result.data["email"]:
            result.reasons.append(_("Email marketing consent, but no email address."))
        if "sms_consent" in result.consents and not result.phone_text:
            result.reasons.append(_("SMS marketing consent, but no phone number."))
    if result.reasons:
        result.outcome = Outcome.REJECT
        # What the file said, for the preview of a rejected row.
        result.data = {**data, "country": country}
    return result


def _reject_duplicates_within_file(results):
    seen_email, seen_phone = {}, {}
    for row in results:
        if row.outcome == Outcome.REJECT:
            continue
        email = row.data["email"].casefold()
        phone = row.phone_text
        if email and email in seen_email:
            row.outcome = Outcome.REJECT
            row.reasons.append(
                _("The same email address as row %(row)s of this file.")
                % {"row": seen_email[email]}
            )
        elif phone and phone in seen_phone:
            row.outcome = Outcome.REJECT
            row.reasons.append(
                _("The same phone number as row %(row)s of this file.")
                % {"row": seen_phone[phone]}
            )
        else:
            if email:
                seen_email[email] = row.number
            if phone:
                seen_phone[phone] = row.number


def _match_existing(results, chunk=1000):
    """Rows whose email or phone is already in the register are matched to that
    customer and left as they are. A few queries per thousand rows, by index."""
    candidates = [row for row in results if row.outcome == Outcome.CREATE]
    by_email, by_phone = {}, {}
    for start in range(0, len(candidates), chunk):
        part = candidates[start : start + chunk]
        emails = {row.data["email"].upper() for row in part if row.data["email"]}
        phones = {row.phone_text for row in part if row.phone_text}
        if emails:
            found = (
                Customer.objects.annotate(email_upper=Upper("email"))
                .filter(email_upper__in=emails)
                .values_list("email_upper", "pk")
            )
            for email, pk in found.order_by("pk"):
                by_email.setdefault(email, pk)
        if phones:
            # Compared as stored text: the field's own lookup would parse and
            # validate every number again. PostgreSQL still uses the index.
            found = (
                Customer.objects.annotate(phone_text=Cast("phone", models.CharField()))
                .filter(phone_text__in=phones)
                .values_list("phone_text", "pk")
            )
            for phone, pk in found.order_by("pk"):
                by_phone.setdefault(phone, pk)
    for row in candidates:
        email, phone = row.data["email"].upper(), row.phone_text
        if email and email in by_email:
            row.outcome, row.match_id = Outcome.MATCH, by_email[email]
            row.match_reason = _("same email address")
        elif phone and phone in by_phone:
            row.outcome, row.match_id = Outcome.MATCH, by_phone[phone]
            row.match_reason = _("same phone number")


# --- Writing -------------------------------------------------------------------


@transaction.atomic
def import_upload(*, file_name, content, by, request=None):
    """Read an uploaded file and keep it, waiting for the mapping and the
    user's confirmation. Raises ImportFileError for a file that cannot be read."""
    table = read_table(content)
    customer_import = CustomerImport.objects.create(
        created_by=by,
        file_name=plain_file_name(file_name),
        file_format=table.file_format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        content=content,
        headers=table.headers,
        mapping=guess_mapping(table.headers),
        options=ImportOptions().as_json(),
        row_count=len(table.rows),
    )
    audit_event_create(
        action=AuditEvent.Action.IMPORT_UPLOADED,
        by=by,
        target=customer_import,
        request=request,
        detail={"file": customer_import.file_name, "rows": len(table.rows)},
    )
    return customer_import


def plain_file_name(name):
    """A file name as it may be stored and shown: no control characters (a
    name given on the command line may hold a newline; PostgreSQL refuses NUL),
    at most 255 characters."""
    name = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in name)
    return " ".join(name.split())[:255]


def import_table(customer_import, *, first=None):
    return read_table(bytes(customer_import.content), first=first)


def import_preview(customer_import, *, fresh=False):
    """What would happen to each row of a waiting import, for the preview page.

    Checked once per mapping and kept with the file (50,000 rows take about
    ten seconds), so that paging through the preview is quick. Confirming
    checks every row again against the register as it is then.
    """
    kept = customer_import.preview
    if not fresh and kept.get("mapping") == customer_import.mapping:
        return kept
    options = ImportOptions.from_json(customer_import.options)
    analysis = analyse(import_table(customer_import), customer_import.mapping, options)
    preview = {
        "mapping": customer_import.mapping,
        "at": timezone.now().isoformat(),
        "counts": analysis.counts,
        "rows": [_preview_row(row) for row in analysis.rows],
    }
    CustomerImport.objects.filter(
        pk=customer_import.pk, status=CustomerImport.Status.PENDING
    ).update(preview=preview)
    customer_import.preview = preview
    return preview


def _preview_row(row):
    data = row.data
    return {
        "number": row.number,
        "outcome": str(row.outcome),
        "name": row.full_name,
        "email": data.get("email", ""),
        # Valid numbers as people write them; an invalid one as it was typed.
        "phone": row.phone_shown if row.phone_text else str(data.get("phone") or ""),
        "address": " ".join(
            str(data.get(name) or "") for name in ("street_address", "postal_code", "city")
        ).strip(),
        "marketing": ", ".join(row.consent_labels),
        "reasons": row.reasons,
        "match_id": row.match_id,
        "match_reason": str(row.match_reason),
    }


class ImportStateError(Exception):
    """The import is not in a state that allows this (applied twice, expired...)."""


@transaction.atomic
def import_apply(*, customer_import, by, request=None, batch_size=1000):
    """Add the rows that passed, in one transaction; matched rows are left as
    they are, rejected rows are kept for download. Each added customer records
    the import it came from, gets a `customer_created` event, and the consents
    or objections the file gave, with the wording and date the user stated."""
    customer_import = CustomerImport.objects.select_for_update().get(pk=customer_import.pk)
    if customer_import.status != CustomerImport.Status.PENDING or customer_import.content is None:
        raise ImportStateError(_("This import has already been handled."))
    options = ImportOptions.from_json(customer_import.options)
    problems = [
        *mapping_problems(customer_import.mapping),
        *options_problems(customer_import.mapping, options).values(),
    ]
    if problems:
        raise ImportStateError(" ".join(problems))
    analysis = analyse(import_table(customer_import), customer_import.mapping, options)
    now = timezone.now()
    added = analysis.of(Outcome.CREATE)
    # The import's own event first: its address goes on every customer's event.
    event = audit_event_create(
        action=AuditEvent.Action.CUSTOMERS_IMPORTED,
        by=by,
        target=customer_import,
        request=request,
        detail={
            "file": customer_import.file_name,
            "rows": len(analysis.rows),
            "added": len(added),
            "matched": analysis.count(Outcome.MATCH),
            "rejected": analysis.count(Outcome.REJECT),
            "consents": sum(len(row.consents) for row in added),
        },
    )
    # Written a batch at a time, so that memory holds one batch of model
    # objects, not 50,000.
    for start in range(0, len(added), batch_size):
        rows = added[start : start + batch_size]
        customers = Customer.objects.bulk_create(
            [_new_customer(row, customer_import, now) for row in rows]
        )
        Consent.objects.bulk_create(_consents_for(rows, customers, options, by))
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    at=now,
                    actor=by,
                    action=AuditEvent.Action.CUSTOMER_CREATED,
                    target_type="registry.customer",
                    target_id=str(customer.pk),
                    ip_address=event.ip_address,
                    detail={
                        "fields": [f for f in CUSTOMER_FIELDS if plain_value(row.data[f])],
                        "import": customer_import.pk,
                    },
                )
                for row, customer in zip(rows, customers, strict=True)
            ]
        )
    customer_import.status = CustomerImport.Status.APPLIED
    customer_import.applied_at = timezone.now()
    customer_import.row_count = len(analysis.rows)
    customer_import.created_count = len(added)
    customer_import.matched_count = analysis.count(Outcome.MATCH)
    customer_import.rejected_count = analysis.count(Outcome.REJECT)
    customer_import.rejected_rows = [
        {"row": row.number, "cells": row.cells, "reasons": row.reasons}
        for row in analysis.of(Outcome.REJECT)
    ]
    customer_import.content = None  # the file is not kept once imported
    customer_import.preview = {}
    customer_import.save()
    return customer_import


def _new_customer(row, customer_import, now):
    customer = Customer(
        **row.data, imported_in=customer_import, created_at=now, last_activity_at=now
    )
    # What Customer.save() derives; bulk_create does not call save().
    customer.search_text = search_text_of(
        first_name=customer.first_name,
        last_name=customer.last_name,
        email=customer.email,
        phone=row.phone_text,
    )
    return customer


def _consents_for(rows, customers, options, by):
    texts = {"email_consent": options.email_text, "sms_consent": options.sms_text}
    moment = options.consent_moment()
    consents = []
    for row, customer in zip(rows, customers, strict=True):
        for target in row.consents:
            channel, event = CONSENT_TARGETS[target]
            consents.append(
                Consent(
                    customer=customer,
                    channel=channel,
                    event=event,
                    method=options.consent_method,
                    text=texts.get(target),
                    occurred_at=moment,
                    recorded_by=by,
                )
            )
    return consents


@transaction.atomic
def import_cancel(*, customer_import):
    """Drop a waiting import and its file; nothing was written."""
    updated = CustomerImport.objects.filter(
        pk=customer_import.pk, status=CustomerImport.Status.PENDING
    ).update(status=CustomerImport.Status.CANCELLED, content=None, preview={})
    return bool(updated)


class UndoReason(models.TextChoices):
    CHANGED = "changed", gettext_lazy("changed after the import")
    CONSENT = "consent", gettext_lazy("a consent or objection was recorded after the import")
    RELATED = "related", gettext_lazy("enrolled on a course or named in a request since")


@transaction.atomic
def import_undo(*, customer_import, by, request=None):
    """Remove the customers an import added, except those changed since (the
    UI lists them with the reason). Their consents from the import go with
    them. Returns the report: {"removed": n, "gone": n, "kept": {id: reason}}."""
    customer_import = CustomerImport.objects.select_for_update().get(pk=customer_import.pk)
    if not customer_import.can_undo:
        raise ImportStateError(_("This import can no longer be undone."))
    applied_at = customer_import.applied_at
    customers = Customer.objects.select_for_update().filter(imported_in=customer_import)
    ids = set(customers.values_list("pk", flat=True))
    kept = {}
    for pk in customers.filter(updated_at__gt=applied_at).values_list("pk", flat=True):
        kept[pk] = UndoReason.CHANGED
    later_consents = Consent.objects.filter(customer__in=ids, recorded_at__gt=applied_at)
    for pk in later_consents.values_list("customer_id", flat=True):
        kept.setdefault(pk, UndoReason.CONSENT)
    for relation in Customer._meta.related_objects:
        if relation.related_model in (Consent, CustomerImport) or not relation.one_to_many:
            continue
        attached = relation.related_model._base_manager.filter(
            **{f"{relation.field.name}__in": ids}
        ).values_list(relation.field.attname, flat=True)
        for pk in attached:
            kept.setdefault(pk, UndoReason.RELATED)
    removable = ids - set(kept)
    Consent.objects.filter(customer__in=removable).erase()
    Customer.objects.filter(pk__in=removable).delete()
    report = {
        "removed": len(removable),
        # Erased or merged into another record since the import.
        "gone": customer_import.created_count - len(ids),
        "kept": {str(pk): str(reason.value) for pk, reason in sorted(kept.items())},
    }
    customer_import.status = CustomerImport.Status.UNDONE
    customer_import.undone_at = timezone.now()
    customer_import.undone_by = by
    customer_import.undo_report = report
    customer_import.rejected_rows = []
    customer_import.save()
    audit_event_create(
        action=AuditEvent.Action.IMPORT_UNDONE,
        by=by,
        target=customer_import,
        request=request,
        detail={"file": customer_import.file_name, **report},
    )
    return report


def imports_discard_files():
    """Erasure: drop every kept import file and rejected rows, which may hold
    the erased person. A waiting import is cancelled (upload it again)."""
    CustomerImport.objects.filter(status=CustomerImport.Status.PENDING).update(
        status=CustomerImport.Status.CANCELLED, content=None, preview={}
    )
    CustomerImport.objects.exclude(rejected_rows=[]).update(rejected_rows=[])


def imports_scrub(scrub):
    """Erasure: `scrub` (text or list -> the same without the person) over
    what an import keeps that a user named: its file name and column headers.
    Every import's, since a file name cannot be tied to the rows it held."""
    for row in CustomerImport.objects.only("pk", "file_name", "headers").iterator():
        file_name, headers = scrub(row.file_name), scrub(row.headers)
        if file_name != row.file_name or headers != row.headers:
            CustomerImport.objects.filter(pk=row.pk).update(file_name=file_name, headers=headers)


def imports_expire(now=None):
    """Discard what is kept longer than needed: files not confirmed within
    IMPORT_PENDING_HOURS, and rejected rows once the undo period is over."""
    now = now or timezone.now()
    pending_limit = now - timezone.timedelta(hours=settings.IMPORT_PENDING_HOURS)
    cancelled = CustomerImport.objects.filter(
        status=CustomerImport.Status.PENDING, created_at__lt=pending_limit
    ).update(status=CustomerImport.Status.CANCELLED, content=None, preview={})
    undo_limit = now - timezone.timedelta(days=settings.IMPORT_UNDO_DAYS)
    cleared = (
        CustomerImport.objects.filter(applied_at__lt=undo_limit)
        .exclude(rejected_rows=[])
        .update(rejected_rows=[])
    )
    return cancelled, cleared


def rejected_rows_table(customer_import):
    """Header and rows of the rejected rows, as in the file plus the reasons:
    to be fixed in a spreadsheet and imported again."""
    header = [*customer_import.headers, _("Reason for rejection")]
    rows = ([*item["cells"], " ".join(item["reasons"])] for item in customer_import.rejected_rows)
    return header, rows

"""Analysing rows: which customer field each column is, and what would happen
to every row (added, already in the register, or rejected with its reasons),
with the same validation and normalisation as the customer form."""

import collections.abc
import datetime
import functools
import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.db import models
from django.db.models.functions import Cast, Upper
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django_countries import countries

from registry.expressions import OneOf
from registry.forms import CustomerFieldsForm, RememberingPhoneNumber
from registry.models import Consent, ConsentText, Customer
from registry.phones import e164_text, format_phone, parse_phone
from registry.services import CUSTOMER_FIELDS
from registry.suppression import digests_of, suppressed_digests

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

#: What a file's answers record for a customer already in the register: a
#: refusal only (an objection column's yes, a consent column's no that is
#: said), never a consent: a file must not widen marketing for someone the
#: register knows. {refusal: (channel, event)}
REFUSALS = {
    "objection": (Consent.Channel.DIRECT_MARKETING, Consent.Event.OBJECTION),
    "email_withdrawn": (Consent.Channel.EMAIL, Consent.Event.CONSENT_WITHDRAWN),
    "sms_withdrawn": (Consent.Channel.SMS, Consent.Event.CONSENT_WITHDRAWN),
}

REFUSAL_LABELS = {
    "objection": gettext_lazy("Objection to direct marketing"),
    "email_withdrawn": gettext_lazy("Email marketing consent withdrawn"),
    "sms_withdrawn": gettext_lazy("SMS marketing consent withdrawn"),
}

#: The refusal a consent column's no records.
WITHDRAWN_BY = {"email_consent": "email_withdrawn", "sms_consent": "sms_withdrawn"}


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


YES = {"kyllä", "kylla", "k", "joo", "yes", "y", "x", "1", "true", "tosi", "on", "✓", "✔"}


NO = {"", "ei", "e", "no", "n", "0", "false", "epätosi", "off", "-"}

#: A no that is said (not a cell left empty): in a consent column, for a
#: customer already in the register, it withdraws an earlier consent.
SAID_NO = NO - {"", "-"}


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

    # The ledger needs a time; a file gives a day at most, and the latest
    # event wins. Where the order within that day is not known, the refusal
    # wins: a consent of the file is dated at the start of its day (a
    # withdrawal of the same day, recorded before the import or after it, is
    # later), an objection or a withdrawal at its end, and neither after the
    # moment the import records it (an event dated after its recording beat
    # the withdrawals recorded meanwhile, for good).

    def consent_moment(self, now):
        """When a consent of the file happened, for the ledger: the start of
        the stated day, local time, and not after `now` (the import's moment)."""
        day = self.consent_date or timezone.localdate(now)
        return min(timezone.make_aware(datetime.datetime.combine(day, datetime.time())), now)

    def refusal_moment(self, now):
        """When an objection or a withdrawal of the file happened: the end of
        the stated day, but not after `now` (the import's moment)."""
        day = self.consent_date or timezone.localdate(now)
        end = timezone.make_aware(datetime.datetime.combine(day, datetime.time(23, 59, 59)))
        return min(end, now)

    def date_problem(self, today=None):
        """Why the stated date cannot be taken, or "": a day still to come."""
        if self.consent_date and self.consent_date > (today or timezone.localdate()):
            return _("The date cannot be in the future.")
        return ""


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
    # The consent columns as the file gave them, before the suppression list.
    file_consents: list = field(default_factory=list)
    reasons: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    phone_text: str = ""  # E.164, once valid
    match_id: int | None = None
    match_reason: str = ""
    # When the row's email or phone was put on the suppression list (ISO
    # text), if it is on it: a row added gets an objection dated then.
    suppressed_at: str = ""
    # The consent columns the file answers with a no that is said (SAID_NO).
    declined: tuple = ()
    # What is recorded for the customer a row matched (REFUSALS).
    refusals: tuple = ()

    @property
    def suppression_objection(self):
        """Whether adding the row records an objection from the suppression list."""
        return suppression_objection(self.outcome, self.consents, self.suppressed_at)

    @property
    def full_name(self):
        return f"{self.data.get('first_name', '')} {self.data.get('last_name', '')}".strip()

    @property
    def phone_shown(self):
        return format_phone(self.phone_text)

    @property
    def consent_labels(self):
        labels = [short_label(target) for target in self.consents]
        if self.suppression_objection:
            labels.append(_("Objection to direct marketing (suppression list)"))
        return labels


def suppression_objection(outcome, consents, suppressed_at):
    """Whether a row of `outcome`, giving `consents`, whose address was put on
    the suppression list at `suppressed_at` ("" if not), records an objection
    from the list when it is added: unless the file objects already."""
    return outcome == Outcome.CREATE and bool(suppressed_at) and "objection" not in consents


@dataclass
class Analysis:
    rows: list
    options: ImportOptions = field(default_factory=ImportOptions)

    def count(self, outcome):
        return sum(1 for row in self.rows if row.outcome == outcome)

    @functools.cached_property
    def counts(self):
        return {outcome.value: self.count(outcome) for outcome in Outcome}

    def of(self, outcome):
        return [row for row in self.rows if row.outcome == outcome]

    def recording(self):
        """The matched rows that record objections or withdrawals."""
        return [row for row in self.rows if row.refusals]

    def consent_count(self, outcome):
        return sum(len(row.consents) for row in self.rows if row.outcome == outcome)

    def suppression_count(self):
        """The rows added with an objection from the suppression list."""
        return sum(1 for row in self.rows if row.suppression_objection)

    def recorded_count(self):
        """The objections and withdrawals recorded for customers already in
        the register."""
        return sum(len(row.refusals) for row in self.rows)

    @property
    def row_count(self):
        return len(self.rows)

    def rematch(self):
        rematch_existing(self)


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
    elif problem := options.date_problem():
        problems["consent_date"] = problem
    return problems


def analyse(table, mapping, options, *, progress=None):
    """Decide every row: added, already in the register, or rejected (why).
    `progress` (registry.background.Progress) hears of the rows checked."""
    return Analysis(list(decided_rows(table.rows, mapping, options, progress=progress)), options)


#: Rows decided together against the register (customers already in it, the
#: suppression list): a few queries per chunk. The check holds one chunk's
#: rows at a time (see `decided_rows`).
DECIDE_CHUNK = 2000


def decided_rows(rows, mapping, options, *, progress=None, total=None):
    """The RowResult of each (number, cells) of `rows`, in order, decided as
    `analyse` decides them, a chunk of DECIDE_CHUNK rows at a time: what a
    row is depends only on the rows before it in the file (the first of two
    with the same email or phone passes) and on the register, so the caller
    may keep of each row only what it needs, and memory holds one chunk of
    checked rows rather than the whole file's (50,000 rows took 80 MB as
    RowResults). Only a rejected row keeps its cells (for its download).
    `total` is the number of rows, for `progress` (by default len(rows))."""
    validator = CustomerRowValidator()
    within_file = _DuplicatesWithinFile()
    recorded = set()
    total = len(rows) if total is None else total
    chunk = []
    for done, (number, cells) in enumerate(rows, start=1):
        row = _check_row(number, cells, mapping, options, validator)
        within_file.check(row)
        if row.outcome != Outcome.REJECT:
            row.cells = []
        chunk.append(row)
        if len(chunk) == DECIDE_CHUNK:
            yield from against_register(chunk, options, recorded)
            chunk = []
        if progress is not None:
            progress.report(done, total)
    yield from against_register(chunk, options, recorded)


def against_register(rows, options, recorded):
    """Decide checked rows (of a chunk, in the order of the file) against the
    register as it is now: rows whose customer is already in it, the
    suppression list, and what is recorded for the customers matched.
    `recorded` holds what earlier chunks record ({(customer id, channel)}),
    so that two rows of one customer record it once. A few set-based
    queries per chunk. Returns the rows."""
    _match_existing(rows)
    _respect_suppression(rows)
    _refusals_of_matched(rows, options, recorded)
    return rows


def rematch_existing(analysis):
    """Check the rows once more against the register as it is now: match the
    rows to be added with customers added since the rows were checked, look
    them up on the suppression list (addresses put on it since), and decide
    again what is recorded for the customers matched."""
    against_register(analysis.rows, analysis.options, set())
    analysis.__dict__.pop("counts", None)


#: Raised when the stored form of checked rows changes, so that a preview
#: kept by an older version is checked again rather than misread.
CHECKED_VERSION = 3

#: The cleaned fields of a checked row, in the order `checked_rows` keeps them.
CHECKED_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "street_address",
    "postal_code",
    "city",
    "country",
)


def checked_rows(analysis):
    """What the import needs of the preview's check, as JSON: per row its
    number and either its reasons for rejection and its cells, or its cleaned
    fields, phone (E.164 and its parts) and the consent columns of the file.
    What depends only on the file, the mapping and the options (validation,
    duplicates within the file) is not done again; what depends on the
    register (customers already in it, the suppression list) is (see
    `analysis_from_checked`)."""
    return {"version": CHECKED_VERSION, "rows": [checked_row(row) for row in analysis.rows]}


def checked_row(row):
    """One row of `checked_rows`."""
    if row.outcome == Outcome.REJECT:
        return [row.number, row.reasons, row.cells]
    phone = row.data["phone"]
    parts = None
    if row.phone_text:
        parts = [
            phone.country_code,
            phone.national_number,
            phone.italian_leading_zero,
            phone.number_of_leading_zeros,
        ]
    data = [row.data[name] for name in CHECKED_FIELDS]
    return [row.number, None, *data, row.phone_text, parts, row.file_consents, row.declined]


def analysis_from_checked(checked, options):
    """The analysis of a file from the rows the preview checked (see
    `checked_rows`), before what the register decides: its `rematch`
    then matches the rows that passed with customers already in the register
    and looks them up on the suppression list, a few set-based queries per
    thousand rows. None when the kept check is not of this version (then every
    row is checked again). The rows to be added keep no cells: only the
    rejected rows' are kept after the import."""
    if not checked or checked.get("version") != CHECKED_VERSION:
        return None
    return KeptAnalysis(list(checked["rows"]), options)


class KeptAnalysis:
    """The analysis of the rows a preview kept (see `checked_rows`), for an
    import: held as the JSON text of each row, and made into RowResults a
    chunk at a time, when the register decides them (`rematch`) and again
    when they are written (`of`). All of them as RowResults at once took
    85 MB for 50,000 rows; their texts take 14 MB, and decoding them twice
    half a second. The register's decision on each row is kept beside its
    text: what `rematch_existing` changes (REGISTER_DECIDES)."""

    def __init__(self, texts, options):
        # The texts of the rows (or the rows, already decoded).
        self.texts, self.options = texts, options
        self.decided = None  # per row: its values of REGISTER_DECIDES

    @property
    def row_count(self):
        return len(self.texts)

    def rematch(self):
        self.decided = []
        recorded = set()
        for start in range(0, len(self.texts), DECIDE_CHUNK):
            rows = [self._row(index, decided=False) for index in self._chunk(start)]
            against_register(rows, self.options, recorded)
            self.decided.extend(
                tuple(getattr(row, name) for name in REGISTER_DECIDES) for row in rows
            )

    def _decided(self, *names):
        """The values of these fields of REGISTER_DECIDES, per row."""
        places = [REGISTER_DECIDES.index(name) for name in names]
        return ([decided[place] for place in places] for decided in self.decided)

    def count(self, outcome):
        return sum(1 for (decided,) in self._decided("outcome") if decided == outcome)

    @functools.cached_property
    def counts(self):
        return {outcome.value: self.count(outcome) for outcome in Outcome}

    def consent_count(self, outcome):
        decided = self._decided("outcome", "consents")
        return sum(len(consents) for of, consents in decided if of == outcome)

    def suppression_count(self):
        return sum(
            1
            for decided in self._decided("outcome", "consents", "suppressed_at")
            if suppression_objection(*decided)
        )

    def recorded_count(self):
        return sum(len(refusals) for (refusals,) in self._decided("refusals"))

    def of(self, outcome):
        """The rows of `outcome`: a sequence whose items (or slices) are made
        into RowResults when they are read."""
        return _KeptRows(
            self, [i for i, decided in enumerate(self.decided) if decided[0] == outcome]
        )

    def recording(self):
        """The matched rows that record objections or withdrawals."""
        place = REGISTER_DECIDES.index("refusals")
        return _KeptRows(self, [i for i, decided in enumerate(self.decided) if decided[place]])

    def _chunk(self, start):
        return range(start, min(start + DECIDE_CHUNK, len(self.texts)))

    def _row(self, index, *, decided=True):
        item = self.texts[index]
        row = row_from_checked(json.loads(item) if isinstance(item, str) else item, self.options)
        if decided:
            for name, value in zip(REGISTER_DECIDES, self.decided[index], strict=True):
                setattr(row, name, value)
        return row


class _KeptRows(collections.abc.Sequence):
    def __init__(self, analysis, indexes):
        self.analysis, self.indexes = analysis, indexes

    def __len__(self):
        return len(self.indexes)

    def __getitem__(self, key):
        if isinstance(key, slice):
            return [self.analysis._row(index) for index in self.indexes[key]]
        return self.analysis._row(self.indexes[key])


def row_from_checked(item, options):
    """The RowResult of one row of `checked_rows`, before the register decides."""
    if item[1] is not None:
        number, reasons, cells = item
        return RowResult(number=number, cells=cells, outcome=Outcome.REJECT, reasons=reasons)
    number, _reasons, *values, phone_text, parts, consents, declined = item
    row = RowResult(number=number, cells=[])
    row.data = dict(zip(CHECKED_FIELDS, values, strict=True))
    row.data["phone"] = ""
    if parts:
        country_code, national_number, leading_zero, zeros = parts
        row.data["phone"] = RememberingPhoneNumber.checked(
            country_code=country_code,
            national_number=national_number,
            italian_leading_zero=leading_zero,
            leading_zeros=zeros,
        )
    row.data["source"] = options.source
    row.phone_text = phone_text
    row.file_consents, row.consents = consents, list(consents)
    row.declined = tuple(declined)
    return row


#: What the register decides of a checked row (`rematch_existing`), kept
#: beside each row's text by KeptAnalysis, in this order.
REGISTER_DECIDES = (
    "outcome",
    "match_id",
    "match_reason",
    "consents",
    "warnings",
    "suppressed_at",
    "refusals",
)


#: Consents a suppressed address does not get from a file.
SUPPRESSED_CONSENTS = ("email_consent", "sms_consent")


def _respect_suppression(results):
    """Rows whose email or phone is on the suppression list (an erased
    customer objected or withdrew) are warned about, and their consent
    columns are not imported: only staff, recording a consent given again,
    re-enable marketing (registry.suppression). A row added records an
    objection to direct marketing dated when the address was put on the
    list (`suppression_objection`), so that it is on no list either: the
    list does not say which channel was refused, and post and phone are
    opt-out. Decided afresh each time (the rows are checked again when
    imported)."""
    digests = {}
    for row in results:
        if row.outcome == Outcome.REJECT:
            continue
        row.consents, row.suppressed_at = list(row.file_consents), ""
        row.warnings = []
        digests[row.number] = digests_of(email=row.data["email"], valid_e164=row.phone_text)
    found = suppressed_digests({d for values in digests.values() for d in values})
    if not found:
        return
    for row in results:
        on_list = [found[d] for d in digests.get(row.number, ()) if d in found]
        if not on_list:
            continue
        row.suppressed_at = min(on_list).isoformat()
        dropped = [target for target in row.file_consents if target in SUPPRESSED_CONSENTS]
        row.consents = [t for t in row.file_consents if t not in SUPPRESSED_CONSENTS]
        warning = _("This address has asked not to be marketed to.")
        if row.outcome == Outcome.CREATE:
            warning += " " + _("An objection to direct marketing is recorded for it.")
            if dropped:
                warning += " " + _("The marketing consent of the file is not imported for it.")
        row.warnings.append(warning)


def _refusals_of_matched(results, options, recorded):
    """What is recorded for the customer each matched row names: the
    objection and the withdrawals its file gives (REFUSALS), dated at the
    end of the stated day (ImportOptions.refusal_moment), where they change
    the customer's ledger: an objection unless one stands, a withdrawal of a
    consent given; not where the register's latest event of that channel is
    later than the file's (it stands; the row says so). A consent of the
    file is not recorded (the row says so). One query for the chunk: the
    latest events of its customers. `recorded` ({(customer id, channel)})
    is added to, so that a later row of the same customer records nothing
    more."""
    asked = []
    for row in results:
        if row.outcome != Outcome.MATCH:
            row.refusals = ()
            continue
        row.refusals = ()
        if any(target in SUPPRESSED_CONSENTS for target in row.file_consents):
            row.warnings.append(
                _(
                    "The file's marketing consent is not recorded for a customer already in "
                    "the register: record it on the customer's page if the customer gave it."
                )
            )
        wanted = ["objection"] if "objection" in row.file_consents else []
        wanted += [WITHDRAWN_BY[target] for target in row.declined]
        if wanted:
            asked.append((row, wanted))
    if not asked:
        return
    moment = options.refusal_moment(timezone.now())
    latest = {
        (customer, channel): (event, occurred_at)
        for customer, channel, event, occurred_at in Consent.objects.filter(
            customer_id__in={row.match_id for row, _wanted in asked}
        )
        .current()
        .values_list("customer_id", "channel", "event", "occurred_at")
    }
    for row, wanted in asked:
        refusals = []
        for refusal in wanted:
            channel, event = REFUSALS[refusal]
            key = (row.match_id, channel)
            if key in recorded:
                continue
            current, since = latest.get(key, (None, None))
            if event == Consent.Event.OBJECTION:
                changes = current != Consent.Event.OBJECTION
            else:
                changes = current == Consent.Event.CONSENT_GIVEN
            if not changes:
                continue
            if since is not None and since > moment:
                row.warnings.append(
                    _(
                        "“%(refusal)s” of the file is not recorded: the register has a later "
                        "event on that channel."
                    )
                    % {"refusal": REFUSAL_LABELS[refusal]}
                )
                continue
            refusals.append(refusal)
            recorded.add(key)
        row.refusals = tuple(refusals)


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
        result.phone_text = e164_text(cleaned["phone"])
    for label, messages in (errors or {}).items():
        result.reasons.extend(f"{label}: {message}" if label else message for message in messages)
    for target, value in consents.items():
        answer = value.strip().casefold()
        if answer in NO:
            if answer in SAID_NO and target in WITHDRAWN_BY:
                result.declined += (target,)
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
    result.file_consents = list(result.consents)
    if result.reasons:
        result.outcome = Outcome.REJECT
        # What the file said, for the preview of a rejected row.
        result.data = {**data, "country": country}
    return result


class _DuplicatesWithinFile:
    """The second row of a file with an email or phone of an earlier row
    (that passed) is rejected; rows are given in the order of the file."""

    def __init__(self):
        self.seen_email, self.seen_phone = {}, {}

    def check(self, row):
        if row.outcome == Outcome.REJECT:
            return
        email = row.data["email"].casefold()
        phone = row.phone_text
        if email and email in self.seen_email:
            row.outcome = Outcome.REJECT
            row.reasons.append(
                _("The same email address as row %(row)s of this file.")
                % {"row": self.seen_email[email]}
            )
        elif phone and phone in self.seen_phone:
            row.outcome = Outcome.REJECT
            row.reasons.append(
                _("The same phone number as row %(row)s of this file.")
                % {"row": self.seen_phone[phone]}
            )
        else:
            if email:
                self.seen_email[email] = row.number
            if phone:
                self.seen_phone[phone] = row.number


def _match_existing(results):
    """Rows whose email or phone is already in the register are matched to that
    customer, whose data is left as it is (what the file's refusals record
    for them: `_refusals_of_matched`). Two queries, by index. A row matched
    before (a check made outside the import's transaction) is matched
    again: its customer may have been merged away since, and an objection
    written for the id would fail the whole import (the tenth probe)."""
    candidates = [row for row in results if row.outcome in (Outcome.CREATE, Outcome.MATCH)]
    for row in candidates:
        row.outcome, row.match_id, row.match_reason = Outcome.CREATE, None, ""
    by_email, by_phone = _in_register(
        {row.data["email"].upper() for row in candidates if row.data["email"]},
        {row.phone_text for row in candidates if row.phone_text},
    )
    for row in candidates:
        email, phone = row.data["email"].upper(), row.phone_text
        if email and email in by_email:
            row.outcome, row.match_id = Outcome.MATCH, by_email[email]
            row.match_reason = _("same email address")
        elif phone and phone in by_phone:
            row.outcome, row.match_id = Outcome.MATCH, by_phone[phone]
            row.match_reason = _("same phone number")


def _in_register(emails, phones):
    """The customers with these email addresses (upper case) and phone
    numbers (E.164): ({email: id}, {phone: id}), the oldest record of each.
    Two queries, by index."""
    by_email, by_phone = {}, {}
    if emails:
        found = (
            Customer.objects.filter(OneOf(Upper("email"), emails))
            .annotate(email_upper=Upper("email"))
            .values_list("email_upper", "pk")
        )
        for email, pk in found.order_by("pk"):
            by_email.setdefault(email, pk)
    if phones:
        # Compared and read as stored text: the field's own lookup and
        # values would parse and validate every number again.
        found = (
            Customer.objects.filter(OneOf(models.F("phone"), phones))
            .annotate(phone_text=Cast("phone", models.CharField()))
            .values_list("phone_text", "pk")
        )
        for phone, pk in found.order_by("pk"):
            by_phone.setdefault(phone, pk)
    return by_email, by_phone


def customers_named(emails, phones):
    """The ids of the customers in the register whose email address or
    phone number is among these, as a file or a person typed them (any
    case and spacing; a phone in any common way): the customers whom rows
    rejected by an import may name, by the same rule an import matches a row
    to a customer by. A row rejected for one of its cells may still hold a
    customer's address, and the second row of a file with an address is
    rejected as a copy of the first, which may be a customer's."""
    by_email, by_phone = _in_register(
        {email.strip().upper() for email in emails if email and email.strip()},
        {e164 for e164 in map(parse_phone, filter(None, phones)) if e164},
    )
    return {*by_email.values(), *by_phone.values()}


class CustomerRowForm(CustomerFieldsForm):
    """One row of an import: the customer form's fields and rules, except
    country and source, which the import decides (see CustomerRowValidator)."""

    row_country = row_source = ""

    class Meta(CustomerFieldsForm.Meta):
        fields = [name for name in CUSTOMER_FIELDS if name not in ("country", "source")]

    def country_of(self, cleaned):
        return self.row_country

    def _post_clean(self):
        # The model's validation of a row whose fields all passed the form's
        # checks can fail only on what `_model_accepts` checks: without a
        # model instance per row, it takes a third of the time of a preview.
        # Any other row is validated by the model, for its messages.
        if not self._errors and self._model_accepts(self.cleaned_data):
            return
        self.instance = Customer(country=self.row_country, source=self.row_source)
        super()._post_clean()

    @staticmethod
    def _model_accepts(cleaned):
        """What Customer.full_clean() checks of fields the form has cleaned:
        the form's fields already ran the same validators (email, phone) on
        the same values; left are the lengths and blanks after the form's
        clean_<field> methods, and the contact rule."""
        for name, value in cleaned.items():
            field = Customer._meta.get_field(name)
            if not isinstance(value, str):
                continue  # a phone number: E.164 has at most 16 characters
            if (not value and not field.blank) or len(value) > field.max_length:
                return False
        return Customer.has_contact(SimpleNamespace(**cleaned))


class CustomerRowValidator:
    """The customer form's validation for many rows (an import of 50,000).

    Building a form copies all its fields, which costs more than validating
    it; so one form is built and bound to each row in turn. A test holds the
    results equal to those of a new CustomerFieldsForm per row.
    """

    def __init__(self):
        self.form = CustomerRowForm(data={})

    def validate(self, data, *, country, source):
        """(cleaned data, None) or (None, {field label: [messages]})."""
        form = self.form
        form.data = data
        form.row_country, form.row_source = country, source
        form._errors = None  # BaseForm.errors validates again when this is None
        if form.is_valid():
            return {**form.cleaned_data, "country": country, "source": source}, None
        errors = {}
        for name, messages in form.errors.items():
            label = str(form.fields[name].label) if name in form.fields else ""
            errors[label] = list(messages)
        return None, errors

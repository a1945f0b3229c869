"""The access report as a document the customer reads (GDPR art. 15).

`access_report()` (selectors) gives the data with its codes, which the JSON
download keeps. `access_document()` turns the same data into sections of
labelled rows in the customer's language, with local times and every code
in words; the page shows it and `document_pdf()` lays it out as a PDF the
register manager can send. No other part of the register's data has a
printable form (the notice forbids printing the register); the only other
document laid out here is about the register, not of it: the record of
processing activities (registry.reports.processing).
"""

import datetime
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import FontFace

from registry.audit.models import AuditEvent
from registry.models import Consent, Customer, MarketingChannel
from registry.phones import format_phone
from registry.rights.selectors import export_in_words

from .models import DataSubjectRequest
from .services import CASE_NOTES

FONTS = Path(__file__).resolve().parent / "fonts"
#: What stands for a value the register does not hold.
NONE = "\u2013"

#: Rows of the customer section that are no field of Customer.
_CUSTOMER_EXTRA_LABELS = {
    "id": lambda: _("customer number"),
    "created_at": lambda: _("added to the register"),
    "updated_at": lambda: _("last changed"),
    "last_activity_at": lambda: _("last activity"),
    "imported_from": lambda: _("imported from the file"),
}


@dataclass
class Section:
    title: str
    #: Column headings; none for a section of label: value rows.
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    empty: str = ""
    #: Relative widths of the columns in the PDF (even, if none).
    widths: tuple | None = None
    #: Paragraphs shown as a bulleted list, instead of rows.
    items: list = field(default_factory=list)


@dataclass
class Document:
    title: str
    introduction: str
    sections: list
    language: str


def _moment(text, with_time=True):
    """An ISO time of the report as the language writes local time."""
    if not text:
        return NONE
    try:
        moment = datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return str(text)  # not a time after all (an old audit value): as it is
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return formats.date_format(
        moment, "SHORT_DATETIME_FORMAT" if with_time else "SHORT_DATE_FORMAT"
    )


def _choice(model, field_name, value):
    """A stored code (`enrolment_or_purchase`) in words."""
    if not value:
        return NONE
    return str(dict(model._meta.get_field(field_name).flatchoices).get(value, value))


def _channel(value):
    """A marketing list's channel in words: the channels are the core's
    (MarketingChannel), so the report needs nothing of the marketing lists'
    own models."""
    if not value:
        return NONE
    return str(MarketingChannel(value).label) if value in MarketingChannel.values else str(value)


def _field_label(key):
    """A customer field's name as a person reads it: `first_name` is "First
    name"; a name that is no field (an old audit event's) as it is."""
    if key in _CUSTOMER_EXTRA_LABELS:
        label = str(_CUSTOMER_EXTRA_LABELS[key]())
    else:
        try:
            label = str(getattr(Customer._meta.get_field(key), "verbose_name", key))
        except FieldDoesNotExist:
            label = str(key)
    return label[:1].upper() + label[1:]


def _field_value(key, value):
    """A customer field's value in words: times local, the country and how
    the relationship began named, phone numbers as people write them."""
    if key.endswith("_at") or key == "restricted_since":
        value = _moment(value)
    elif key == "country" and value:
        value = str(Customer._meta.get_field("country").countries.name(value)) or value
    elif key == "phone":
        value = format_phone(value)
    elif key == "source":
        value = _choice(Customer, "source", value)
    return str(value) if value not in ("", None) else NONE


def _customer_rows(customer):
    return [
        (_field_label(key), _field_value(key, value))
        for key, value in customer.items()
        if key != "source_label"  # the words of `source`
    ]


def _change_rows(changes):
    """The earlier values of the customer's details, one row per field changed."""
    rows = []
    for change in changes:
        what = _choice(AuditEvent, "action", change["action"])
        if change["request"]:
            what = _("%(action)s, at your request %(reference)s") % {
                "action": what,
                "reference": change["request"],
            }
        rows.append(
            [
                _moment(change["at"]),
                _field_label(change["field"]),
                _field_value(change["field"], change["old"]),
                _field_value(change["field"], change["new"]),
                what,
            ]
        )
    return rows


def _message_text(message):
    """A message's text while it is kept; when it went, after."""
    if message.get("body"):
        return message["body"]
    if message.get("body_deleted_at"):
        return _("Deleted %(date)s (texts are kept %(days)s days)") % {
            "date": _moment(message["body_deleted_at"], with_time=False),
            "days": settings.MESSAGE_BODY_DAYS,
        }
    return NONE


def _case_notes(case):
    """The notes of a request as labelled lines."""
    lines = []
    for name in CASE_NOTES:
        if case.get(name):
            label = str(DataSubjectRequest._meta.get_field(name).verbose_name)
            lines.append(f"{label[:1].upper()}{label[1:]}: {case[name]}")
    return "\n".join(lines) or NONE


def _case_status(case):
    status = _choice(DataSubjectRequest, "status", case["status"])
    if case["completed_on"]:
        return f"{status} {_moment(case['completed_on'], with_time=False)}"
    return status


def _enrollment_status(enrollment_model, enrollment):
    """The status, with the day it changed when that was after the enrolment
    (cancelled 3.4.2027)."""
    status = _choice(enrollment_model, "status", enrollment["status"])
    changed = enrollment.get("status_changed_at")
    if changed and _moment(changed, with_time=False) != _moment(
        enrollment["enrolled_at"], with_time=False
    ):
        return f"{status} {_moment(changed, with_time=False)}"
    return status


def _attendance(enrollment_model, marks):
    """A course's attendance in words: "Came 7, Didn't come 2" (per session
    in the JSON)."""
    if not marks:
        return NONE
    attendance = enrollment_model._meta.get_field("attendances").related_model
    counts = {}
    for mark in marks:
        counts[mark["status"]] = counts.get(mark["status"], 0) + 1
    return ", ".join(
        f"{_choice(attendance, 'status', status)} {count}" for status, count in counts.items()
    )


def access_document(report, language):
    """The report's data as a readable document in `language` (fi or en)."""
    enrollment = Customer._meta.get_field("enrollments").related_model
    message = Customer._meta.get_field("messages").related_model
    with translation.override(language):
        name = f"{report['customer']['first_name']} {report['customer']['last_name']}"
        return Document(
            title=_("Your data in the customer register"),
            introduction=_(
                "Everything %(controller)s's customer register holds about %(name)s, "
                "produced %(when)s at your request (EU General Data Protection "
                "Regulation, article 15)."
            )
            % {
                "controller": report["controller"],
                "name": name,
                "when": _moment(report["generated_at"]),
            },
            language=language,
            sections=[
                Section(_("Your details"), rows=_customer_rows(report["customer"])),
                Section(
                    _("Earlier values of your details"),
                    columns=[_("When"), _("Detail"), _("Before"), _("After"), _("What was done")],
                    rows=_change_rows(report["changes"]),
                    empty=_("Your details have not been changed since they were added."),
                    widths=(18, 16, 24, 24, 18),
                ),
                Section(
                    _("Marketing consents and objections"),
                    columns=[_("When"), _("Channel"), _("What happened"), _("How"), _("Wording")],
                    rows=[
                        [
                            _moment(c["occurred_at"]),
                            _choice(Consent, "channel", c["channel"]),
                            _choice(Consent, "event", c["event"]),
                            _choice(Consent, "method", c["method"]),
                            c["wording"] or NONE,
                        ]
                        for c in report["consents"]
                    ],
                    empty=_("No consents or objections recorded."),
                    widths=(22, 22, 20, 16, 40),
                ),
                *_suppression_sections(report["suppressed_since"]),
                Section(
                    _("Courses"),
                    columns=[
                        _("Course"),
                        _("Starts"),
                        _("Status"),
                        _("Enrolled"),
                        _("Attendance"),
                    ],
                    rows=[
                        [
                            e["course"],
                            _moment(e["starts_at"]),
                            _enrollment_status(enrollment, e),
                            _moment(e["enrolled_at"], with_time=False),
                            _attendance(enrollment, e.get("attendance", [])),
                        ]
                        for e in report["enrollments"]
                    ],
                    empty=_("No courses."),
                    widths=(34, 20, 16, 16, 34),
                ),
                Section(
                    _("Marketing lists you were on"),
                    columns=[_("When"), _("Channel"), _("Purpose"), _("Allowed by")],
                    rows=[
                        [
                            _moment(m["exported_at"]),
                            _channel(m["channel"]),
                            m["purpose"] or NONE,
                            (
                                f"{_choice(Consent, 'event', m['allowed_by']['event'])} "
                                f"{_moment(m['allowed_by']['occurred_at'], with_time=False)}"
                                if m["allowed_by"]
                                else NONE
                            ),
                        ]
                        for m in report.get("marketing_exports", [])
                    ],
                    empty=_("None: your details have not been on any marketing list."),
                    widths=(22, 22, 30, 26),
                ),
                Section(
                    _("Messages sent to you"),
                    columns=[
                        _("When"),
                        _("Message"),
                        # Not the end of a period ("To" of the audit trail's filter).
                        pgettext("message recipient", "To"),
                        _("State"),
                        _("Subject"),
                        _("Text"),
                    ],
                    rows=[
                        [
                            _moment(m["sent_at"] or m["created_at"]),
                            _choice(message, "kind", m["kind"]),
                            m["to"] or NONE,
                            _choice(message, "state", m["state"]),
                            m["subject"] or NONE,
                            _message_text(m),
                        ]
                        for m in report.get("messages", [])
                    ],
                    empty=_("No messages."),
                    widths=(16, 16, 20, 10, 18, 30),
                ),
                Section(
                    _("Your requests about your data"),
                    columns=[_("Request"), _("Received"), _("Deadline"), _("Status"), _("Notes")],
                    rows=[
                        [
                            f"{_choice(DataSubjectRequest, 'kind', c['kind'])} ({c['reference']})",
                            _moment(c["received_on"], with_time=False),
                            _moment(c["deadline"], with_time=False),
                            _case_status(c),
                            _case_notes(c),
                        ]
                        for c in report["requests"]
                    ],
                    empty=_("No requests."),
                    widths=(22, 16, 14, 16, 32),
                ),
                Section(
                    _("Who has handled your data"),
                    columns=[_("When"), _("Who (role)"), _("What was done")],
                    rows=[
                        [
                            _moment(p["at"]),
                            _choice(AuditEvent, "actor_role", p["role"])
                            if p["role"]
                            else _("the register itself"),
                            export_in_words(p["exported"])
                            if p.get("exported")
                            else _choice(AuditEvent, "action", p["action"]),
                        ]
                        for p in report["processing"]
                    ],
                    empty=_("Nobody yet."),
                ),
            ],
        )


def no_data_document(case, language):
    """The answer to an access request of someone the register holds nothing
    about (a case without a customer, closed as done), in `language`."""
    contact = settings.REGISTER_CONTACT_PERSON
    with translation.override(language):
        return Document(
            title=_("Answer to your access request"),
            introduction=_(
                "%(controller)s has searched its customer register for personal data about "
                "%(name)s (%(contact)s), as you asked in the request %(reference)s received "
                "%(received)s (EU General Data Protection Regulation, article 15)."
            )
            % {
                "controller": settings.REGISTER_CONTROLLER["name"],
                "name": case.requester_name,
                "contact": case.requester_contact,
                "reference": case.reference,
                "received": formats.date_format(case.received_on, "SHORT_DATE_FORMAT"),
            },
            language=language,
            sections=[
                Section(
                    _("Answer"),
                    items=[
                        _("The customer register holds no personal data about you."),
                        _(
                            "We keep your request and this answer as the record that it was "
                            "answered; your name and contact details on it are removed "
                            "%(months)s months after the answer."
                        )
                        % {"months": settings.RETENTION_MONTHS},
                        _(
                            "Questions: %(person)s, %(email)s. You also have the right to "
                            "lodge a complaint with the Data Protection Ombudsman."
                        )
                        % {"person": contact["name"], "email": contact["email"]},
                    ],
                )
            ],
        )


def _suppression_sections(since):
    """The suppression list, when one of the customer's addresses is on it."""
    if not since:
        return []
    return [
        Section(
            _("Suppression list of marketing"),
            items=[
                _(
                    "Your email address or phone number has been on the register's "
                    "suppression list since %(date)s: it is used for marketing only with a "
                    "consent recorded after that day. The list holds a keyed hash of the "
                    "address, not the address itself."
                )
                % {"date": _moment(since, with_time=False)}
            ],
        )
    ]


#: A cell longer than this is printed below its table, where it may run over
#: pages (fpdf2 refuses a table row taller than a page).
LONG_CELL = 300
#: The page count's placeholder: random, so that no name can contain it.
_PAGES = f"{{{secrets.token_hex(8)}}}"


@cache
def _glyphs():
    return frozenset(TTFont(FONTS / "DejaVuSans.ttf")["cmap"].getBestCmap())


def _printable(text):
    """The text with each character the font cannot draw as U+FFFD, so that
    nothing disappears without a mark."""
    glyphs = _glyphs()
    return "".join(c if ord(c) in glyphs or c in "\n\t" else "\ufffd" for c in str(text))


class _AccessPDF(FPDF):
    def __init__(self, document):
        super().__init__(format="A4")
        self.document = document
        self.add_font("DejaVu", "", FONTS / "DejaVuSans.ttf")
        self.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold.ttf")
        self.alias_nb_pages(_PAGES)
        self.set_lang(document.language)
        self.set_title(_printable(document.title))
        self.set_author(settings.REGISTER_CONTROLLER["name"])
        self.set_creator("Balansia customer register")
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self):
        self.set_y(-12)
        self.set_font("DejaVu", size=8)
        title = _printable(self.document.title)
        self.cell(0, 5, f"{title} \u00b7 {self.page_no()}/{_PAGES}", align="C")

    def paragraph(self, height, text, **kwargs):
        self.multi_cell(0, height, _printable(text), new_x="LMARGIN", new_y="NEXT", **kwargs)


def document_pdf(document):
    """The document as PDF bytes, in DejaVu Sans (any name's letters). A
    character the font lacks shows as U+FFFD, and the document says so."""
    pdf = _AccessPDF(document)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.paragraph(8, document.title)
    pdf.set_font("DejaVu", size=10)
    pdf.ln(2)
    pdf.paragraph(5, document.introduction, align="L")
    heading = FontFace(emphasis="BOLD", fill_color=(232, 240, 235))
    for section in document.sections:
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 12)
        pdf.paragraph(7, section.title)
        pdf.set_font("DejaVu", size=9)
        for item in section.items:
            pdf.paragraph(5, f"\u2022 {item}", align="L")
        if section.items:
            continue
        if not section.rows:
            pdf.paragraph(5, section.empty)
            continue
        notes = []
        with pdf.table(
            headings_style=heading,
            first_row_as_headings=bool(section.columns),
            col_widths=section.widths or (None if section.columns else (35, 65)),
            line_height=5,
            text_align="LEFT",
        ) as table:
            for row in [section.columns, *section.rows] if section.columns else section.rows:
                cells = table.row()
                for value in row:
                    text = str(value)
                    if len(text) > LONG_CELL:
                        notes.append(text)
                        text = f"[{len(notes)}] {text[:80]}\u2026"
                    cells.cell(_printable(text))
        for number, text in enumerate(notes, start=1):
            pdf.ln(2)
            pdf.paragraph(4.5, f"[{number}] {text}", align="L")
    if any(_printable(text) != text for text in _texts(document)):
        pdf.ln(4)
        pdf.set_font("DejaVu", size=8)
        with translation.override(document.language):
            pdf.paragraph(
                4,
                _(
                    "Some characters could not be drawn in this PDF and are marked "
                    "�; the JSON download holds them as they are."
                ),
            )
    return bytes(pdf.output())


def _texts(document):
    yield document.title
    yield document.introduction
    for section in document.sections:
        yield section.title
        yield from section.items
        for row in [section.columns, *section.rows]:
            yield from (str(value) for value in row)

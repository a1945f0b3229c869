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
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import FontFace

from registry.accounts.roles import ROLE_CODE_LABELS
from registry.audit.models import AuditEvent
from registry.marketing.models import MarketingExport
from registry.models import Consent, Customer
from registry.phones import format_phone

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
    moment = datetime.datetime.fromisoformat(text)
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


def _customer_rows(customer):
    rows = []
    for key, value in customer.items():
        if key == "source_label":
            continue  # the words of `source`, below
        if key in _CUSTOMER_EXTRA_LABELS:
            label = _CUSTOMER_EXTRA_LABELS[key]()
        else:
            label = str(Customer._meta.get_field(key).verbose_name)
        if key.endswith("_at") or key == "restricted_since":
            value = _moment(value)
        elif key == "country":
            value = str(Customer._meta.get_field("country").countries.name(value)) or value
        elif key == "phone":
            value = format_phone(value)
        elif key == "source":
            value = _choice(Customer, "source", value)
        rows.append(
            (label[:1].upper() + label[1:], str(value) if value not in ("", None) else NONE)
        )
    return rows


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
                            _choice(enrollment, "status", e["status"]),
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
                            _choice(MarketingExport, "channel", m["channel"]),
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
                    columns=[_("When"), _("Message"), _("To"), _("State")],
                    rows=[
                        [
                            _moment(m["sent_at"] or m["created_at"]),
                            _choice(message, "kind", m["kind"]),
                            m["to"] or NONE,
                            _choice(message, "state", m["state"]),
                        ]
                        for m in report.get("messages", [])
                    ],
                    empty=_("No messages."),
                    widths=(22, 34, 30, 14),
                ),
                Section(
                    _("Who has handled your data"),
                    columns=[_("When"), _("Who (role)"), _("What was done")],
                    rows=[
                        [
                            _moment(p["at"]),
                            str(ROLE_CODE_LABELS[p["role"]])
                            if p["role"]
                            else _("the register itself"),
                            _choice(AuditEvent, "action", p["action"]),
                        ]
                        for p in report["processing"]
                    ],
                    empty=_("Nobody yet."),
                ),
            ],
        )


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

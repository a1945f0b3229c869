"""The access report as a document the customer reads (GDPR art. 15).

`access_report()` (selectors) gives the data with its codes, which the JSON
download keeps. `access_document()` turns the same data into sections of
labelled rows in the customer's language, with local times and every code
in words; the page shows it and `access_document_pdf()` lays it out as a PDF
the register manager can send. No other part of the register has a printable
form: the notice forbids printing the register.
"""

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from registry.audit.models import AuditEvent
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
        if key.endswith("_at"):
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
                    columns=[_("Course"), _("Starts"), _("Status"), _("Enrolled")],
                    rows=[
                        [
                            e["course"],
                            _moment(e["starts_at"]),
                            _choice(enrollment, "status", e["status"]),
                            _moment(e["enrolled_at"], with_time=False),
                        ]
                        for e in report["enrollments"]
                    ],
                    empty=_("No courses."),
                    widths=(40, 22, 18, 16),
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
                    columns=[_("When"), _("User"), _("What was done")],
                    rows=[
                        [
                            _moment(p["at"]),
                            p["user"] or _("the register itself"),
                            _choice(AuditEvent, "action", p["action"]),
                        ]
                        for p in report["processing"]
                    ],
                    empty=_("Nobody yet."),
                ),
            ],
        )


class _AccessPDF(FPDF):
    def __init__(self, document):
        super().__init__(format="A4")
        self.document = document
        self.add_font("DejaVu", "", FONTS / "DejaVuSans.ttf")
        self.add_font("DejaVu", "B", FONTS / "DejaVuSans-Bold.ttf")
        self.set_lang(document.language)
        self.set_title(document.title)
        self.set_author(settings.REGISTER_CONTROLLER["name"])
        self.set_creator("Balansia customer register")
        self.set_auto_page_break(auto=True, margin=18)

    def footer(self):
        self.set_y(-12)
        self.set_font("DejaVu", size=8)
        self.cell(0, 5, f"{self.document.title} · {self.page_no()}/{{nb}}", align="C")


def access_document_pdf(document):
    """The document as PDF bytes, in DejaVu Sans (any name's letters)."""
    pdf = _AccessPDF(document)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 8, document.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=10)
    pdf.ln(2)
    pdf.multi_cell(0, 5, document.introduction, align="L", new_x="LMARGIN", new_y="NEXT")
    heading = FontFace(emphasis="BOLD", fill_color=(232, 240, 235))
    for section in document.sections:
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 12)
        pdf.multi_cell(0, 7, section.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", size=9)
        if not section.rows:
            pdf.multi_cell(0, 5, section.empty, new_x="LMARGIN", new_y="NEXT")
            continue
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
                    cells.cell(str(value))
    return bytes(pdf.output())

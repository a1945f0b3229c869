"""Everything that comes from outside is shown as text, never as markup.

Each case puts markup into one kind of data (a cell or a header of an
uploaded file, a file name, a customer's name, a course title, a purpose, a
search, a note of a request...) and opens every page that shows it: the
markup must come out escaped. A link or a `<meta http-equiv=refresh>` that
came through would be live in the page (the CSP stops script, not markup).
"""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django_otp.plugins.otp_totp.models import TOTPDevice

from courses.participants import participant_list_export
from registry.accounts.two_factor import qr_svg
from registry.audit.models import AuditEvent
from registry.audit.services import customer_searched
from registry.imports.models import CustomerImport
from registry.imports.services import import_apply, import_upload
from registry.models import ConsentText
from registry.rights.services import case_log, case_update
from registry.services import customer_update, marketing_list_export

from .factories import (
    CourseFactory,
    CustomerFactory,
    EnrollmentFactory,
    MessageFactory,
    UserFactory,
)
from .test_imports import HEADER, csv_bytes, person

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_tasks")]

PAYLOADS = {
    "link": '<a href="https://evil.example">x</a>',
    "refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "attribute": '"><script>alert(1)</script>',
}


def cell_of_a_file(payload, staff):
    """A cell: the example beside its column (a help text) and the preview."""
    rows = [HEADER, person(last=payload), person(first="Toinen", email="toinen@example.invalid")]
    customer_import = import_upload(file_name="lista.csv", content=csv_bytes(rows), by=staff)
    return [customer_import.get_absolute_url()]


def cell_of_a_rejected_row(payload, staff):
    rows = [HEADER, person(), person(first="Hylätty", last=payload, email="hylatty@")]
    customer_import = import_upload(file_name="lista.csv", content=csv_bytes(rows), by=staff)
    import_apply(customer_import=customer_import, by=staff)
    return [customer_import.get_absolute_url()]


def header_of_a_file(payload, staff):
    """A header names a column: the label of its choice on the mapping page."""
    rows = [[*HEADER, payload], [*person(), "jotain"]]
    customer_import = import_upload(file_name="lista.csv", content=csv_bytes(rows), by=staff)
    return [customer_import.get_absolute_url()]


def file_name(payload, staff):
    waiting = import_upload(file_name=payload, content=csv_bytes([HEADER, person()]), by=staff)
    applied = import_upload(
        file_name=payload,
        content=csv_bytes([HEADER, person(email="toinen@example.invalid", phone="")]),
        by=staff,
    )
    import_apply(customer_import=applied, by=staff)
    return [
        waiting.get_absolute_url(),
        applied.get_absolute_url(),
        reverse("registry:import-undo", args=[applied.pk]),
        reverse("registry:import-list"),
        reverse("home"),
        reverse("registry:audit-trail"),
    ]


def customer_fields(payload, staff):
    customer = CustomerFactory(last_name=payload, city=payload, street_address=payload)
    other = CustomerFactory(last_name="Toinen", city="Kaupunki")
    course = CourseFactory()
    EnrollmentFactory(customer=customer, course=course)
    case = case_log(
        customer=customer,
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="henkilökortti",
        by=staff,
    )
    imported = CustomerImport.objects.create(
        created_by=staff,
        file_name="lista.csv",
        file_format="csv",
        status=CustomerImport.Status.UNDONE,
        undo_report={"removed": 0, "gone": 0, "kept": {str(customer.pk): "changed"}},
    )
    return [
        reverse("registry:customer-list"),
        customer.get_absolute_url(),
        reverse("registry:customer-update", args=[customer.pk]),
        reverse("registry:customer-merge-pick", args=[other.pk]) + "?q=" + customer.email,
        reverse("registry:customer-merge-confirm", args=[other.pk, customer.pk]),
        reverse("registry:consent-create", args=[customer.pk]),
        reverse("registry:access-report", args=[customer.pk]),
        reverse("registry:customer-erase", args=[customer.pk]),
        case.get_absolute_url(),
        course.get_absolute_url(),
        course.get_absolute_url() + "?q=" + customer.email,
        imported.get_absolute_url(),
    ]


def changed_value(payload, staff):
    """Old and new values of a change, in the record's history and the trail."""
    customer = CustomerFactory(city="Kaupunki")
    customer_update(customer=customer, data={"city": payload}, by=staff)
    return [
        customer.get_absolute_url(),
        reverse("registry:audit-trail"),
        reverse("registry:access-report", args=[customer.pk]),
    ]


def course_text(payload, staff):
    course = CourseFactory(title=payload, description=payload, location=payload)
    customer = CustomerFactory()
    EnrollmentFactory(customer=customer, course=course)
    return [
        reverse("courses:course-list"),
        course.get_absolute_url(),
        reverse("courses:course-update", args=[course.pk]),
        reverse("courses:participant-export", args=[course.pk]),
        reverse("home"),
        customer.get_absolute_url(),
        reverse("registry:access-report", args=[customer.pk]),
    ]


def typed_in_the_audit_trail(payload, staff):
    """Search words, purposes of exports and user names typed at the login."""
    customer_searched(query=payload, result_count=0, by=staff, request=None)
    marketing_list_export(channel="post", purpose=payload, by=staff)
    participant_list_export(
        course=CourseFactory(),
        columns=["first_name"],
        purpose=payload,
        file_format="csv",
        by=staff,
    )
    AuditEvent.objects.create(action=AuditEvent.Action.LOGIN_FAILED, detail={"username": payload})
    return [reverse("registry:audit-trail"), reverse("registry:audit-user", args=[staff.pk])]


def notes_of_a_request(payload, staff):
    customer = CustomerFactory()
    case = case_log(
        customer=customer,
        kind="access",
        received_on=timezone.localdate(),
        identity_verification=payload,
        by=staff,
    )
    case_update(
        case=case,
        data={"extension_reason": payload, "outcome": payload},
        by=staff,
    )
    return [case.get_absolute_url(), reverse("registry:access-report", args=[customer.pk])]


def consent_wording(payload, staff):
    ConsentText.objects.create(channel="email", version=99, wording=payload)
    customer = CustomerFactory()
    return [reverse("registry:consent-create", args=[customer.pk])]


def account_names(payload, staff):
    UserFactory(first_name=payload, last_name=payload)
    return [reverse("registry:access-review")]


def text_of_a_message(payload, staff):
    """A message from staff holds typed text: the outbox's pages show it as text."""
    message = MessageFactory(subject=payload, body=payload, state="failed", error=payload)
    return [
        reverse("courses:message-detail", args=[message.pk]),
        reverse("courses:outbox"),
        reverse("registry:access-report", args=[message.customer_id]),
    ]


CASES = [
    text_of_a_message,
    cell_of_a_file,
    cell_of_a_rejected_row,
    header_of_a_file,
    file_name,
    customer_fields,
    changed_value,
    course_text,
    typed_in_the_audit_trail,
    notes_of_a_request,
    consent_wording,
    account_names,
]


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_data_is_shown_as_text(client, register_manager, case, payload):
    urls = case(payload, register_manager)
    client.force_login(register_manager)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert payload not in html, f"markup of the data is live on {url}"
        assert escape(payload) in html, f"the data is not shown on {url}"


def test_the_qr_code_is_geometry_only(settings):
    """The one `|safe` of the templates: the QR code of two-factor setup, an
    SVG that segno draws from the otpauth:// address. The address (user name,
    issuer) becomes black and white squares, never text of the SVG."""
    settings.OTP_TOTP_ISSUER = PAYLOADS["link"]
    user = UserFactory(username=PAYLOADS["attribute"])  # the model does not validate
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    svg = qr_svg(device)
    assert set(re.findall(r"<\s*([\w:-]+)", svg)) <= {"svg", "g", "path"}
    assert "evil" not in svg and "script" not in svg


#: Where markup may be declared safe, and why; nowhere else.
ALLOWED_SAFE = {
    # segno's SVG of the QR code: geometry only (test above).
    ("templates/registration/two_factor_setup.html", "{{ qr|safe }}"),
    # The customers' messages are plain text emails (text/plain), never HTML:
    # escaping would put &amp; and &lt; into them. Pages show them escaped.
    ("templates/courses/messages/base.txt", "{% autoescape off %}"),
    # The customer list's rows: the restriction mark by format_html, and each
    # row's values by html.escape, the page then marked safe once (the list is
    # one of the pages test_data_is_shown_as_text opens, and
    # test_every_value_of_a_list_row_is_escaped below checks each cell).
    ("registry/views.py", "format_html"),
    ("registry/views.py", "mark_safe(  # noqa: S308 (each value escaped above)"),
    ("registry/views.py", "from django.utils.safestring import mark_safe"),
    # The reports' table rows, by format_html_join too (test_report_rows_are_escaped
    # in tests/test_reports.py).
    ("registry/templatetags/registry_tags.py", "format_html"),
}
SAFE_MARKERS = re.compile(
    r"mark_safe|SafeString|SafeText|format_html|\|\s*safe\b|autoescape\s+off|"
    r"\{%\s*filter\b|html_safe|__html__|safeseq"
)


def test_nothing_else_is_declared_safe():
    """A new `mark_safe`, `|safe`, `format_html` or `{% autoescape off %}` must
    be looked at (and listed above) before it ships."""
    root = Path(__file__).resolve().parent.parent
    found = set()
    for folder in ("balansia", "registry", "courses", "templates"):
        for path in (root / folder).rglob("*"):
            if path.suffix in {".py", ".html", ".txt"}:
                for line in path.read_text(encoding="utf-8").splitlines():
                    if SAFE_MARKERS.search(line):
                        found.add((str(path.relative_to(root)), line.strip()))
    allowed = {
        (file, line)
        for file, line in found
        if any(file == place and marker in line for place, marker in ALLOWED_SAFE)
    }
    assert found - allowed == set()


def test_every_value_of_a_list_row_is_escaped(client, staff_member):
    """Each cell of the customer list (name, email, city; the phone and the
    day are the register's own formats) comes out escaped, one payload per
    field, the restriction mark staying markup."""
    customer = CustomerFactory(
        first_name='<b id="first">',
        last_name='"><i id="last">',
        email="x@example.invalid",
        city='<u id="city">&amp;',
        restricted_since=timezone.now(),
    )
    client.force_login(staff_member)
    page = client.get(reverse("registry:customer-list")).content.decode()
    for value in (customer.first_name, customer.last_name, customer.city):
        assert escape(value) in page
        assert value not in page
    assert "<b id=" not in page and "<i id=" not in page and "<u id=" not in page
    assert 'class="badge text-bg-warning"' in page

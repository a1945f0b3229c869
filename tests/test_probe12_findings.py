"""The twelfth probe, of what landed late on 29 November (the customer page's
requests, the request update form's requester and identity fields, the
report pages' localized labels, the retention page's forgetting of
requesters, repair_register, restore with hand-edited journals): each
finding's test failed on main before its fix (docs/security.md, "Twelfth
probe"); what held is at the end."""

import csv
import datetime
import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from registry import backups
from registry.audit.models import AuditEvent
from registry.erasure import ERASED
from registry.forms import VersionField
from registry.journal import MarketingJournalError, read_marketing_journal
from registry.models import Consent, Customer
from registry.rights.casejournal import restored_note, restored_requester
from registry.rights.erasure import customer_erase
from registry.rights.forms import CaseWithoutCustomerForm
from registry.rights.models import DataSubjectRequest
from registry.rights.requesters import requesters_forget
from registry.rights.restriction import customer_restrict
from registry.rights.services import case_link, case_log
from registry.services import consent_record, customer_merge

from .factories import CourseFactory, CustomerFactory, DataSubjectRequestFactory
from .restores import restore

LONG_AGO = datetime.date(2020, 1, 1)


def logged_without_customer(by, *, name="Maija Meikalainen", contact="maija@example.invalid"):
    return case_log(
        customer=None,
        kind=DataSubjectRequest.Kind.ACCESS,
        received_on=LONG_AGO,
        identity_verification="Ajokortti nähty toimistolla",
        requester_name=name,
        requester_contact=contact,
        by=by,
    )


def update(client, case, **values):
    """Post the request page's update form as the page shows it, with `values`."""
    case.refresh_from_db()
    data = {
        "status": case.status,
        "identity_verification": case.identity_verification,
        "outcome": case.outcome,
        "deadline": case.deadline.isoformat(),
        "extension_reason": case.extension_reason,
        "version": VersionField.token(case),
    }
    if case.linkable:
        data |= {
            "requester_name": case.requester_name,
            "requester_contact": case.requester_contact,
        }
    return client.post(reverse("registry:request-detail", args=[case.pk]), data | values)


def closed_long_ago(case):
    DataSubjectRequest.objects.filter(pk=case.pk).update(
        status=DataSubjectRequest.Status.DONE,
        completed_on=LONG_AGO + timedelta(days=20),
        outcome=case.outcome or "Vastattu kirjeellä",
    )


def trail_text():
    return json.dumps(
        list(AuditEvent.objects.values_list("detail", flat=True)), ensure_ascii=False
    )


# --- Forgetting a requester: every name and contact the request recorded -----------


@pytest.mark.django_db
def test_forgetting_a_requester_forgets_the_names_and_contacts_the_update_form_recorded(
    client, register_manager
):
    """The update form corrects the requester of a request without a
    customer (a typo, another address), and its audit event keeps the old
    and new values. The retention rule forgot the requester by the name and
    contact the request held at the end: the typo and the old address stayed
    in the trail past the retention period, beside [poistettu]."""
    case = logged_without_customer(
        register_manager, name="Maija Meikalainen", contact="maija.vanha@example.invalid"
    )
    client.force_login(register_manager)
    response = update(
        client,
        case,
        requester_name="Maija Meikäläinen",
        requester_contact="maija.uusi@example.invalid",
        identity_verification="Maija Meikalainen näytti ajokortin",
    )
    assert response.status_code == 302
    closed_long_ago(case)

    assert requesters_forget() == 1

    case.refresh_from_db()
    assert (case.requester_name, case.requester_contact) == (ERASED, ERASED)
    assert "Meikalainen" not in case.identity_verification
    trail = trail_text()
    for value in ("Meikalainen", "Meikäläinen", "maija.vanha", "maija.uusi"):
        assert value not in trail


@pytest.mark.django_db
def test_forgetting_a_requester_forgets_the_search_words_typed_on_the_link_page(
    client, register_manager
):
    """The link page's search for the customer who made the request writes
    its words into the trail (customer_searched, via request_link): they
    stayed past the retention period, naming the requester (the review of
    30 Nov). Another search's words are left to prune_logs."""
    case = logged_without_customer(
        register_manager, name="Maija Meikalainen", contact="maija@example.invalid"
    )
    client.force_login(register_manager)
    link = reverse("registry:request-link", args=[case.pk])
    assert client.get(link, {"q": "Meikalainen Maija"}).status_code == 200
    assert client.get(link, {"q": "maija@example.invalid"}).status_code == 200
    other = client.get(reverse("registry:customer-list"), {"q": "Virtanen"})
    assert other.status_code == 200
    closed_long_ago(case)

    assert requesters_forget() == 1

    searches = AuditEvent.objects.filter(action=AuditEvent.Action.CUSTOMER_SEARCHED)
    linked = searches.filter(detail__via="request_link")
    queries = [event.detail["query"] for event in linked]
    assert len(queries) == 2 and all(ERASED in query for query in queries)
    assert not any("Meikalainen" in query or "maija" in query for query in queries)
    assert all(event.detail["scrubbed_at"] for event in linked)
    assert searches.filter(detail__query="Virtanen").exists()


@pytest.mark.django_db
def test_erasing_a_customer_forgets_the_requester_typed_before_the_request_was_linked(
    client, register_manager
):
    """A request logged without a customer, its requester corrected on the
    update form, then linked to the customer who made it: erasing the
    customer scrubbed the request's events by the customer's own name and
    address, so the requester as first typed (a typo, an old address) stayed
    in the trail of the erased person's request."""
    customer = CustomerFactory(
        first_name="Maija", last_name="Meikäläinen", email="maija.nyt@example.invalid"
    )
    case = logged_without_customer(
        register_manager, name="Maija Meikalainen", contact="maija.vanha@example.invalid"
    )
    client.force_login(register_manager)
    update(client, case, requester_contact="m.meikalainen@example.invalid")
    case_link(case=case, customer=customer, by=register_manager)

    customer_erase(customer=customer, by=register_manager)

    trail = trail_text()
    for value in ("Meikalainen", "meikalainen", "maija.vanha", "maija.nyt"):
        assert value not in trail


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fi", "en"])
def test_the_restored_requesters_placeholder_blanks_no_words_of_the_request(
    register_manager, language
):
    """A request re-created from the journal for someone who was no customer
    says its requester was not kept, in the requester's place. Closed past
    the retention period with that text still there (a restore forgets
    again at once), the rule took the text for a name and blanked its words
    wherever they stood in the request: 'lisää ne [poistettu] pyynnöstä',
    'add them [poistettu] [poistettu] [poistettu] [poistettu]'."""
    with translation.override(language):
        note, placeholder = restored_note(), restored_requester()
    case = DataSubjectRequestFactory(
        customer=None,
        requester_name=placeholder,
        requester_contact="",
        identity_verification=note,
        outcome=note,
        status=DataSubjectRequest.Status.DONE,
        received_on=LONG_AGO,
        completed_on=LONG_AGO + timedelta(days=3),
    )

    assert requesters_forget() == 1

    case.refresh_from_db()
    assert case.requester_name == ERASED
    assert (case.identity_verification, case.outcome) == (note, note)


@pytest.mark.django_db
def test_a_long_note_naming_the_requester_does_not_stop_the_retention_run(
    client, register_manager
):
    """How the identity was verified, now editable, takes 300 characters.
    Forgetting a requester replaced each of their names in the notes by the
    longer [poistettu] without cutting the note to its column: a note near
    its length that named the requester a few times overflowed it, and on
    PostgreSQL the whole retention run failed (DataError), the customers due
    for erasure with it, every month until someone shortened the note; the
    retention page's confirmation answered 500, and a restore stopped at
    its last step."""
    due = CustomerFactory(last_activity_at=timezone.now() - timedelta(days=4 * 365))
    case = logged_without_customer(register_manager, name="Maija Meikalainen")
    client.force_login(register_manager)
    note = ("Maija näytti ajokortin. " * 12).strip()
    assert len(note) <= 300
    assert update(client, case, identity_verification=note).status_code == 302
    closed_long_ago(case)

    call_command("retention", stdout=io.StringIO())

    case.refresh_from_db()
    assert case.requester_name == ERASED
    assert case.identity_verification.startswith(ERASED)
    assert len(case.identity_verification) <= 300
    assert "Maija" not in case.identity_verification
    assert not Customer.objects.filter(pk=due.pk).exists()


# --- Restore: days a case entry holds ------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change",
    [
        {"received_on": "9999-12-01", "deadline": "9999-12-31"},
        {"received_on": "9999-11-15"},
        {"deadline": "9999-01-01"},
        {"completed_on": "9999-12-31", "status": "done"},
    ],
)
def test_a_case_entry_with_a_day_beyond_the_calendar_is_named(settings, register_manager, change):
    """A case entry's days were checked to be ISO days, nothing more. One in
    the last months of year 9999 passed, and the restore re-created the
    request; its update form then answered 500 for any new deadline (the
    three months' limit from receipt lies in year 10000). No day of an
    entry is later than the journals' moments may be (9998)."""
    case_log(
        customer=CustomerFactory(),
        kind="access",
        received_on=datetime.date(2026, 11, 2),
        identity_verification="Ajokortti",
        by=register_manager,
    )
    entries = read_marketing_journal()
    settings.MARKETING_JOURNAL_PATH.write_text(
        "".join(json.dumps({**entry, **change}) + "\n" for entry in entries)
    )
    with pytest.raises(MarketingJournalError, match="Line 1 of the marketing journal"):
        read_marketing_journal()


# --- The update form refused: the page shows the request as it is -------------------


@pytest.mark.django_db
def test_a_refused_update_shows_the_request_as_it_is_not_as_typed(
    client, register_manager, settings
):
    """The form was bound to the page's own request: Django writes the
    posted values into it while it validates, so a refused post (an
    extension without its reason) showed the open request as Done, with the
    requester as typed and the button to download the answer, none of it
    saved."""
    settings.LANGUAGE_CODE = "en"
    case = case_log(
        customer=None,
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="Ajokortti",
        requester_name="Pyytäjä Oikea",
        requester_contact="oikea@example.invalid",
        by=register_manager,
    )
    client.force_login(register_manager)
    deadline = (case.deadline + timedelta(days=10)).isoformat()
    response = update(
        client,
        case,
        status="done",
        requester_name="Väärä Nimi",
        deadline=deadline,
        extension_reason="",
    )
    assert response.status_code == 200
    assert "extension_reason" in response.context["form"].errors
    page = response.content.decode()
    status = re.search(r"Status</dt><dd[^>]*>([^<]*)", page).group(1)
    assert status.strip() == "Open"
    requester = re.search(r"Requester</dt><dd[^>]*>([^<]*)", page).group(1)
    assert requester == "Pyytäjä Oikea"
    assert "Download the answer" not in page
    # What was typed is kept in the form.
    assert 'value="Väärä Nimi"' in page
    case.refresh_from_db()
    assert (case.status, case.requester_name) == ("open", "Pyytäjä Oikea")


# --- Fixed by the lead in registry/rights/forms.py (RequesterFieldsMixin) ----------


@pytest.mark.django_db
def test_a_requester_name_of_invisible_characters_is_refused(client, register_manager):
    """The update form (and the new request form) take as the requester's
    name any text that is not blank to Python's strip(): zero-width
    characters alone pass, and the request then names nobody on its page,
    in its answer and to the search for the customer who made it. A
    customer's name must hold letters (registry.forms.clean_name)."""
    case = logged_without_customer(register_manager)
    client.force_login(register_manager)
    response = update(client, case, requester_name="\u200b\u200d\u2060")
    assert response.status_code == 200
    assert response.context["form"].errors["requester_name"] == ["Kirjoita pyytäjän nimi."]
    response = update(client, case, requester_contact="\u200b \u2060")
    assert response.context["form"].errors["requester_contact"] == [
        "Kirjoita, miten pyytäjän tavoittaa."
    ]
    case.refresh_from_db()
    assert (case.requester_name, case.requester_contact) == (
        "Maija Meikalainen",
        "maija@example.invalid",
    )
    # The same on the new request form; a readable one is kept, its spaces single.
    typed = {"kind": "access", "received_on": LONG_AGO.isoformat(), "identity_verification": "x"}
    form = CaseWithoutCustomerForm(
        {**typed, "requester_name": "\u200b\u200d", "requester_contact": "\u2060"}
    )
    assert set(form.errors) >= {"requester_name", "requester_contact"}
    form = CaseWithoutCustomerForm(
        {**typed, "requester_name": "  Maija \t Meikäläinen ", "requester_contact": "040 123"}
    )
    form.is_valid()
    assert form.cleaned_data["requester_name"] == "Maija Meikäläinen"
    assert form.cleaned_data["requester_contact"] == "040 123"


# --- What held -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_customer_pages_requests_are_the_customers_own_and_shown_to_who_handles_them(
    client, register_manager, staff_member, instructor
):
    """Staff see no requests on the customer page, an instructor no page;
    the register manager sees the customer's own, never another's, those of
    a record merged into them too; merged away or erased, the page is 404.
    The section names no requester and no note."""
    mine, other = CustomerFactory(), CustomerFactory()
    own = case_log(
        customer=mine,
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="<b>Ajokortti</b> Maija",
        by=register_manager,
    )
    theirs = case_log(
        customer=other,
        kind="erasure",
        received_on=timezone.localdate(),
        identity_verification="Passi",
        by=register_manager,
    )
    url = reverse("registry:customer-detail", args=[mine.pk])
    client.force_login(staff_member)
    assert own.reference not in client.get(url).content.decode()
    client.force_login(instructor)
    assert client.get(url).status_code == 403
    client.force_login(register_manager)
    page = client.get(url).content.decode()
    assert own.reference in page and theirs.reference not in page
    assert "<b>Ajokortti" not in page and "Ajokortti" not in page

    customer_merge(keep=other, remove=mine, values={}, by=register_manager)
    assert client.get(url).status_code == 404
    kept = reverse("registry:customer-detail", args=[other.pk])
    with CaptureQueriesContext(connection) as queries:
        page = client.get(kept).content.decode()
    assert own.reference in page and theirs.reference in page
    assert sum("registry_datasubjectrequest" in q["sql"] for q in queries) == 1
    customer_erase(customer=other, by=register_manager)
    assert client.get(kept).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    [
        "x" * 100_000,
        "\u202egnp.exe",
        "a\u200b\u200c\u200db",
        "<img src=x onerror=alert(1)>",
        '=HYPERLINK("http://example.invalid")',
        "%(name)s %s {0}",
    ],
)
def test_the_requester_and_identity_fields_take_hostile_text_without_a_5xx(
    client, register_manager, value
):
    """Each of the update form's texts: 100,000 characters refused (200 or
    300 at most), the rest kept and shown escaped on the request's page and
    in the trail; a NUL is a 400."""
    case = logged_without_customer(register_manager)
    client.force_login(register_manager)
    for field in ("requester_name", "requester_contact", "identity_verification", "outcome"):
        response = update(client, case, **{field: value})
        assert response.status_code in (200, 302)
        if len(value) > 300:
            assert field in response.context["form"].errors
        for url in (
            reverse("registry:request-detail", args=[case.pk]),
            reverse("registry:audit-trail"),
        ):
            page = client.get(url).content.decode()
            assert "<img src=x" not in page
    assert update(client, case, requester_name="a\x00b").status_code == 400


@pytest.mark.django_db
def test_the_requester_fields_change_only_an_open_request_without_a_customer(
    client, register_manager
):
    """Posted for a request of a customer, or a closed one, they are
    ignored: no name is put on a customer's request, none back on a closed
    one."""
    with_customer = case_log(
        customer=CustomerFactory(),
        kind="access",
        received_on=timezone.localdate(),
        identity_verification="Ajokortti",
        by=register_manager,
    )
    closed = logged_without_customer(register_manager, name="Suljettu Pyyntö")
    closed_long_ago(closed)
    client.force_login(register_manager)
    for case in (with_customer, closed):
        response = update(client, case, requester_name="Lisätty Nimi", requester_contact="x@y.fi")
        assert response.status_code == 302
    with_customer.refresh_from_db()
    closed.refresh_from_db()
    assert (with_customer.requester_name, with_customer.requester_contact) == ("", "")
    assert closed.requester_name == "Suljettu Pyyntö"


def post_opened(client, case, version, **values):
    """Post the request page's update form from a page opened at `version`
    (a token), with `values` over the request's values as it was opened."""
    data = {
        "status": "open",
        "identity_verification": "Ajokortti nähty toimistolla",
        "outcome": "",
        "deadline": case.deadline.isoformat(),
        "extension_reason": "",
        "version": version,
    }
    return client.post(reverse("registry:request-detail", args=[case.pk]), data | values)


@pytest.mark.django_db
def test_two_people_correcting_one_requester_do_not_undo_each_other(client, register_manager):
    """The second save from a page opened before the first is refused; the
    form comes back with the first one's requester and the second one's
    own change on top."""
    case = logged_without_customer(register_manager, name="Maija Meikalainen")
    opened = VersionField.token(case)
    client.force_login(register_manager)
    assert update(client, case, requester_contact="uusi@example.invalid").status_code == 302
    response = post_opened(
        client,
        case,
        opened,
        requester_name="Maija Meikalainen",
        requester_contact="maija@example.invalid",
        identity_verification="Passi nähty",
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.conflict is not None
    assert form.initial["requester_contact"] == "uusi@example.invalid"
    assert form.initial["identity_verification"] == "Passi nähty"
    case.refresh_from_db()
    assert case.requester_contact == "uusi@example.invalid"
    assert case.identity_verification == "Ajokortti nähty toimistolla"


@pytest.mark.django_db
def test_a_requester_correction_refused_because_the_request_was_closed_meanwhile_is_shown(
    client, register_manager
):
    """Someone closes the request while another has its page open and
    corrects the requester: the save is refused, and the form comes back
    without the requester's fields (a closed request's requester is not
    changed on it). What was typed there was dropped unseen, though the page
    said it showed the user's own changes (twelfth probe, left to the lead):
    the page now lists it as not saved."""
    case = logged_without_customer(register_manager, name="Maija Meikalainen")
    client.force_login(register_manager)
    page = client.get(reverse("registry:request-detail", args=[case.pk]))
    opened = page.context["form"]["version"].value()
    shown = {  # the values the page opened with, as it posts them back
        name: page.context["form"][name].value()
        for name in ("requester_name", "requester_contact")
    }
    assert 'name="initial-requester_name" value="Maija Meikalainen"' in page.content.decode()
    assert update(client, case, status="done", outcome="Ei tietoja.").status_code == 302
    response = post_opened(
        client,
        case,
        opened,
        **{f"initial-{name}": value for name, value in shown.items()},
        requester_name="Maija Meikäläinen",
        requester_contact="maija@example.invalid",
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert form.conflict is not None
    assert "requester_name" not in form.fields
    assert form.requester_not_saved == [("Pyytäjän nimi", "Maija Meikäläinen")]
    page = response.content.decode()
    assert 'id="requester-not-saved"' in page
    assert "Maija Meikäläinen" in page
    case.refresh_from_db()
    assert (case.status, case.requester_name) == ("done", "Maija Meikalainen")


@pytest.mark.django_db
def test_a_request_linked_meanwhile_lists_no_requester_the_user_left_alone(
    client, register_manager
):
    """Linked to a customer meanwhile, the request's requester fields are
    empty: the untouched name and contact the page posted back are no
    correction, and are not listed as not saved (the review of 30 Nov: they
    were, putting back on screen what the link removed)."""
    case = logged_without_customer(register_manager, name="Maija Meikalainen")
    client.force_login(register_manager)
    page = client.get(reverse("registry:request-detail", args=[case.pk]))
    form = page.context["form"]
    posted = {
        name: form[name].value()
        for name in ("requester_name", "requester_contact", "status", "deadline", "version")
    }
    posted |= {f"initial-{name}": posted[name] for name in ("requester_name", "requester_contact")}
    case_link(case=case, customer=CustomerFactory(), by=register_manager)
    response = client.post(
        reverse("registry:request-detail", args=[case.pk]),
        {**posted, "identity_verification": "Passi nähty", "outcome": "", "extension_reason": ""},
    )
    assert response.status_code == 200
    assert response.context["form"].conflict is not None
    assert response.context["form"].requester_not_saved == []
    assert 'id="requester-not-saved"' not in response.content.decode()


REPORT_VALUES = [
    "",
    "\x00",
    "-1",
    "0",
    "9" * 30,
    "1e309",
    "\uff12\uff10\uff12\uff16-01",  # full-width digits
    "2026-13",
    "-2026-01",
    "0001-01",
    "9999-12",
    "2026-01-01",
    "x" * 10_000,
]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fi", "en"])
def test_the_report_pages_take_hostile_periods_without_a_5xx(client, register_manager, language):
    client.force_login(register_manager)
    client.cookies["django_language"] = language
    urls = [
        reverse("registry:report-customers"),
        reverse("registry:report-consents"),
        reverse("registry:report-requests"),
        reverse("courses:report-courses"),
    ]
    for url in urls:
        for value in REPORT_VALUES:
            for params in (
                {"since": value},
                {"until": value},
                {"since": value, "until": value},
                {"since": value, "csv": "requests"},
                {"csv": value},
            ):
                assert client.get(url, params).status_code in (200, 400, 404)


FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", " =1", "\u00a0=1", "\u3000+1", "\u200b=1", "\uff1d1"]


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["fi", "en"])
def test_every_csv_of_the_course_report_is_inert_with_formula_titles(
    client, register_manager, language
):
    """A course's title is the one typed text in the reports' rows, also as
    the prefix of a dated label (DatedLabel): every cell of every table's
    CSV that a spreadsheet would read as a formula starts with an
    apostrophe; the labels stay ISO."""
    now = timezone.now().replace(microsecond=0)
    for title in FORMULAS:
        start = now - timedelta(days=3)
        CourseFactory(title=title, sessions=[(start, start + timedelta(hours=1))])
        CourseFactory(title=f"{title} 2")
    client.force_login(register_manager)
    client.cookies["django_language"] = language
    page = client.get(reverse("courses:report-courses")).content.decode()
    keys = re.findall(r"csv=([a-z-]+)", page)
    assert len(keys) >= 8
    for key in keys:
        response = client.get(reverse("courses:report-courses"), {"csv": key})
        text = b"".join(response.streaming_content).decode("utf-8-sig")
        for row in csv.reader(io.StringIO(text), delimiter=";"):
            for cell in row:
                first = cell.lstrip(" \u00a0\u3000\u200b")[:1]
                assert first not in set("=+-@\uff1d") or cell.startswith("'"), (key, cell)
                assert not re.search(r"\d{1,2}\.\d{1,2}\.\d{4}", cell)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("backup_key")
def test_duplicate_journal_entries_apply_once(settings, register_manager):
    """Every line of the marketing journal three times (a consent, a
    restriction, a case), restored twice: one objection, one restriction,
    one request."""
    customer = CustomerFactory()
    path, _ = backups.create_backup()
    customer_restrict(customer=customer, by=register_manager)
    consent_record(
        customer=customer,
        channel="direct_marketing",
        event="objection",
        method="in_person",
        by=register_manager,
    )
    case = case_log(
        customer=customer,
        kind="access",
        received_on=datetime.date(2026, 11, 2),
        identity_verification="Ajokortti",
        by=register_manager,
    )
    lines = settings.MARKETING_JOURNAL_PATH.read_text().splitlines(keepends=True)
    settings.MARKETING_JOURNAL_PATH.write_text("".join(lines * 3))
    for _time in range(2):
        restore(path)
        assert DataSubjectRequest.objects.filter(reference=case.reference).count() == 1
        assert Consent.objects.filter(customer_id=customer.pk, event="objection").count() == 1
        assert AuditEvent.objects.filter(action="customer_restricted").count() == 1
        assert Customer.objects.get(pk=customer.pk).restricted_since is not None


@pytest.mark.django_db
def test_an_early_deadline_after_receipt_is_journalled_and_read_back(client, register_manager):
    """The update form takes a deadline moved earlier, down to the day the
    request was received (before it, it is refused: i-polish), with a
    reason: it is journalled, and the journal's check of a case's days lets
    it through. Before receipt the form says so next to the field."""
    case = logged_without_customer(register_manager)
    client.force_login(register_manager)
    response = update(client, case, deadline="0001-01-01", extension_reason="Kirjoitusvirhe")
    assert "deadline" in response.context["form"].errors
    response = update(
        client, case, deadline=LONG_AGO.isoformat(), extension_reason="Kirjoitusvirhe"
    )
    assert response.status_code == 302
    (entry,) = [e for e in read_marketing_journal() if e["reference"] == case.reference][-1:]
    assert entry["deadline"] == LONG_AGO.isoformat()

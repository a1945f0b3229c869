"""A data subject request from someone who is not (or no longer) a customer:
logged from the request list, tracked to its deadline, linked to a customer
later or closed with "no data held" (GDPR art. 12(3), art. 15)."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from registry.audit.models import AuditEvent
from registry.erasure import ERASED
from registry.reports.selectors import rights_report
from registry.reports.tables import Period
from registry.rights.erasure import customer_erase
from registry.rights.forms import CaseWithoutCustomerForm
from registry.rights.models import DataSubjectRequest
from registry.rights.services import case_log

from .factories import CustomerFactory, DataSubjectRequestFactory

pytestmark = pytest.mark.django_db

NAME = "Maija Meikäläinen"
CONTACT = "maija.meikalainen@example.invalid"


def logged(by, **values):
    """A request without a customer, as the service logs it."""
    return case_log(
        customer=None,
        kind=values.pop("kind", DataSubjectRequest.Kind.ACCESS),
        received_on=values.pop("received_on", timezone.localdate()),
        identity_verification=values.pop("identity_verification", "Henkilökortti toimistolla"),
        requester_name=values.pop("requester_name", NAME),
        requester_contact=values.pop("requester_contact", CONTACT),
        by=by,
    )


def form_data(**values):
    return {
        "kind": "access",
        "received_on": timezone.localdate().isoformat(),
        "identity_verification": "Vastaus sähköpostiin, josta pyyntö tuli",
        "requester_name": NAME,
        "requester_contact": CONTACT,
        "submission": CaseWithoutCustomerForm.new_token(),
        **values,
    }


@pytest.fixture
def case(register_manager):
    return logged(register_manager)


# --- Who may ---------------------------------------------------------------------


def new_view_urls(case, customer):
    return [
        reverse("registry:request-create-without-customer"),
        reverse("registry:request-link", args=[case.pk]),
        reverse("registry:request-link-confirm", args=[case.pk, customer.pk]),
    ]


def test_the_new_pages_are_for_the_register_manager_only(
    client, case, staff_member, instructor, register_manager
):
    customer = CustomerFactory()
    urls = new_view_urls(case, customer)
    for url in urls:
        assert client.get(url).url.startswith(reverse("login")), url
    for user in (staff_member, instructor):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, url
    client.force_login(register_manager)
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url


def test_closing_as_no_data_and_the_answer_are_for_the_register_manager_only(
    client, case, staff_member, register_manager
):
    close = reverse("registry:request-close-no-data", args=[case.pk])
    answer = reverse("registry:request-answer", args=[case.pk])
    assert client.post(close).url.startswith(reverse("login"))
    assert client.get(answer).url.startswith(reverse("login"))
    client.force_login(staff_member)
    assert client.post(close).status_code == 403
    assert client.get(answer).status_code == 403
    case.refresh_from_db()
    assert case.is_open
    client.force_login(register_manager)
    # "We hold nothing" is not sent before the case is closed as such.
    assert client.get(answer).status_code == 404
    assert answer not in client.get(case.get_absolute_url()).content.decode()
    assert client.get(close).status_code == 405  # only a POST closes
    assert client.post(close).url == case.get_absolute_url()
    assert answer in client.get(case.get_absolute_url()).content.decode()
    response = client.get(answer)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]


def test_the_request_list_offers_to_log_a_request_without_a_customer(client, register_manager):
    client.force_login(register_manager)
    page = client.get(reverse("registry:request-list")).content.decode()
    assert reverse("registry:request-create-without-customer") in page


# --- Logging ---------------------------------------------------------------------


def test_logging_a_request_without_a_customer(client, register_manager):
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:request-create-without-customer"),
        form_data(received_on="2026-11-20"),
    )
    case = DataSubjectRequest.objects.get()
    assert response.url == case.get_absolute_url()
    assert case.customer is None
    assert (case.requester_name, case.requester_contact) == (NAME, CONTACT)
    assert case.deadline == datetime.date(2026, 12, 20)
    assert case.is_open and case.without_customer
    event = AuditEvent.objects.get(action=AuditEvent.Action.CASE_LOGGED)
    assert event.target_id == str(case.pk)
    # The trail says a request was logged, not about whom.
    assert NAME not in str(event.detail) and CONTACT not in str(event.detail)


def test_the_form_sent_twice_logs_one_request(client, register_manager):
    client.force_login(register_manager)
    data = form_data()
    url = reverse("registry:request-create-without-customer")
    first, second = client.post(url, data), client.post(url, data)
    assert DataSubjectRequest.objects.count() == 1
    assert first.url == second.url == DataSubjectRequest.objects.get().get_absolute_url()


def test_a_form_without_its_token_logs_nothing(client, register_manager):
    client.force_login(register_manager)
    data = form_data()
    del data["submission"]
    response = client.post(reverse("registry:request-create-without-customer"), data)
    assert response.status_code == 200 and not DataSubjectRequest.objects.exists()
    assert NAME in response.content.decode()  # what was typed comes back


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requester_name", ""),
        ("requester_contact", ""),
        ("identity_verification", ""),
        ("requester_name", "M" * 10_000),
        ("requester_contact", "9" * 10_000),
        ("identity_verification", "x" * 10_000),
        ("kind", "everything"),
        ("received_on", "abc"),
        ("received_on", "2026-13-45"),
        ("received_on", "9" * 30),
        ("received_on", "9999-12-31"),  # in the future
    ],
)
def test_hostile_values_answer_a_form_error(client, register_manager, field, value):
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:request-create-without-customer"), form_data(**{field: value})
    )
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not DataSubjectRequest.objects.exists()


@pytest.mark.parametrize("field", ["requester_name", "requester_contact", "kind", "received_on"])
def test_a_nul_character_answers_400_and_logs_nothing(client, register_manager, field):
    """As everywhere in the register (balansia.middleware): never a 500."""
    client.force_login(register_manager)
    response = client.post(
        reverse("registry:request-create-without-customer"), form_data(**{field: "a\x00b"})
    )
    assert response.status_code == 400
    assert not DataSubjectRequest.objects.exists()


def test_several_values_for_a_text_field_take_the_last(client, register_manager):
    client.force_login(register_manager)
    data = form_data()
    data["requester_name"] = ["Maija", "M" * 10_000]  # the last one counts
    response = client.post(reverse("registry:request-create-without-customer"), data)
    assert response.status_code == 200
    assert "requester_name" in response.context["form"].errors


# --- The case's page -------------------------------------------------------------


def test_the_case_says_it_has_no_customer_and_its_reading_is_audited(
    client, case, register_manager
):
    client.force_login(register_manager)
    response = client.get(case.get_absolute_url())
    page = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert NAME in page and CONTACT in page
    assert "Not a customer" in page or "Ei asiakas" in page
    assert reverse("registry:request-link", args=[case.pk]) in page
    assert reverse("registry:request-close-no-data", args=[case.pk]) in page
    viewed = AuditEvent.objects.filter(
        action=AuditEvent.Action.CASE_VIEWED, target_id=str(case.pk), actor=register_manager
    )
    assert viewed.count() == 1
    # The views are not "what was done" for the request.
    assert not any(
        event.action == AuditEvent.Action.CASE_VIEWED for event in response.context["trail"]
    )


def test_the_request_list_does_not_name_the_requester(client, case, register_manager):
    client.force_login(register_manager)
    response = client.get(reverse("registry:request-list"))
    page = response.content.decode()
    assert case.reference in page and NAME not in page and CONTACT not in page
    assert case in response.context["open_cases"]


def test_a_case_of_an_erased_customer_still_says_erased(client, register_manager):
    customer = CustomerFactory()
    erased = DataSubjectRequestFactory(customer=customer, kind="erasure")
    customer_erase(customer=customer, by=register_manager, case=erased)
    erased.refresh_from_db()
    assert not erased.without_customer
    client.force_login(register_manager)
    page = client.get(erased.get_absolute_url()).content.decode()
    assert reverse("registry:request-link", args=[erased.pk]) not in page


# --- Linking to a customer -------------------------------------------------------


def test_the_link_page_finds_customers_by_the_requesters_name_or_contact(
    client, case, register_manager
):
    by_email = CustomerFactory(first_name="Maija", last_name="Virtanen", email=CONTACT)
    by_name = CustomerFactory(first_name="Maija", last_name="Meikäläinen")
    CustomerFactory(first_name="Pekka", last_name="Muukalainen")
    client.force_login(register_manager)
    url = reverse("registry:request-link", args=[case.pk])
    assert set(client.get(url).context["candidates"]) == {by_email, by_name}
    assert list(client.get(url, {"q": "Virtanen"}).context["candidates"]) == [by_email]
    searches = AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_SEARCHED, actor=register_manager
    ).order_by("pk")
    assert [event.detail.get("via") for event in searches] == ["request_link", "request_link"]
    assert searches.last().detail["query"] == "Virtanen"


@pytest.mark.parametrize(
    ("q", "status"), [("\x00", 400), ("a" * 10_000, 200), ("9" * 30, 200), ("²", 200)]
)
def test_the_link_search_takes_hostile_words(client, case, register_manager, q, status):
    client.force_login(register_manager)
    response = client.get(reverse("registry:request-link", args=[case.pk]), {"q": q})
    assert response.status_code == status


def test_linking_moves_the_case_to_the_customer_and_is_audited(client, case, register_manager):
    customer = CustomerFactory(first_name="Maija", last_name="Meikäläinen")
    client.force_login(register_manager)
    url = reverse("registry:request-link-confirm", args=[case.pk, customer.pk])
    page = client.get(url).content.decode()
    assert NAME in page and customer.email in page
    response = client.post(url)
    assert response.url == case.get_absolute_url()
    case.refresh_from_db()
    assert case.customer == customer
    # The customer's record holds how to reach them: the copy goes.
    assert (case.requester_name, case.requester_contact) == ("", "")
    assert not case.without_customer
    linked = AuditEvent.objects.get(action=AuditEvent.Action.CASE_LINKED)
    assert (linked.target_type, linked.target_id) == ("registry.customer", str(customer.pk))
    assert linked.detail == {"case_id": case.pk, "reference": case.reference}
    assert linked in client.get(case.get_absolute_url()).context["trail"]
    # The confirm page showed the customer: a read.
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CUSTOMER_VIEWED,
        target_id=str(customer.pk),
        detail__via="request_link",
    ).exists()
    # The customer's access report now has the request.
    report = client.get(reverse("registry:access-report", args=[customer.pk]), {"format": "json"})
    assert [r["reference"] for r in report.json()["requests"]] == [case.reference]


def test_linking_to_a_missing_customer_answers_404(client, case, register_manager):
    gone = CustomerFactory()
    gone_pk = gone.pk
    gone.delete()
    client.force_login(register_manager)
    for pk in (gone_pk, 2**63 - 1):
        url = reverse("registry:request-link-confirm", args=[case.pk, pk])
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    case.refresh_from_db()
    assert case.customer is None and case.requester_name == NAME
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.CASE_LINKED).exists()


def test_linking_is_refused_to_those_without_the_permission(client, case, staff_member):
    customer = CustomerFactory()
    client.force_login(staff_member)
    url = reverse("registry:request-link-confirm", args=[case.pk, customer.pk])
    assert client.post(url).status_code == 403
    case.refresh_from_db()
    assert case.customer is None


def test_a_case_with_a_customer_or_closed_is_not_linked_again(client, register_manager):
    first, other = CustomerFactory(), CustomerFactory()
    with_customer = DataSubjectRequestFactory(customer=first)
    closed = logged(register_manager)
    DataSubjectRequest.objects.filter(pk=closed.pk).update(status="done")
    client.force_login(register_manager)
    for case in (with_customer, closed):
        url = reverse("registry:request-link-confirm", args=[case.pk, other.pk])
        response = client.post(url)
        assert response.url == case.get_absolute_url()
        assert client.get(reverse("registry:request-link", args=[case.pk])).status_code == 302
    with_customer.refresh_from_db()
    closed.refresh_from_db()
    assert with_customer.customer == first and closed.customer is None


# --- Closing with "no data held" ---------------------------------------------------


def test_an_access_request_without_a_customer_is_closed_as_no_data_held(
    client, case, register_manager
):
    client.force_login(register_manager)
    client.post(reverse("registry:request-close-no-data", args=[case.pk]))
    case.refresh_from_db()
    assert case.status == DataSubjectRequest.Status.DONE
    assert case.completed_on == timezone.localdate()
    assert case.outcome
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.CASE_UPDATED, target_id=str(case.pk)
    ).exists()


def test_only_an_open_access_request_without_a_customer_closes_as_no_data_held(
    client, register_manager
):
    client.force_login(register_manager)
    erasure = logged(register_manager, kind=DataSubjectRequest.Kind.ERASURE)
    of_a_customer = DataSubjectRequestFactory(kind="access")
    for case in (erasure, of_a_customer):
        response = client.post(reverse("registry:request-close-no-data", args=[case.pk]))
        assert response.url == case.get_absolute_url()
        case.refresh_from_db()
        assert case.is_open


def test_the_answer_says_no_data_is_held_in_the_requesters_language(
    client, case, register_manager
):
    client.force_login(register_manager)
    client.post(reverse("registry:request-close-no-data", args=[case.pk]))
    url = reverse("registry:request-answer", args=[case.pk])
    for language, words in (("fi", "ei ole"), ("en", "holds no")):
        response = client.get(url, {"language": language})
        assert response["Content-Disposition"].startswith("attachment;")
        text = " ".join(
            page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages
        )
        assert case.reference in text and "Meik" in text and words in text
    downloads = AuditEvent.objects.filter(
        action=AuditEvent.Action.CASE_ANSWER_EXPORTED, target_id=str(case.pk)
    )
    assert downloads.count() == 2


def test_no_answer_letter_for_a_case_with_a_customer(client, register_manager):
    case = DataSubjectRequestFactory(kind="access")
    client.force_login(register_manager)
    assert client.get(reverse("registry:request-answer", args=[case.pk])).status_code == 404


# --- Erasure, retention, the report ------------------------------------------------


def test_erasing_the_requester_scrubs_the_requester_fields(register_manager):
    case = logged(
        register_manager,
        requester_contact="040 987 6543",
        identity_verification="Maija Meikäläinen näytti henkilökortin",
    )
    other = logged(
        register_manager, requester_name="Pekka Muukalainen", requester_contact="p@x.invalid"
    )
    customer = CustomerFactory(first_name="Maija", last_name="Meikäläinen", phone="+358409876543")
    customer_erase(customer=customer, by=register_manager)
    case.refresh_from_db()
    other.refresh_from_db()
    assert case.requester_name == ERASED
    assert case.requester_contact == ERASED
    assert "Meikäläinen" not in case.identity_verification
    assert other.requester_name == "Pekka Muukalainen"


def test_the_requesters_contact_goes_when_the_closed_case_is_past_retention(
    register_manager, settings
):
    settings.RETENTION_MONTHS = 36
    today = timezone.localdate()
    old = logged(register_manager, identity_verification=f"{CONTACT} vastasi")
    recent = logged(register_manager)
    still_open = logged(register_manager, received_on=today - datetime.timedelta(days=5))
    DataSubjectRequest.objects.filter(pk=old.pk).update(
        status="done", completed_on=today.replace(year=today.year - 4)
    )
    DataSubjectRequest.objects.filter(pk=recent.pk).update(
        status="done", completed_on=today.replace(year=today.year - 2)
    )
    out = io.StringIO()
    call_command("retention", "--dry-run", stdout=out)
    old.refresh_from_db()
    assert old.requester_name == NAME  # a dry run changes nothing
    assert "1 request;" in out.getvalue() and NAME not in out.getvalue()
    call_command("retention", stdout=io.StringIO())
    for case in (old, recent, still_open):
        case.refresh_from_db()
    assert (old.requester_name, old.requester_contact) == (ERASED, ERASED)
    assert CONTACT not in old.identity_verification
    assert old.status == "done" and old.reference  # the case itself stays
    assert recent.requester_name == NAME and still_open.requester_name == NAME
    run = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_RUN)
    assert run.detail["requesters"] == 1


def test_the_retention_page_counts_and_forgets_the_requesters_due(
    client, register_manager, password, settings
):
    """The page, like `manage.py retention`, forgets the requesters of the
    closed requests without a customer past the period: it shows how many
    (never whom: they are not in the register) and forgets them when the
    register manager confirms, even with no customer due."""
    settings.RETENTION_MONTHS = 36
    today = timezone.localdate()
    old = logged(register_manager, identity_verification=f"{CONTACT} vastasi")
    recent = logged(register_manager)
    DataSubjectRequest.objects.filter(pk=old.pk).update(
        status="done", completed_on=today.replace(year=today.year - 4)
    )
    DataSubjectRequest.objects.filter(pk=recent.pk).update(
        status="done", completed_on=today.replace(year=today.year - 2)
    )
    client.force_login(register_manager)
    page = client.get(reverse("registry:retention"))
    assert page.context["requesters"] == 1
    body = page.content.decode()
    assert NAME not in body and CONTACT not in body
    assert 'name="confirmation"' in body  # the form is there, with nobody to tick
    response = client.post(
        reverse("registry:retention"),
        {"password": password, "confirmation": "POISTA"},
        follow=True,
    )
    # Nobody was erased: said about the requesters only ("0 asiakasta
    # poistettu" read as if the erasure had failed).
    told = [str(message) for message in response.context["messages"]]
    assert len(told) == 1 and "pyytäj" in told[0]
    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.requester_name, old.requester_contact) == (ERASED, ERASED)
    assert CONTACT not in old.identity_verification
    assert recent.requester_name == NAME
    run = AuditEvent.objects.get(action=AuditEvent.Action.RETENTION_RUN)
    assert run.actor == register_manager
    assert (run.detail["requesters"], run.detail["erased"]) == (1, 0)
    assert client.get(reverse("registry:retention")).context["requesters"] == 0


def test_the_report_counts_requests_without_a_customer(register_manager):
    received = datetime.date(2025, 1, 10)
    for days in (5, 10, 40):
        case = logged(register_manager, received_on=received)
        DataSubjectRequest.objects.filter(pk=case.pk).update(
            status="done", completed_on=received + datetime.timedelta(days=days)
        )
    tables = rights_report(
        Period(first=datetime.date(2025, 1, 1), last=datetime.date(2025, 2, 1)),
        today=datetime.date(2025, 3, 1),
    )
    answers = {
        str(row[0]): row[1] for table in tables if table.key == "answer-days" for row in table.rows
    }
    # received, answered, median days, longest, answered late, open past the deadline
    assert answers[str(DataSubjectRequest.Kind.ACCESS.label)][:4] == [3, 3, 10, 40]

"""Views of the data subject's rights: the register manager only."""

import copy
import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from registry.accounts.reauth import lockout_after_wrong_password, recent_authentication_required
from registry.audit.services import customer_searched, customer_viewed, customers_listed
from registry.concurrency import CustomerGone, EditConflict
from registry.forms import CustomerFilterForm
from registry.models import Customer
from registry.once import Once

from .documents import access_document, document_pdf, no_data_document
from .erasure import customer_erase
from .forms import (
    AnswerLanguageForm,
    CaseWithoutCustomerForm,
    DataSubjectRequestForm,
    DataSubjectRequestUpdateForm,
    ErasureConfirmForm,
    ReportFormatForm,
    RestrictionLiftForm,
    RetentionChoiceForm,
)
from .models import DataSubjectRequest
from .requesters import requesters_cutoff, requesters_due
from .restriction import RestrictionError, customer_restrict, customer_restriction_lift
from .retention import retention_apply
from .selectors import access_report, case_trail, retention_candidates, retention_cutoff
from .services import (
    CaseRefused,
    access_report_produced,
    case_answer_produced,
    case_close_no_data,
    case_link,
    case_log,
    case_update,
    case_viewed,
)

MANAGER = "registry.handle_data_subject_requests"


@permission_required(MANAGER, raise_exception=True)
@transaction.atomic
def case_list(request):
    """Open requests by deadline, then the closed ones."""
    cases = DataSubjectRequest.objects.select_related("customer", "handled_by")
    open_cases = list(cases.open().order_by("deadline", "id"))
    closed_cases = list(
        cases.exclude(pk__in=cases.open().values("pk")).order_by("-completed_on", "-id")[:100]
    )
    # The list names the customers (and that they made a request): a list read.
    shown = {case.customer_id for case in [*open_cases, *closed_cases]} - {None}
    customers_listed(
        ids=shown,
        via="requests",
        by=request.user,
        request=request,
    )
    return render(
        request,
        "registry/request_list.html",
        {"open_cases": open_cases, "closed_cases": closed_cases},
    )


def _case_logged(request, form, *, customer=None):
    """Log the case of a valid form with its token, once; the answer to give,
    or None when the form is to be shown (again)."""
    if not (request.method == "POST" and form.is_valid() and form.has_token):
        # Made by hand, or a page from yesterday: nothing is logged; what was
        # typed comes back with a token (the view shows it).
        if form.is_bound and not form.has_token and form.is_valid():
            messages.warning(request, _("Check the request and log it again."))
        return None
    once = Once(request, form)
    # Taken in the case's transaction (registry.once): the page sent twice
    # (a double click) logs one case and takes the second post to it.
    already = once.answer_if_sent_again(
        request,
        _("The request was already logged: the form was sent twice."),
        found_in=DataSubjectRequest.objects.all(),
        otherwise=customer or "registry:request-list",
    )
    if already:
        return already
    data = form.cleaned_data
    case = case_log(
        customer=customer,
        kind=data["kind"],
        received_on=data["received_on"],
        identity_verification=data["identity_verification"],
        requester_name=data.get("requester_name", ""),
        requester_contact=data.get("requester_contact", ""),
        by=request.user,
        request=request,
    )
    once.saved(case.pk)
    messages.success(
        request,
        _("Request %(reference)s logged; deadline %(date)s.")
        % {"reference": case.reference, "date": date_format(case.deadline, "SHORT_DATE_FORMAT")},
    )
    return redirect(case)


@permission_required([MANAGER, "registry.view_customer"], raise_exception=True)
@transaction.atomic
def case_create(request, pk):
    """Log a request of the customer `pk`."""
    customer = get_object_or_404(Customer, pk=pk)
    form = DataSubjectRequestForm(
        request.POST or None, initial={"received_on": timezone.localdate()}
    )
    if (answer := _case_logged(request, form, customer=customer)) is not None:
        return answer
    if form.is_bound and not form.has_token:
        form = form.with_new_token()
    customer_viewed(customer=customer, by=request.user, request=request, via="request")
    return render(request, "registry/request_form.html", {"customer": customer, "form": form})


@permission_required(MANAGER, raise_exception=True)
@transaction.atomic
def case_create_without_customer(request):
    """Log a request of someone who is no customer, or no longer (erased, or
    only in an import's rejected rows, a search or a message): the register
    manager. Its deadline counts as any request's; it can be linked to a
    customer later."""
    form = CaseWithoutCustomerForm(
        request.POST or None, initial={"received_on": timezone.localdate()}
    )
    if (answer := _case_logged(request, form)) is not None:
        return answer
    if form.is_bound and not form.has_token:
        form = form.with_new_token()
    return render(request, "registry/request_form.html", {"customer": None, "form": form})


@permission_required(MANAGER, raise_exception=True)
@transaction.atomic
def case_detail(request, pk):
    """A case: what was asked, its deadline, what was done (from the audit trail)."""
    case = get_object_or_404(DataSubjectRequest.objects.select_related("customer"), pk=pk)
    # The form on its own copy: a ModelForm writes the posted values into its
    # instance while it validates, and the page showed a refused post's as
    # the request's (an open request as done, with its answer to download:
    # the twelfth probe).
    form = DataSubjectRequestUpdateForm(request.POST or None, instance=copy.copy(case))
    if request.method == "POST" and form.is_valid():
        try:
            case_update(
                case=case,
                data=form.cleaned_data,
                by=request.user,
                request=request,
                version=form.cleaned_data["version"],
            )
        except EditConflict as conflict:
            # Someone saved first: show what they changed, keep what this user typed.
            case, form = conflict.record, form.after_conflict(conflict)
        else:
            messages.success(request, _("Request updated."))
            return redirect(case)
    if case.customer is not None:
        customer_viewed(customer=case.customer, by=request.user, request=request, via="request")
    elif case.without_customer:
        case_viewed(case=case, by=request.user, request=request)
    return render(
        request,
        "registry/request_detail.html",
        {"case": case, "form": form, "trail": case_trail(case)},
    )


def _requester_matches(case):
    """Customers who may be the requester: by the words of the name, or by
    the contact as an email address or phone number."""
    found = Customer.objects.none()
    for words in (case.requester_name, case.requester_contact):
        if words.strip():
            found |= Customer.objects.search(words)
    return found


@permission_required([MANAGER, "registry.view_customer"], raise_exception=True)
@transaction.atomic
def case_link_pick(request, pk):
    """Find the customer who made a request logged without one: the register
    manager. Without search words, those who match the requester's name or
    contact; the list is a read of them."""
    case = get_object_or_404(DataSubjectRequest, pk=pk)
    if not case.linkable:
        messages.info(request, _("This request has a customer or is closed: it is not linked."))
        return redirect(case)
    filters = CustomerFilterForm(request.GET or None)
    if query := filters.values()["q"]:
        candidates = list(Customer.objects.filtered(**filters.values())[:20])
        customer_searched(
            query=query,
            result_count=len(candidates),
            shown=len(candidates),
            shown_ids=[candidate.pk for candidate in candidates],
            via="request_link",
            by=request.user,
            request=request,
        )
    else:
        candidates = list(_requester_matches(case).ordered("name")[:20])
        customers_listed(
            ids=[candidate.pk for candidate in candidates],
            via="request_link",
            by=request.user,
            request=request,
        )
    case_viewed(case=case, by=request.user, request=request)
    return render(
        request,
        "registry/request_link_pick.html",
        {"case": case, "candidates": candidates, "filters": filters},
    )


@permission_required([MANAGER, "registry.view_customer"], raise_exception=True)
@transaction.atomic
def case_link_confirm(request, pk, customer_pk):
    """Link a request without a customer to the customer `customer_pk`, after
    a look at both: the register manager. Audited; a customer not in the
    register answers 404."""
    case = get_object_or_404(DataSubjectRequest, pk=pk)
    customer = get_object_or_404(Customer, pk=customer_pk)
    if request.method == "POST":
        try:
            case_link(case=case, customer=customer, by=request.user, request=request)
        except CaseRefused as refused:
            messages.warning(request, " ".join(refused.messages))
        else:
            messages.success(
                request,
                _("Request %(reference)s is now %(name)s's.")
                % {"reference": case.reference, "name": customer.full_name},
            )
        return redirect(case)
    if not case.linkable:
        messages.info(request, _("This request has a customer or is closed: it is not linked."))
        return redirect(case)
    customer_viewed(customer=customer, by=request.user, request=request, via="request_link")
    case_viewed(case=case, by=request.user, request=request)
    return render(
        request, "registry/request_link_confirm.html", {"case": case, "customer": customer}
    )


@require_POST
@permission_required(MANAGER, raise_exception=True)
@transaction.atomic
def case_close_no_data_view(request, pk):
    """Close an open access request without a customer as "no data held":
    the register manager, after searching the customers (the case page)."""
    case = get_object_or_404(DataSubjectRequest, pk=pk)
    try:
        case_close_no_data(case=case, by=request.user, request=request)
    except CaseRefused as refused:
        messages.warning(request, " ".join(refused.messages))
    else:
        messages.success(request, _("Request closed: no data held."))
    return redirect(case)


@permission_required(MANAGER, raise_exception=True)
@transaction.atomic
def case_answer(request, pk):
    """The answer to an access request without a customer, closed as done,
    "the register holds nothing about you", as a PDF in the requester's
    language: the register manager. Audited."""
    case = get_object_or_404(
        DataSubjectRequest.objects.filter(kind=DataSubjectRequest.Kind.ACCESS), pk=pk
    )
    # Only once closed as done: "we hold nothing" is not sent before the
    # customers were searched, nor while a match may still be linked.
    if not case.without_customer or case.status != DataSubjectRequest.Status.DONE:
        raise Http404
    language = AnswerLanguageForm(request.GET).values()["language"]
    language = language or translation.get_language()[:2]
    case_answer_produced(case=case, by=request.user, request=request)
    response = HttpResponse(
        document_pdf(no_data_document(case, language)), content_type="application/pdf"
    )
    filename = f"vastaus-{case.reference}-{timezone.localdate():%Y-%m-%d}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@permission_required([MANAGER, "registry.view_customer"], raise_exception=True)
@transaction.atomic
def customer_access_report(request, pk):
    """Everything held about one customer: a page in the customer's language,
    or a file to send them (?format=pdf) or for a machine (?format=json)."""
    customer = get_object_or_404(Customer, pk=pk)
    report = access_report(customer)
    form = ReportFormatForm(request.GET)
    chosen = form.values()
    file_format = chosen["format"]
    language = chosen["language"] or translation.get_language()[:2]
    access_report_produced(
        customer=customer, download=bool(file_format), by=request.user, request=request
    )
    filename = f"tarkastuspyynto-{customer.pk}-{timezone.localdate():%Y-%m-%d}"
    if file_format == "json":
        response = HttpResponse(
            json.dumps(report, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
    elif file_format == "pdf":
        response = HttpResponse(
            document_pdf(access_document(report, language)),
            content_type="application/pdf",
        )
    else:
        context = {
            "customer": customer,
            # The way back to the request the report answers, to close it.
            "open_cases": DataSubjectRequest.objects.open()
            .filter(customer=customer)
            .order_by("deadline", "id"),
            "document": access_document(report, language),
            "form": form,
            "language": language,
        }
        return render(request, "registry/access_report.html", context)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{file_format}"'
    return response


@permission_required([MANAGER, "registry.erase_customer"], raise_exception=True)
@recent_authentication_required
@transaction.atomic
def customer_erase_view(request, pk):
    """Erase a customer: password again and a typed confirmation."""
    customer = get_object_or_404(Customer, pk=pk)
    case = DataSubjectRequest.objects.open().filter(customer=customer, kind="erasure").first()
    form = ErasureConfirmForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            reference = customer_erase(
                customer=customer, by=request.user, request=request, case=case
            )
        except CustomerGone as gone:  # merged away or erased in another tab
            messages.error(request, gone.message)
            return redirect("registry:customer-list")
        messages.success(
            request,
            _("The customer was erased. Reference: %(reference)s.") % {"reference": reference},
        )
        return redirect(case) if case is not None else redirect("registry:customer-list")
    if (locked_out := lockout_after_wrong_password(request)) is not None:
        return locked_out
    customer_viewed(customer=customer, by=request.user, request=request, via="erase")
    return render(
        request, "registry/customer_erase.html", {"customer": customer, "form": form, "case": case}
    )


RESTRICTOR = [MANAGER, "registry.restrict_customer"]


@permission_required(RESTRICTOR, raise_exception=True)
@transaction.atomic
def customer_restrict_view(request, pk):
    """Restrict the processing of a customer's data (GDPR art. 18): the
    register manager, from the customer's open restriction request, which is
    closed as done. A page that asks first; only its POST restricts."""
    customer = get_object_or_404(Customer, pk=pk)
    case = (
        DataSubjectRequest.objects.open()
        .filter(customer=customer, kind=DataSubjectRequest.Kind.RESTRICTION)
        .first()
    )
    if request.method == "POST":
        try:
            customer_restrict(customer=customer, by=request.user, request=request, case=case)
        except RestrictionError as error:
            messages.warning(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                _("Processing of %(name)s's data is restricted.") % {"name": customer.full_name},
            )
        return redirect(case) if case is not None else redirect(customer)
    customer_viewed(customer=customer, by=request.user, request=request, via="restrict")
    return render(request, "registry/customer_restrict.html", {"customer": customer, "case": case})


@permission_required(RESTRICTOR, raise_exception=True)
@transaction.atomic
def customer_restriction_lift_view(request, pk):
    """Lift a restriction of processing: the register manager, who has told
    the customer first (art. 18(3)); the page asks them to confirm it."""
    customer = get_object_or_404(Customer, pk=pk)
    # Bound on any POST: an empty one (the box not ticked) is an error to show.
    form = RestrictionLiftForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            customer_restriction_lift(customer=customer, by=request.user, request=request)
        except RestrictionError as error:
            messages.warning(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                _("The restriction of processing of %(name)s's data was lifted.")
                % {"name": customer.full_name},
            )
        return redirect(customer)
    customer_viewed(customer=customer, by=request.user, request=request, via="restriction_lift")
    return render(
        request, "registry/customer_restriction_lift.html", {"customer": customer, "form": form}
    )


@permission_required([MANAGER, "registry.erase_customer"], raise_exception=True)
@recent_authentication_required
@transaction.atomic
def retention(request):
    """Customers inactive longer than the retention period, for review, and
    how many closed requests without a customer are as old (counted, never
    named: the requesters are not in the register); the register manager
    erases the customers left ticked and forgets those requesters, as
    `manage.py retention` does."""
    candidates = retention_candidates()
    form = ErasureConfirmForm(request.POST or None, request=request)
    ticked = RetentionChoiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and ticked.is_valid():
        chosen = candidates.filter(pk__in=ticked.cleaned_data["customer"])
        _erased, references, _skipped, requesters = retention_apply(
            customers=list(chosen), cutoff=retention_cutoff(), by=request.user, request=request
        )
        if references:
            messages.success(
                request,
                ngettext(
                    "%(count)s customer erased.", "%(count)s customers erased.", len(references)
                )
                % {"count": len(references)},
            )
        if requesters:
            messages.success(
                request,
                ngettext(
                    "The requester of %(count)s closed request without a customer was forgotten.",
                    "The requesters of %(count)s closed requests without a customer were "
                    "forgotten.",
                    requesters,
                )
                % {"count": requesters},
            )
        return redirect("registry:retention")
    if (locked_out := lockout_after_wrong_password(request)) is not None:
        return locked_out
    shown, count = list(candidates[:500]), candidates.count()
    customer_searched(
        query="",
        result_count=count,
        shown=len(shown),
        shown_ids=[customer.pk for customer in shown],
        via="retention",
        by=request.user,
        request=request,
    )
    return render(
        request,
        "registry/retention.html",
        {
            "candidates": shown,
            "count": count,
            "cutoff": retention_cutoff(),
            "requesters": requesters_due().count(),
            "requesters_cutoff": requesters_cutoff(),
            "form": form,
        },
    )

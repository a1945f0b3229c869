import json
from functools import lru_cache, wraps
from html import escape

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models, transaction
from django.db.models.functions import Cast
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dateformat import format as date_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.generic import CreateView, DetailView, ListView, UpdateView

from .accounts.reauth import recent_authentication_required
from .audit.models import AuditEvent
from .audit.services import customer_searched, customer_viewed, customers_listed
from .concurrency import CustomerGone, EditConflict
from .exports import csv_response
from .forms import (
    ConsentForm,
    CustomerCreateForm,
    CustomerFilterForm,
    CustomerForm,
    CustomerMergeForm,
    MarketingListForm,
    RegisterExportForm,
    TypedContactForm,
)
from .models import (
    Consent,
    Customer,
    MarketingChannel,
    RegisterExport,
)
from .once import Once
from .phones import format_phone
from .reach import reach_count
from .rights.forms import RectificationCaseForm
from .services import (
    ExportGone,
    consent_record,
    customer_create,
    customer_merge,
    customer_update,
    marketing_count,
    marketing_export_header,
    marketing_list,
    marketing_list_export,
    marketing_list_export_request,
    register_export_request,
    register_export_take,
)
from .suppression import suppressed_since


class CappedPaginator(Paginator):
    """Counts at most CAP rows: an exact count(*) of 200,000 customers on every
    page is work nobody reads. Beyond the cap the page says "over 10,000"."""

    CAP = 10_000

    @classmethod
    def capped_count(cls, queryset):
        return cls._capped(queryset).count()

    @classmethod
    def _capped(cls, queryset):
        """The rows counted: at most one more than CAP, by primary key."""
        return queryset.order_by().values("pk")[: cls.CAP + 1]

    @classmethod
    def kept_capped_count(cls, queryset, *, group, key=""):
        """capped_count(queryset) kept in the shared cache until the register
        changes (registry/reach.py: every change of a customer or the ledger
        starts a new generation), under `group` and `key` (any text: hashed).
        The first page of the register counted 10,001 rows of the name index
        on every visit only to say "over 10,000". Call it outside the read's
        transaction, or the count is taken afresh and not kept (it could see
        the transaction's own writes)."""
        count, _counted_at, _kept = reach_count(cls._capped(queryset), group=group, key=key)
        return count

    @cached_property
    def count(self):
        if self.kept_count is not None:
            return self.kept_count
        return self.capped_count(self.object_list)

    @property
    def capped(self):
        return self.count > self.CAP

    #: From this row on, a page is found by its ids first.
    DEEP = 1000

    def __init__(self, *args, ids_first=False, kept_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ids_first = ids_first
        #: The capped count when the caller has it already (kept_list_count).
        self.kept_count = kept_count

    def page(self, number):
        """A deep page, or any page of a search (`ids_first`), in two steps:
        the ids of its rows first, which the database finds in the name index
        alone (it holds the search text too), without reading the rows before
        them that sort earlier or do not match; then those rows. One query
        more, far less read: a search for "nen" in a million customers skipped
        6,000 rows to find 50 (17 ms; 4 ms by the index alone)."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom < self.DEEP and not self.ids_first:
            return super().page(number)
        top = min(bottom + self.per_page, self.count)
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        return self._get_page(list(self.object_list.filter(pk__in=ids)), number, self)


class PathOfEach:
    """reverse() once for a page of rows: each row's path is the one reversed
    path with its pk put in. (Reversing per row was a tenth of the customer
    list's time.)"""

    MARK = 9_876_543_210

    def __init__(self, viewname):
        self.head, self.tail = reverse(viewname, args=[self.MARK]).split(str(self.MARK))

    def __call__(self, pk):
        return f"{self.head}{int(pk)}{self.tail}"


@lru_cache(maxsize=4096)
def short_date(day, language):
    """A day as the list shows it, in the language of the page (the key: an
    English month name must not be served to a Finnish page). Remembered:
    Django's date formatting parses its format for each call, and the
    list's days repeat from page to page."""
    return date_format(day, formats.get_format("SHORT_DATE_FORMAT", lang=language))


def customer_rows(customers):
    """The list's table rows. Written here rather than in the template: the
    template engine's lookups and filters for 50 rows of six cells were half
    of the page's rendering, and the page is the register's most used one
    (docs/benchmarks.md).

    Every value from the database goes through `html.escape`, which is
    exactly what Django's `escape` does (`html.escape(str(text))`), without
    the lazy-text wrapper and the `__html__` test that format_html pays for
    each of the page's 400 cells (1.7 ms of 2.9 on this machine): the values
    are plain strings, never safe HTML. The days are turned into local time
    with the time zone looked up once (`timezone.localdate` looks it up for
    each row: 0.9 ms for 50)."""
    path_of = PathOfEach("registry:customer-detail")
    language = get_language()
    zone = timezone.get_current_timezone()
    # Restriction of processing (GDPR art. 18), marked after the name; its
    # date is on the customer's page.
    restricted = format_html(
        ' <span class="badge text-bg-warning" title="{}">{}</span>',
        _("Processing restricted"),
        _("restricted"),
    )
    return mark_safe(  # noqa: S308 (each value escaped above)
        "\n".join(
            f'<tr><td><a href="{path_of(customer.pk)}">'
            f"{escape(customer.last_name)}, {escape(customer.first_name)}</a>"
            f"{restricted if customer.restricted_since else ''}</td>"
            f"<td>{escape(customer.email)}</td>"
            f'<td class="text-nowrap">{escape(format_phone(customer.phone_text))}</td>'
            f"<td>{escape(customer.city)}</td>"
            f'<td class="text-nowrap">'
            f"{escape(short_date(customer.created_at.astimezone(zone).date(), language))}"
            f"</td></tr>"
            for customer in customers
        )
    )


class CustomerListView(PermissionRequiredMixin, ListView):
    """Find customers: staff and the register manager. Searches are audited."""

    permission_required = "registry.view_customer"
    raise_exception = True
    paginate_by = 50
    paginator_class = CappedPaginator
    template_name = "registry/customer_list.html"
    context_object_name = "customers"

    def get_queryset(self):
        # Only the columns the page shows, as named rows rather than models
        # (building 50 Customer instances was half of the query's 2.3 ms),
        # and the phone as its stored text: the field would parse each number
        # into a PhoneNumber (a third of a millisecond each) only for the
        # page to write it back as text.
        return (
            Customer.objects.filtered(**self.filters.values())
            .annotate(phone_text=Cast("phone", models.CharField()))
            .values_list(
                "pk",
                "first_name",
                "last_name",
                "email",
                "city",
                "created_at",
                "restricted_since",
                "phone_text",
                named=True,
            )
        )

    def get_paginator(self, queryset, per_page, **kwargs):
        return super().get_paginator(
            queryset,
            per_page,
            ids_first=bool(self.filters.values()["q"]),
            kept_count=self.kept_count,
            **kwargs,
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filters"] = self.filters
        context["imported"] = self.filters.values()["imported"]
        context["page_range"] = context["paginator"].get_elided_page_range(
            context["page_obj"].number, on_each_side=2, on_ends=1
        )
        context["query_string"] = self.filters.query_string()
        context["rows"] = customer_rows(context["customers"])
        return context

    def kept_list_count(self):
        """The capped count of a list without search words, kept per filters
        (CappedPaginator.kept_capped_count), counted before the read's
        transaction so that it can be kept. A search is counted each time:
        its words are many and its matches few."""
        values = self.filters.values()
        if values["q"]:
            return None
        filters = {name: str(values[name] or "") for name in ("city", "source", "contactable")}
        filters["imported"] = str(values["imported"] or "")
        return CappedPaginator.kept_capped_count(
            Customer.objects.filtered(**values),
            group="customer-list",
            key=json.dumps(filters, sort_keys=True),
        )

    def get(self, request, *args, **kwargs):
        self.filters = CustomerFilterForm(request.GET or None)
        self.kept_count = self.kept_list_count()
        with transaction.atomic():
            response = super().get(request, *args, **kwargs)
            values = self.filters.values()
            customer_searched(
                query=values.pop("q"),
                result_count=response.context_data["paginator"].count,
                shown=len(response.context_data["customers"]),
                shown_ids=[customer.pk for customer in response.context_data["customers"]],
                filters={**values, "page": response.context_data["page_obj"].number},
                by=request.user,
                request=request,
            )
        return response


class CustomerDetailView(PermissionRequiredMixin, DetailView):
    """One customer's record: staff and the register manager. Every view is audited;
    the register manager also sees the record's audit history."""

    permission_required = "registry.view_customer"
    raise_exception = True
    queryset = Customer.objects.select_related("imported_in")
    template_name = "registry/customer_detail.html"
    context_object_name = "customer"

    @transaction.atomic
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        customer_viewed(customer=self.object, by=request.user, request=request)
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        customer = self.object
        if self.request.user.has_perm("registry.view_consent"):
            state = customer.consent_state()
            context["consent_history"] = state.history
            context["consent_latest"] = [
                (channel, state.latest.get(channel)) for channel, _label in Consent.Channel.choices
            ]
            context["contact_permissions"] = [
                (label, state.allowed[channel]) for channel, label in MarketingChannel.choices
            ]
        if self.request.user.has_perm("registry.handle_data_subject_requests"):
            # Who handles the requests sees the customer's here, in one query.
            context["cases"] = list(customer.data_subject_requests.open_first())
        if self.request.user.has_perm("registry.view_auditevent"):
            # The latest events; the audit trail has the rest (linked).
            context["audit_events"] = AuditEvent.objects.select_related(
                "actor"
            ).latest_for_customer(self.object, 20)
        return context


def customer_gone(request, gone):
    """The answer to a save into a customer merged away or erased meanwhile."""
    messages.error(request, gone.message)
    return redirect("registry:customer-list")


def duplicates_read(request, form):
    """The customer forms list the records that look like the one typed
    (names, emails, cities): a list read of them, though nothing is saved
    (fifth probe: the new customer form was a search no one could see)."""
    if form.duplicates:
        customers_listed(
            ids=[other.pk for other in form.duplicates],
            via="duplicates",
            by=request.user,
            request=request,
        )


def warn_if_suppressed(request, customer, *, added=False):
    """Tell the user when the address or number is on the suppression list,
    and what to do: a customer `added` got an objection (customer_create);
    one whose address was changed to it did not."""
    if suppressed_since(email=customer.email, phone=customer.phone):
        messages.warning(request, SUPPRESSED_ADDED if added else SUPPRESSED_WARNING)


SUPPRESSED_ADDED = _(
    "This address has asked not to be marketed to (the suppression list keeps the "
    "objection of an erased customer), so an objection to direct marketing was recorded "
    "for the customer. If the customer now allows marketing, record it with “Record a "
    "consent or objection”: the objection lifted, and for email or SMS a consent given."
)

SUPPRESSED_WARNING = _(
    "This address has asked not to be marketed to (the suppression list keeps the "
    "objection of an erased customer). Unless this customer has allowed marketing since, "
    "record an objection to direct marketing with “Record a consent or objection”. "
    "Record a consent only if the customer gives it again now."
)


class CustomerCreateView(PermissionRequiredMixin, CreateView):
    """Add a customer: staff and the register manager. The page sent twice
    (a double click) adds one customer and takes the second post to it."""

    permission_required = "registry.add_customer"
    raise_exception = True
    model = Customer
    form_class = CustomerCreateForm
    template_name = "registry/customer_form.html"

    def post(self, request, *args, **kwargs):
        self.object = None
        form = self.get_form()
        if not form.has_token:
            # Made by hand, or a page from yesterday: nothing is saved, and
            # nothing typed is lost (the page again, with a token).
            form = form.with_new_token()
            if form.is_valid():
                messages.warning(request, _("Check the details and save again."))
            return self.form_invalid(form)
        once = Once(request, form)
        sent_again = {
            "note": _("The customer was already added: the form was sent twice."),
            "found_in": Customer.objects.all(),
            "otherwise": "registry:customer-list",
        }
        if once.earlier():
            # Before the duplicate check, which would show the first post's
            # customer as a possible duplicate of itself.
            return once.answer(request, **sent_again)
        if not form.is_valid():
            return self.form_invalid(form)
        with transaction.atomic():
            # Taken in the customer's transaction (registry.once).
            if answer := once.answer_if_sent_again(request, **sent_again):
                return answer
            self.object = customer_create(data=form.cleaned_data, by=request.user, request=request)
            once.saved(self.object.pk)
        messages.success(request, _("Customer added."))
        warn_if_suppressed(request, self.object, added=True)
        return redirect(self.object)

    @transaction.atomic
    def form_invalid(self, form):
        duplicates_read(self.request, form)
        return super().form_invalid(form)


class CustomerUpdateView(PermissionRequiredMixin, UpdateView):
    """Edit a customer (rectification): staff and the register manager. The
    form shows the whole record, so opening it is audited as a view."""

    permission_required = "registry.change_customer"
    raise_exception = True
    model = Customer
    form_class = CustomerForm
    template_name = "registry/customer_form.html"
    context_object_name = "customer"

    @transaction.atomic
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @transaction.atomic
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def render_to_response(self, context, **response_kwargs):
        # Opened, or shown again after a refused post (with the customer's
        # name; after a conflict, the record as it is now): each is a read.
        customer_viewed(
            customer=self.object, by=self.request.user, request=self.request, via="edit"
        )
        return super().render_to_response(context, **response_kwargs)

    #: The email and phone typed on the new customer form, when opened from
    #: its duplicate warning: the form starts with them (TypedContactForm).
    typed_contact = None

    def get_initial(self):
        initial = super().get_initial()
        if self.request.method == "GET":
            typed = TypedContactForm(self.request.GET).values()
            self.typed_contact = {name: value for name, value in typed.items() if value}
            initial.update(self.typed_contact)
        return initial

    def get_context_data(self, **kwargs):
        context = super().get_context_data(case_id=self._case_id(), **kwargs)
        context["typed_contact"] = bool(self.typed_contact)  # known once the form is made
        return context

    def _case_id(self):
        """The rectification request of this customer that this edit answers,
        if it came from one. Only a user who handles requests links an edit
        to one: to others a request is not theirs to see (the seventh probe:
        `?case=` told staff which numbers were the customer's requests)."""
        if not self.request.user.has_perm("registry.handle_data_subject_requests"):
            return None
        form = RectificationCaseForm(
            self.request.POST if self.request.method == "POST" else self.request.GET,
            customer=self.object,
        )
        case = form.values()["case"]
        return case.pk if case else None

    @transaction.atomic
    def form_invalid(self, form):
        duplicates_read(self.request, form)
        return super().form_invalid(form)

    def form_valid(self, form):
        try:
            self.object, changes = customer_update(
                customer=self.object,
                data=form.cleaned_data,
                by=self.request.user,
                request=self.request,
                case_id=self._case_id(),
                version=form.cleaned_data["version"],
            )
        except CustomerGone as gone:
            return customer_gone(self.request, gone)
        except EditConflict as conflict:
            # Someone saved first: show what they changed, keep what this user typed.
            self.object = conflict.record
            return self.render_to_response(
                self.get_context_data(form=form.after_conflict(conflict))
            )
        if changes:
            messages.success(self.request, _("Changes saved."))
            if {"email", "phone"} & set(changes):
                warn_if_suppressed(self.request, self.object)
        else:
            messages.info(self.request, _("Nothing was changed."))
        return redirect(self.object)


@permission_required(["registry.view_customer", "registry.merge_customer"], raise_exception=True)
@transaction.atomic
def customer_merge_pick(request, pk):
    """Choose the other record of the same person: users with the merge permission."""
    customer = get_object_or_404(Customer, pk=pk)
    filters = CustomerFilterForm(request.GET or None)
    if query := filters.values()["q"]:
        candidates = list(Customer.objects.exclude(pk=pk).filtered(**filters.values())[:20])
        customer_searched(
            query=query,
            result_count=len(candidates),
            shown=len(candidates),
            shown_ids=[candidate.pk for candidate in candidates],
            via="merge",
            by=request.user,
            request=request,
        )
    else:
        candidates = list(
            Customer.objects.possible_duplicates(
                first_name=customer.first_name,
                last_name=customer.last_name,
                email=customer.email,
                phone=customer.phone,
                postal_code=customer.postal_code,
            )
            .exclude(pk=pk)
            .ordered("name")[:20]
        )
        # The likely duplicates are shown with their addresses: a list read.
        customers_listed(
            ids=[candidate.pk for candidate in candidates],
            via="merge",
            by=request.user,
            request=request,
        )
    customer_viewed(customer=customer, by=request.user, request=request, via="merge")
    return render(
        request,
        "registry/customer_merge_pick.html",
        {"customer": customer, "candidates": candidates, "filters": filters},
    )


@permission_required(["registry.view_customer", "registry.merge_customer"], raise_exception=True)
@transaction.atomic
def customer_merge_confirm(request, pk, other_pk):
    """Pick the values to keep and merge `other` into `customer`: users with the
    merge permission. Showing both records is audited as a view of each."""
    customer = get_object_or_404(Customer, pk=pk)
    other = get_object_or_404(Customer.objects.exclude(pk=pk), pk=other_pk)
    form = CustomerMergeForm(request.POST or None, keep=customer, other=other)
    conflict = None
    if request.method == "POST" and form.is_valid():
        try:
            customer_merge(
                keep=customer,
                remove=other,
                values=form.cleaned_data["values"],
                by=request.user,
                request=request,
                keep_version=form.cleaned_data["keep_version"],
                remove_version=form.cleaned_data["other_version"],
            )
        except CustomerGone as gone:
            return customer_gone(request, gone)
        except EditConflict as error:
            # A record changed while the values were chosen: choose again from
            # the records as they are now (shown, so audited as a view). What
            # changed is told only to a page opened within the day.
            conflict = error if form.opened_within_a_day else error.without_history()
            customer, other = conflict.current
            picks = {name: value for name, value in request.POST.items() if value == "other"}
            form = CustomerMergeForm(initial=picks, keep=customer, other=other)
        else:
            messages.success(request, _("The records were merged."))
            return redirect(customer)
    # Every showing of the page shows both records: the first, a refused
    # choice (invalid, or from a page without a version) and a conflict.
    for shown in (customer, other):
        customer_viewed(customer=shown, by=request.user, request=request, via="merge")
    return render(
        request,
        "registry/customer_merge_confirm.html",
        {"customer": customer, "other": other, "form": form, "conflict": conflict},
    )


@permission_required(["registry.view_customer", "registry.add_consent"], raise_exception=True)
@transaction.atomic
def consent_create(request, pk):
    """Record a consent, a withdrawal or an objection: staff and the register manager."""
    customer = get_object_or_404(Customer, pk=pk)
    form = ConsentForm(request.POST or None)
    suppressed_at = suppressed_since(email=customer.email, phone=customer.phone)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if (
            suppressed_at
            and data["event"] == Consent.Event.CONSENT_GIVEN
            and data["occurred_at"] <= suppressed_at
        ):
            # Only a consent given again, after the objection was kept, re-enables.
            day = formats.date_format(timezone.localtime(suppressed_at), "SHORT_DATE_FORMAT")
            form.add_error(
                "occurred_at",
                _(
                    "This address has asked not to be marketed to since %(date)s: "
                    "a consent must be given after that."
                )
                % {"date": day},
            )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        consent_record(
            customer=customer,
            channel=data["channel"],
            event=data["event"],
            method=data["method"],
            text=data["text"],
            occurred_at=data["occurred_at"],
            by=request.user,
            request=request,
        )
        messages.success(request, _("Recorded in the consent ledger."))
        return redirect(customer.get_absolute_url() + "#consents")
    # The page names the customer and whether the address is suppressed.
    customer_viewed(customer=customer, by=request.user, request=request, via="consent")
    return render(
        request,
        "registry/consent_form.html",
        {"customer": customer, "form": form, "suppressed_at": suppressed_at},
    )


@permission_required("registry.use_marketing_lists", raise_exception=True)
@recent_authentication_required
def marketing_list_view(request):
    """Count who may be contacted on a channel, and export the list with a stated
    purpose: the register manager and staff given the permission. Exports are
    audited with channel, filter, columns, row count and purpose."""
    exporting = request.method == "POST"
    form = MarketingListForm(
        request.POST if exporting else request.GET or None, exporting=exporting
    )
    count = counted_at = course = None
    kept = False
    if form.is_bound:
        form.is_valid()
        data = form.cleaned_data
        course = data.get("course")
        # Counting needs every filter valid (a bad course number must not
        # count everybody); exporting needs the purpose too.
        if not set(form.errors) - {"purpose"}:
            if exporting and not form.errors:
                listed = marketing_list(channel=data["channel"], city=data["city"], course=course)
                return _marketing_list_export(request, data, listed)
            count, counted_at, kept = marketing_count(
                channel=data["channel"], city=data["city"], course=course
            )
    return render(
        request,
        "registry/marketing_list.html",
        {
            "form": form,
            "count": count,
            "counted_at": counted_at,
            "kept": kept,
            "course": course,
            "inline_max": settings.EXPORT_INLINE_MAX_ROWS,
            "keep_minutes": settings.EXPORT_KEEP_MINUTES,
            "waiting": RegisterExport.objects.waiting_for(
                request.user, RegisterExport.Kind.MARKETING
            ),
        },
    )


def _marketing_list_export(request, data, listed):
    """Send the list at once; over EXPORT_INLINE_MAX_ROWS rows, queue it for
    the task worker and follow it on the export's page."""
    asked = {
        "channel": data["channel"],
        "city": data["city"],
        "course": data.get("course"),
        "purpose": data["purpose"],
        "by": request.user,
        "request": request,
    }
    limit = settings.EXPORT_INLINE_MAX_ROWS
    # The count stops after limit + 1 rows: a small list is not counted twice.
    if listed.order_by()[: limit + 1].count() > limit:
        return redirect(marketing_list_export_request(count=listed.count(), **asked))
    columns, _count, rows = marketing_list_export(**asked)
    filename = f"markkinointilista-{data['channel']}-{timezone.localdate():%Y-%m-%d}.csv"
    return csv_response(filename, marketing_export_header(columns), rows)


@permission_required("registry.export_customers", raise_exception=True)
@recent_authentication_required
def register_export_view(request):
    """Export the whole customer register (register manager), with a stated
    purpose; audited at once, written by the task worker, formula-safe."""
    form = RegisterExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        export = register_export_request(
            file_format=form.cleaned_data["file_format"],
            purpose=form.cleaned_data["purpose"],
            by=request.user,
            request=request,
        )
        return redirect(export)
    waiting = RegisterExport.objects.waiting_for(request.user, RegisterExport.Kind.REGISTER)
    return render(request, "registry/register_export.html", {"form": form, "waiting": waiting})


def export_permitted(view):
    """The pages of one export: for a user who may ask for exports of some
    kind (others 403); the export must be their own (another's answers 404)
    and of a kind they may still ask for (403)."""

    @login_required
    @wraps(view)
    def wrapper(request, pk):
        if not any(request.user.has_perm(perm) for perm in RegisterExport.PERMISSIONS.values()):
            raise PermissionDenied
        export = get_object_or_404(RegisterExport, pk=pk, requested_by=request.user)
        if not request.user.has_perm(export.permission):
            raise PermissionDenied
        return view(request, export)

    return recent_authentication_required(wrapper)


@export_permitted
def register_export_detail(request, export):
    """An export asked for (the register, a big marketing list or audit
    trail): its progress, then its one download (only for the person who
    asked, with the permission of its kind; another's answers 404)."""
    return render(request, "registry/register_export_detail.html", {"export": export})


@export_permitted
def register_export_download(request, export):
    """The one download of an export; the file is deleted as it is sent.
    Only a POST downloads: a GET (a link, or the way back after confirming
    a stale login's password) goes to the export's page and its button."""
    if request.method != "POST":
        return redirect(export)
    try:
        file = register_export_take(export=export, by=request.user)
    except ExportGone:
        messages.error(
            request,
            _("The file was downloaded already or waited too long and is deleted: export again."),
        )
        return redirect(export)
    content_type = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if export.file_format == "xlsx"
        else "text/csv; charset=utf-8"
    )
    return FileResponse(
        file, as_attachment=True, filename=export.download_name, content_type=content_type
    )

"""Pages of the import (tuonti): upload, map and preview, confirm, undo."""

import datetime
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from registry.audit.services import customer_searched, customers_listed
from registry.exports import csv_response
from registry.models import Customer
from registry.query_forms import QueryForm

from .analysis import ImportOptions, Outcome, customers_named
from .forms import ImportMappingForm, ImportUploadForm, UnsubscribeUploadForm
from .models import IMPORT_PERMISSION, UNSUBSCRIBE_PERMISSION, CustomerImport, UnsubscribeImport
from .reading import ImportFileError
from .services import (
    ImportStateError,
    UndoReason,
    import_apply_start,
    import_cancel,
    import_choices_save,
    import_preview_kept,
    import_preview_rows,
    import_preview_start,
    import_rejects_download,
    import_samples,
    import_undo,
    import_upload,
    plain_file_name,
    rejected_rows_customers,
)
from .unsubscribes import (
    PREVIEW_SHOWN,
    UnsubscribeStateError,
    unsubscribes_apply_start,
    unsubscribes_cancel,
    unsubscribes_preview_start,
    unsubscribes_upload,
)
from .unsubscribes import Outcome as UnsubscribeOutcome

PERMISSION = IMPORT_PERMISSION
PREVIEW_ROWS = 100


class PreviewFilterForm(QueryForm):
    """`?show=`: the preview's rows of one outcome only."""

    show = forms.ChoiceField(required=False, choices=[("", ""), *Outcome.choices])


@permission_required(PERMISSION, raise_exception=True)
def import_list(request):
    """Imports so far, newest first, with what each did. What is kept longer
    than needed is discarded by `manage.py expire_imports` (daily)."""
    page = Paginator(CustomerImport.objects.select_related("created_by"), 25).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "registry/import_list.html",
        {"page_obj": page, "imports": page.object_list, "query_string": ""},
    )


@permission_required(PERMISSION, raise_exception=True)
def import_upload_view(request):
    """Upload a file; it is kept, its rows are checked in the task worker,
    and nothing is imported yet."""
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            customer_import = import_upload(
                file_name=upload.name, content=upload.read(), by=request.user, request=request
            )
        except ImportFileError as error:
            form.add_error("file", str(error))
        else:
            return redirect(customer_import)
    return render(request, "registry/import_upload.html", {"form": form})


@permission_required(PERMISSION, raise_exception=True)
@transaction.atomic
def import_detail(request, pk):
    """A waiting import: column mapping and preview, then confirm or cancel.
    A handled import: what it did, its rejected rows, and undo."""
    customer_import = get_object_or_404(
        # Not the file (4.7 MB for 50,000 rows): no page shows it.
        CustomerImport.objects.select_related("created_by", "undone_by").defer("content"),
        pk=pk,
    )
    if customer_import.status == CustomerImport.Status.PENDING:
        if customer_import.task_active:
            return _progress(request, customer_import)
        return _preview(request, customer_import)
    kept = customer_import.undo_report.get("kept", {})
    kept_customers = Customer.objects.in_bulk([int(pk) for pk in kept])
    if kept_customers:
        # The undo's kept customers are named: a list read (fifth probe).
        customers_listed(
            ids=kept_customers.keys(),
            via="import_undo",
            by=request.user,
            request=request,
        )
    rejected_rows = customer_import.rejected_rows[:500]
    if rejected_rows:
        # The rejected rows shown are the file's names and addresses: a read
        # of each row (with none a customer's, the page wrote no event at
        # all), linked to the customers whose address a row holds.
        customer_searched(
            query="",
            result_count=len(customer_import.rejected_rows),
            shown=len(rejected_rows),
            shown_ids=sorted(rejected_rows_customers(customer_import, rejected_rows)),
            via="import_rejected",
            by=request.user,
            request=request,
        )
    return render(
        request,
        "registry/import_detail.html",
        {
            "customer_import": customer_import,
            "rejected_rows": rejected_rows,
            "kept": [
                (kept_customers.get(int(pk)), UndoReason(reason).label)
                for pk, reason in kept.items()
            ],
        },
    )


def _progress(request, customer_import):
    """The worker checks or imports the file: its progress, followed by
    static/js/task-progress.js until it is done. A waiting task can be
    cancelled (and one that checks rows: it stops at its next report)."""
    if request.method == "POST" and "cancel" in request.POST:
        return _cancel(request, customer_import)
    return render(request, "registry/import_progress.html", {"customer_import": customer_import})


def _cancel(request, customer_import):
    if import_cancel(customer_import=customer_import):
        messages.info(request, _("The import was cancelled; nothing was imported."))
        return redirect("registry:import-list")
    messages.error(request, _("This import has already been handled."))
    return redirect(customer_import)


def _preview(request, customer_import):
    # The examples beside each column were kept at the upload: the file is
    # not read again here.
    samples = import_samples(customer_import)
    options = ImportOptions.from_json(customer_import.options)
    initial = {
        **{f"column_{index}": target for index, target in enumerate(customer_import.mapping)},
        "source": options.source,
        "consent_date": options.consent_date,
        "consent_method": options.consent_method,
        "email_text": options.email_text,
        "sms_text": options.sms_text,
    }
    form = ImportMappingForm(
        request.POST or None, initial=initial, headers=customer_import.headers, samples=samples
    )
    if request.method == "POST":
        if "cancel" in request.POST:
            return _cancel(request, customer_import)
        if form.is_valid():
            # Only the mapping changes what the preview showed.
            with transaction.atomic():
                changed = import_choices_save(
                    customer_import=customer_import,
                    mapping=form.cleaned_data["mapping"],
                    options=form.cleaned_data["options"],
                    refresh="preview" in request.POST,
                )
                if "confirm" in request.POST and not changed:
                    import_apply_start(
                        customer_import=customer_import, by=request.user, request=request
                    )
                elif (
                    changed
                    or "preview" in request.POST
                    or import_preview_kept(customer_import) is None
                ):
                    import_preview_start(customer_import)
            if "confirm" in request.POST and not changed:
                return redirect(customer_import)
            if "confirm" in request.POST:
                messages.warning(
                    request,
                    _("The choices changed since the preview: check it and confirm again."),
                )
            return redirect(customer_import)
    # A bound form here has errors: they are shown without a preview.
    preview = None if form.is_bound else import_preview_kept(customer_import)
    show = PreviewFilterForm(request.GET).values()["show"]
    rows = []
    if preview is not None:
        # Only the page's rows are read (and counted): not the whole file's.
        rows = import_preview_rows(customer_import, preview, outcome=show)
    page = Paginator(rows, PREVIEW_ROWS).get_page(request.GET.get("page"))
    # (Those still in the register: the preview was kept at the check.)
    named = set(
        Customer.objects.filter(
            pk__in=[row["match_id"] for row in page.object_list if row.get("match_id")]
        ).values_list("pk", flat=True)
    )
    # A rejected row shows what the file holds: maybe a customer's address.
    rejected = [row for row in page.object_list if row["outcome"] == Outcome.REJECT]
    named |= customers_named(
        [row["email"] for row in rejected], [row["phone"] for row in rejected]
    )
    if page.object_list:
        # The page's rows are the file's names and addresses: a read of each
        # (with none in the register, the page wrote no event at all). A row
        # that matches a record links to it: which addresses of the file are
        # customers, and their numbers, is read too (fifth probe).
        customer_searched(
            query="",
            result_count=page.paginator.count,
            shown=len(page.object_list),
            shown_ids=sorted(named),
            via="import_preview",
            by=request.user,
            request=request,
        )
    return render(
        request,
        "registry/import_preview.html",
        {
            "customer_import": customer_import,
            "form": form,
            "preview": preview,
            "checked_at": datetime.datetime.fromisoformat(preview["at"]) if preview else None,
            "show": show,
            "outcomes": Outcome,
            "tabs": [
                (outcome.value, outcome.label, preview["counts"][outcome.value])
                for outcome in Outcome
            ]
            if preview
            else [],
            "row_total": sum(preview["counts"].values()) if preview else 0,
            "page_obj": page,
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
            "query_string": urlencode({"show": show}) if show else "",
            "mapped": [
                (index, target) for index, target in enumerate(customer_import.mapping) if target
            ],
        },
    )


@permission_required(PERMISSION, raise_exception=True)
def import_rejected_download(request, pk):
    """The rejected rows as CSV, with the reason on each row: fix and import again."""
    customer_import = get_object_or_404(CustomerImport, pk=pk)
    if not customer_import.rejected_rows:
        raise Http404
    header, rows = import_rejects_download(
        customer_import=customer_import, by=request.user, request=request
    )
    stem = plain_file_name(customer_import.file_name).rsplit(".", 1)[0][:80] or "tuonti"
    return csv_response(f"{stem}-hylatyt.csv", header, rows)


@permission_required(PERMISSION, raise_exception=True)
def import_undo_view(request, pk):
    """Undo an import: confirm on a page, then remove what nobody changed."""
    customer_import = get_object_or_404(CustomerImport, pk=pk)
    if request.method == "POST":
        try:
            report = import_undo(customer_import=customer_import, by=request.user, request=request)
        except ImportStateError as error:
            messages.error(request, str(error))
            return redirect(customer_import)
        message = ngettext(
            "Undone: %(count)s customer removed.",
            "Undone: %(count)s customers removed.",
            report["removed"],
        ) % {"count": report["removed"]}
        if report["kept"]:
            message += " " + ngettext(
                "%(count)s customer was changed since and stays (listed below).",
                "%(count)s customers were changed since and stay (listed below).",
                len(report["kept"]),
            ) % {"count": len(report["kept"])}
        messages.success(request, message)
        return redirect(customer_import)
    return render(request, "registry/import_undo.html", {"customer_import": customer_import})


@permission_required(UNSUBSCRIBE_PERMISSION, raise_exception=True)
def unsubscribe_upload_view(request):
    """Upload the newsletter service's export of unsubscribed, cleaned or
    complained addresses; it is kept, its addresses are checked in the task
    worker, and nothing is changed yet."""
    form = UnsubscribeUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            done = unsubscribes_upload(
                file_name=upload.name, content=upload.read(), by=request.user, request=request
            )
        except ImportFileError as error:
            form.add_error("file", str(error))
        else:
            return redirect(done)
    return render(
        request,
        "registry/unsubscribe_upload.html",
        {
            "form": form,
            "uploads": UnsubscribeImport.objects.select_related("created_by").defer(
                "content", "preview"
            )[:10],
        },
    )


@permission_required(UNSUBSCRIBE_PERMISSION, raise_exception=True)
def unsubscribe_detail(request, pk):
    """A waiting file: the worker's progress while it checks or applies it;
    then what would happen to every address, to confirm or cancel (or why the
    check failed). A handled one: what it did."""
    upload = get_object_or_404(UnsubscribeImport.objects.select_related("created_by"), pk=pk)
    if request.method == "POST":
        return _unsubscribe_post(request, upload)
    context = {
        "upload": upload,
        "done_counts": [
            (UnsubscribeOutcome.LABELS[outcome], upload.counts.get(outcome, 0))
            for outcome in UnsubscribeOutcome.ORDER
        ],
    }
    if upload.status == UnsubscribeImport.Status.PENDING and not upload.task_active:
        context.update(_unsubscribe_preview(request, upload))
    return render(request, "registry/unsubscribe_detail.html", context)


def _unsubscribe_post(request, upload):
    """Cancel, check again (after a failure) or confirm a waiting file. A
    second confirmation while the first waits or runs starts nothing more."""
    if upload.status != UnsubscribeImport.Status.PENDING:
        messages.error(request, _("This import has already been handled."))
        return redirect(upload)
    if "cancel" in request.POST:
        if unsubscribes_cancel(upload=upload):
            messages.info(request, _("The import was cancelled; nothing was changed."))
            return redirect("registry:unsubscribe-upload")
        messages.error(request, _("This import has already been handled."))
    elif upload.task_active:
        pass  # already on its way: the page shows its progress
    elif "preview" in request.POST:
        with transaction.atomic():
            unsubscribes_preview_start(upload)
    elif "confirm" in request.POST:
        try:
            unsubscribes_apply_start(upload=upload, by=request.user, request=request)
        except UnsubscribeStateError as error:
            messages.error(request, str(error))
    return redirect(upload)


@transaction.atomic
def _unsubscribe_preview(request, upload):
    """The kept preview with the names of its customers as they are now; the
    names shown are a read of the customers, audited in the same transaction."""
    preview = upload.preview
    if not preview:
        return {"preview": None}
    sections = preview["sections"]
    ids = {pk for items in sections.values() for item in items for pk in item["customers"]}
    names = {
        pk: f"{first} {last}"
        for pk, first, last in Customer.objects.filter(pk__in=ids).values_list(
            "pk", "first_name", "last_name"
        )
    }
    shown = []
    for outcome in UnsubscribeOutcome.ORDER:
        items = [
            {
                **item,
                "at": datetime.datetime.fromisoformat(item["at"]) if item["at"] else None,
                "customers": [(pk, names[pk]) for pk in item["customers"] if pk in names],
            }
            for item in sections.get(outcome, [])
        ]
        shown.append(
            {
                "outcome": outcome,
                "label": UnsubscribeOutcome.LABELS[outcome],
                "count": preview["counts"].get(outcome, 0),
                "items": items,
            }
        )
    shown_ids = [
        pk for section in shown for item in section["items"] for pk, _ in item["customers"]
    ]
    customer_searched(
        query="",
        result_count=preview["matched"],
        by=request.user,
        request=request,
        shown=len(shown_ids),
        shown_ids=shown_ids,
        via="unsubscribes",
    )
    return {
        "preview": preview,
        "checked_at": datetime.datetime.fromisoformat(preview["at"]),
        "sections": shown,
        "shown": PREVIEW_SHOWN,
    }

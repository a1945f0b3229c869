"""The reports: aggregates only, for the register manager (registry.view_reports)."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from registry.exports import csv_response

from .forms import PeriodForm
from .health import health
from .processing import (
    DOCUMENT_LANGUAGES,
    processing_record,
    processing_record_markdown,
    processing_record_pdf,
)
from .selectors import consents_report, customers_report, rights_report
from .tables import Period, bar_chart

PERMISSION = "registry.view_reports"


def report_page(request, *, title, intro, build, default=None):
    """A report page: the period filter, then each table as a chart and a
    table; `?csv=<key>` downloads one table's aggregates as CSV."""
    form = PeriodForm(request.GET or None, default=default or Period.last_months(12))
    period = form.period()
    tables = build(period)
    if key := request.GET.get("csv"):
        table = next((table for table in tables if table.key == key), None)
        if table is None:
            raise Http404
        return csv_response(
            f"{table.key}-{period.first:%Y-%m}-{period.last:%Y-%m}.csv",
            table.header,
            ([label, *values] for label, values in table.shown_rows),
        )
    return render(
        request,
        "registry/reports/report.html",
        {
            "title": title,
            "intro": intro,
            "form": form,
            "period": period,
            "blocks": [
                {"table": table, "chart": bar_chart(table) if table.chart else None}
                for table in tables
            ],
            "query": request.GET.urlencode(),
        },
    )


@permission_required(PERMISSION, raise_exception=True)
def report_index(request):
    return render(request, "registry/reports/index.html")


@permission_required(PERMISSION, raise_exception=True)
def customer_report(request):
    return report_page(
        request,
        title=_("Customers"),
        intro=_("New, active and soon-to-be-erased customers. Counts only, never names."),
        build=customers_report,
    )


@permission_required(PERMISSION, raise_exception=True)
def consent_report(request):
    return report_page(
        request,
        title=_("Consents"),
        intro=_("Who own direct marketing may reach, month by month, and who said no."),
        build=consents_report,
    )


@permission_required(PERMISSION, raise_exception=True)
def request_report(request):
    return report_page(
        request,
        title=_("Data subject requests"),
        intro=_("Requests by kind and how fast they were answered."),
        build=rights_report,
    )


@permission_required(PERMISSION, raise_exception=True)
def health_page(request):
    return render(
        request,
        "registry/reports/health.html",
        {"lines": health(), "record": processing_record()},
    )


@permission_required(PERMISSION, raise_exception=True)
def processing_record_download(request):
    """The record of processing activities as Markdown text, in the interface
    language (registry.view_reports)."""
    response = HttpResponse(
        processing_record_markdown(), content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="record-of-processing.md"'
    return response


@permission_required(PERMISSION, raise_exception=True)
def processing_record_document(request):
    """The record of processing activities as a PDF document, in Finnish
    unless `?language=en` (registry.view_reports)."""
    language = request.GET.get("language", DOCUMENT_LANGUAGES[0])
    if language not in DOCUMENT_LANGUAGES:
        raise Http404
    response = HttpResponse(processing_record_pdf(language), content_type="application/pdf")
    name = "seloste-kasittelytoimista" if language == "fi" else "record-of-processing"
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response

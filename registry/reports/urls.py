"""The reports: addresses in the registry namespace (the course reports are
in courses.urls; the index links to both)."""

from django.urls import path

from . import views

urlpatterns = [
    path("reports/", views.report_index, name="reports"),
    path("reports/customers/", views.customer_report, name="report-customers"),
    path("reports/consents/", views.consent_report, name="report-consents"),
    path("reports/requests/", views.request_report, name="report-requests"),
    path("reports/health/", views.health_page, name="report-health"),
    path(
        "reports/health/record-of-processing.md",
        views.processing_record_download,
        name="processing-record",
    ),
    path(
        "reports/health/record-of-processing.pdf",
        views.processing_record_document,
        name="processing-record-pdf",
    ),
]

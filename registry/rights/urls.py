"""The data subject's rights: addresses in the registry namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("requests/", views.case_list, name="request-list"),
    path("requests/<int:pk>/", views.case_detail, name="request-detail"),
    path("customers/<int:pk>/requests/new/", views.case_create, name="request-create"),
    path("customers/<int:pk>/access-report/", views.customer_access_report, name="access-report"),
    path("customers/<int:pk>/erase/", views.customer_erase_view, name="customer-erase"),
    path("customers/<int:pk>/restrict/", views.customer_restrict_view, name="customer-restrict"),
    path(
        "customers/<int:pk>/restriction/lift/",
        views.customer_restriction_lift_view,
        name="customer-restriction-lift",
    ),
    path("retention/", views.retention, name="retention"),
]

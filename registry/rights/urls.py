"""The data subject's rights: addresses in the registry namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("requests/", views.case_list, name="request-list"),
    path(
        "requests/new/",
        views.case_create_without_customer,
        name="request-create-without-customer",
    ),
    path("requests/<int:pk>/", views.case_detail, name="request-detail"),
    path("requests/<int:pk>/link/", views.case_link_pick, name="request-link"),
    path(
        "requests/<int:pk>/link/<int:customer_pk>/",
        views.case_link_confirm,
        name="request-link-confirm",
    ),
    path(
        "requests/<int:pk>/no-data/",
        views.case_close_no_data_view,
        name="request-close-no-data",
    ),
    path("requests/<int:pk>/answer/", views.case_answer, name="request-answer"),
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

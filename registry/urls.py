from django.urls import path

from . import rights_views, views
from .accounts.urls import registry_urlpatterns as accounts_urlpatterns
from .audit.urls import urlpatterns as audit_urlpatterns
from .imports.urls import urlpatterns as imports_urlpatterns

app_name = "registry"

urlpatterns = [
    *audit_urlpatterns,
    *accounts_urlpatterns,
    *imports_urlpatterns,
    path("customers/", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/new/", views.CustomerCreateView.as_view(), name="customer-create"),
    path("customers/export/", views.register_export_view, name="register-export"),
    path("customers/<int:pk>/", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("customers/<int:pk>/edit/", views.CustomerUpdateView.as_view(), name="customer-update"),
    path("customers/<int:pk>/merge/", views.customer_merge_pick, name="customer-merge-pick"),
    path("customers/<int:pk>/consents/new/", views.consent_create, name="consent-create"),
    path("marketing/", views.marketing_list_view, name="marketing-list"),
    path("requests/", rights_views.request_list, name="request-list"),
    path("requests/<int:pk>/", rights_views.request_detail, name="request-detail"),
    path("customers/<int:pk>/requests/new/", rights_views.request_create, name="request-create"),
    path(
        "customers/<int:pk>/access-report/",
        rights_views.customer_access_report,
        name="access-report",
    ),
    path("customers/<int:pk>/erase/", rights_views.customer_erase_view, name="customer-erase"),
    path("retention/", rights_views.retention, name="retention"),
    path(
        "customers/<int:pk>/merge/<int:other_pk>/",
        views.customer_merge_confirm,
        name="customer-merge-confirm",
    ),
]

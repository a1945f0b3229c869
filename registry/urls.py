from django.urls import path

from . import views
from .accounts.urls import registry_urlpatterns as accounts_urlpatterns
from .audit.urls import urlpatterns as audit_urlpatterns
from .imports.urls import urlpatterns as imports_urlpatterns
from .reports.urls import urlpatterns as reports_urlpatterns
from .rights.urls import urlpatterns as rights_urlpatterns

app_name = "registry"

urlpatterns = [
    *audit_urlpatterns,
    *accounts_urlpatterns,
    *imports_urlpatterns,
    *rights_urlpatterns,
    *reports_urlpatterns,
    path("customers/", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/new/", views.CustomerCreateView.as_view(), name="customer-create"),
    path("customers/export/", views.register_export_view, name="register-export"),
    path(
        "customers/export/<int:pk>/",
        views.register_export_detail,
        name="register-export-detail",
    ),
    path(
        "customers/export/<int:pk>/download/",
        views.register_export_download,
        name="register-export-download",
    ),
    path("customers/<int:pk>/", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("customers/<int:pk>/edit/", views.CustomerUpdateView.as_view(), name="customer-update"),
    path("customers/<int:pk>/merge/", views.customer_merge_pick, name="customer-merge-pick"),
    path("customers/<int:pk>/consents/new/", views.consent_create, name="consent-create"),
    path("marketing/", views.marketing_list_view, name="marketing-list"),
    path(
        "customers/<int:pk>/merge/<int:other_pk>/",
        views.customer_merge_confirm,
        name="customer-merge-confirm",
    ),
]

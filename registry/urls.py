from django.urls import path

from . import views

app_name = "registry"

urlpatterns = [
    path("customers/", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/new/", views.CustomerCreateView.as_view(), name="customer-create"),
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

"""The audit trail's addresses, part of the registry namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("audit/", views.audit_trail, name="audit-trail"),
    path("audit/user/<int:user_pk>/", views.audit_trail, name="audit-user"),
    path("audit/export/", views.audit_trail_export, name="audit-export"),
]

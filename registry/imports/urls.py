"""The import's addresses, part of the registry namespace."""

from django.urls import path

from . import views

urlpatterns = [
    path("imports/", views.import_list, name="import-list"),
    path("imports/new/", views.import_upload_view, name="import-upload"),
    path("imports/<int:pk>/", views.import_detail, name="import-detail"),
    path("imports/<int:pk>/rejected/", views.import_rejected_download, name="import-rejected"),
    path("imports/<int:pk>/undo/", views.import_undo_view, name="import-undo"),
    path("imports/unsubscribes/", views.unsubscribe_upload_view, name="unsubscribe-upload"),
    path("imports/unsubscribes/<int:pk>/", views.unsubscribe_detail, name="unsubscribe-detail"),
]

from django.contrib import admin

from .models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """An append-only ledger in admin: shown, never added, changed or deleted here."""

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail, read-only: nobody adds, edits or deletes events here."""

    list_display = ("at", "actor", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action", "at")
    list_select_related = ("actor",)
    search_fields = ("actor__username", "target_id")
    date_hierarchy = "at"

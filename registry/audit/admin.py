from django.contrib import admin

from .models import AuditEvent
from .services import event_about_customer_viewed


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

    #: Parts of a date that a crafted address could ask for beyond any year a
    #: database holds (?at__year=99999999999999999999): not offered by the
    #: filters, refused as an unknown filter.
    DATE_PARTS = {"year", "iso_year", "quarter", "month", "week", "week_day", "day"}

    def lookup_allowed(self, lookup, value, request=None):
        if lookup.rsplit("__", 1)[-1] in self.DATE_PARTS:
            return False
        return super().lookup_allowed(lookup, value, request)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail, read-only: nobody adds, edits or deletes events here."""

    list_display = ("at", "actor", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action", "at")
    list_select_related = ("actor",)
    search_fields = ("actor__username", "target_id")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # An event's page shows what it recorded about its customer (a
        # change's old and new values): a read of them, as the register's own
        # trail page is (the seventh probe). Admin's view runs in a transaction.
        if obj is not None:
            event_about_customer_viewed(event=obj, by=request.user, request=request)
        return super().render_change_form(request, context, add, change, form_url, obj)

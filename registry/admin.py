from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .audit.admin import ReadOnlyAdmin
from .models import Consent, ConsentText

admin.site.site_header = _("Customer register: administration")
admin.site.site_title = _("Customer register")
admin.site.index_title = _("Access rights and audit")


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    """Consent wordings: the register manager adds new versions; a version once
    saved is never edited or deleted, since the ledger refers to it."""

    list_display = ("channel", "version", "wording", "created_at", "created_by")
    list_filter = ("channel",)
    fields = ("channel", "wording")

    def get_readonly_fields(self, request, obj=None):
        return ("channel", "version", "wording", "created_at", "created_by") if obj else ()

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj) if obj else self.fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        latest = ConsentText.objects.filter(channel=obj.channel).order_by("-version").first()
        obj.version = latest.version + 1 if latest else 1
        obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    """The consent ledger, read-only. Events are recorded on the customer's page."""

    list_display = ("occurred_at", "customer_id", "channel", "event", "method", "recorded_by")
    list_filter = ("channel", "event", "method")
    list_select_related = ("recorded_by",)

    def get_readonly_fields(self, request, obj=None):
        # The customer by number, as the list shows them: admin's text of the
        # foreign key is the name, and admin writes no read of it (the
        # seventh probe read every name by counting up the addresses).
        return [
            "customer_id" if name == "customer" else name
            for name in super().get_readonly_fields(request, obj)
        ]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

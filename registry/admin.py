from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from .models import AccountSecurity, AuditEvent
from .services import account_require_password_change

admin.site.site_header = _("Customer register: administration")
admin.site.site_title = _("Customer register")
admin.site.index_title = _("Access rights and audit")

User = get_user_model()


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: nobody adds, edits or deletes events here."""

    list_display = ("at", "actor", "action", "target_type", "target_id", "ip_address")
    list_filter = ("action", "at")
    list_select_related = ("actor",)
    search_fields = ("actor__username", "target_id")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AccountSecurityInline(admin.StackedInline):
    model = AccountSecurity
    can_delete = False
    fields = ("password_change_required",)


admin.site.unregister(User)


@admin.register(User)
class RegisterUserAdmin(UserAdmin):
    """User admin for the register manager.

    Superuser status bypasses every permission check of the register, so only an
    existing superuser may see or grant it. Accounts are deactivated, not
    deleted: their audit history must stay attributable.
    """

    inlines = (AccountSecurityInline,)
    list_display = ("username", "first_name", "last_name", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "groups")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "is_superuser"]})
            for name, options in fieldsets
        ]

    def get_inlines(self, request, obj):
        # The add form has no inline: a new account always starts with a
        # password only the register manager knows, so it must be changed.
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            account_require_password_change(user=obj)

    def has_delete_permission(self, request, obj=None):
        return False

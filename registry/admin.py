from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from balansia.reauth import is_recent

from .account_lock import account_login_unlock
from .models import AccountSecurity, AuditEvent, Consent, ConsentText
from .services import access_changed, account_require_password_change
from .two_factor import device_changed_in_admin

admin.site.site_header = _("Customer register: administration")
admin.site.site_title = _("Customer register")
admin.site.index_title = _("Access rights and audit")

User = get_user_model()


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


class AccountSecurityForm(forms.ModelForm):
    lift_lock = forms.BooleanField(
        label=_("Lift the lock"),
        required=False,
        help_text=_(
            "Password logins of this account were locked after many failed attempts "
            "from anywhere. Lift the lock when you know who made them."
        ),
    )

    class Meta:
        model = AccountSecurity
        fields = ("password_change_required",)


class AccountSecurityInline(admin.StackedInline):
    model = AccountSecurity
    form = AccountSecurityForm
    can_delete = False
    readonly_fields = ("login_locked_at",)

    def get_fields(self, request, obj=None):
        security = getattr(obj, "security", None) if obj is not None else None
        if security is not None and security.login_locked_at is not None:
            return ("password_change_required", "login_locked_at", "lift_lock")
        return ("password_change_required",)


def reauthenticate_first(request):
    return redirect(f"{reverse('reauthenticate')}?{urlencode({'next': request.path})}")


class AuditedAccessMixin:
    """Every change of accounts, groups and permissions made here goes into the
    audit trail (as well as into Django's own admin log), and needs a recent
    password confirmation."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if not is_recent(request):
            return reauthenticate_first(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def log_addition(self, request, obj, message):
        access_changed(obj=obj, message=message or "added", by=request.user, request=request)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        access_changed(obj=obj, message=message, by=request.user, request=request)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            access_changed(obj=obj, message="deleted", by=request.user, request=request)
        return super().log_deletions(request, queryset)


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class RegisterGroupAdmin(AuditedAccessMixin, GroupAdmin):
    pass


@admin.register(User)
class RegisterUserAdmin(AuditedAccessMixin, UserAdmin):
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

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        if formset.model is AccountSecurity and any(
            inline.cleaned_data.get("lift_lock") for inline in formset.forms
        ):
            account_login_unlock(user=form.instance, by=request.user, request=request)

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedDeviceMixin:
    """Two-factor devices in admin (superusers only: no role grants them).

    A superuser removes the device of someone who lost their phone and their
    backup codes; every addition, change and removal is audited against the
    device's owner, and needs a recent password confirmation.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if not is_recent(request):
            return reauthenticate_first(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        if not is_recent(request):
            return reauthenticate_first(request)
        return super().delete_view(request, object_id, extra_context)

    def changelist_view(self, request, extra_context=None):
        # Actions (bulk removal) are posted to the list.
        if request.method == "POST" and not is_recent(request):
            return reauthenticate_first(request)
        return super().changelist_view(request, extra_context)

    def log_addition(self, request, obj, message):
        device_changed_in_admin(device=obj, change="added", by=request.user, request=request)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        change = message if isinstance(message, (str, list)) else str(message)
        device_changed_in_admin(device=obj, change=change, by=request.user, request=request)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            device_changed_in_admin(device=obj, change="deleted", by=request.user, request=request)
        return super().log_deletions(request, queryset)


admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)


@admin.register(TOTPDevice)
class AuditedTOTPDeviceAdmin(AuditedDeviceMixin, TOTPDeviceAdmin):
    pass


@admin.register(StaticDevice)
class AuditedStaticDeviceAdmin(AuditedDeviceMixin, StaticDeviceAdmin):
    pass


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

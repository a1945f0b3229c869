"""Accounts, roles and two-factor devices in Django admin (the register manager;
devices: superusers)."""

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminDateWidget
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.admin import StaticDeviceAdmin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry.concurrency import SeenValuesFormMixin
from registry.query_forms import plausible_moment

from .access_rights import grantable_groups, grantable_permissions, manageable
from .lock import account_login_unlock
from .models import AccountSecurity
from .reauth import is_recent
from .services import (
    access_changed,
    account_confidentiality_signed,
    account_require_password_change,
)
from .two_factor import device_changed_in_admin
from .usernames import (
    validate_latin_username,
    validate_personal_username,
    validate_username_free,
)

User = get_user_model()


def signed_by_now(day):
    """An undertaking is signed before the account is made, never ahead."""
    plausible_moment(day)
    if day > timezone.localdate():
        raise ValidationError(
            _("Give the day the undertaking was signed: it cannot be in the future."),
            code="future",
        )


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
        fields = ("password_change_required", "confidentiality_signed_on")
        widgets = {"confidentiality_signed_on": AdminDateWidget}

    def clean_confidentiality_signed_on(self):
        day = self.cleaned_data["confidentiality_signed_on"]
        if day is not None:
            signed_by_now(day)
        return day


class AccountSecurityInline(admin.StackedInline):
    model = AccountSecurity
    form = AccountSecurityForm
    can_delete = False
    readonly_fields = ("login_locked_at",)

    def has_add_permission(self, request, obj=None):
        # An account made before its security row existed gets one the first
        # time something is recorded on it (the day of its undertaking):
        # part of changing the account, audited as that change.
        return obj is not None and self.has_change_permission(request, obj)

    def get_fields(self, request, obj=None):
        fields = ("password_change_required", "confidentiality_signed_on")
        security = getattr(obj, "security", None) if obj is not None else None
        if security is not None and security.login_locked_at is not None:
            return (*fields, "login_locked_at", "lift_lock")
        return fields


class AccountCreationForm(AdminUserCreationForm):
    """A new account, made only after the person signed the confidentiality
    undertaking (the notice: employees are bound by confidentiality)."""

    confidentiality_signed_on = forms.DateField(
        label=_("Confidentiality undertaking signed on"),
        help_text=_(
            "Make the account only after the person has signed the confidentiality "
            "undertaking, and keep the signed copy."
        ),
        widget=AdminDateWidget,
        validators=[signed_by_now],
    )

    def clean_username(self):
        username = super().clean_username()
        validate_latin_username(username)
        validate_personal_username(username)
        validate_username_free(username)
        return username


#: Django's own permissions, named in the interface's language (Django stores
#: their names in English: "Can add customer").
DEFAULT_ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission):
    """ "Customer register | customer | Can view customer", in the user's language."""
    content_type = permission.content_type
    model = content_type.model_class()
    app = apps.get_app_config(content_type.app_label).verbose_name
    if model is None:
        return f"{app} | {content_type.model} | {permission.name}"
    action, _sep, model_name = permission.codename.partition("_")
    if action in DEFAULT_ACTIONS and model_name == model._meta.model_name:
        name = DEFAULT_ACTIONS[action] % {"model": model._meta.verbose_name}
    else:
        # Our own permissions are written with gettext_lazy in Meta.permissions.
        name = gettext(permission.name)
    return f"{app} | {model._meta.verbose_name} | {name}"


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


class WithinOwnRightsFormMixin:
    """Many-to-many fields (`limited_fields`) that offer only what the acting
    user may grant; the admin narrows their querysets. What the object already
    has beyond that (given by a superuser) is neither shown nor taken away, and
    a posted id outside the offer is refused as an invalid choice."""

    limited_fields = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.out_of_reach = {}
        for name in self.limited_fields:
            if name not in self.fields or self.instance.pk is None:
                continue
            current = list(getattr(self.instance, name).all())
            offered = set(
                self.fields[name]
                .queryset.filter(pk__in=[obj.pk for obj in current])
                .values_list("pk", flat=True)
            )
            self.out_of_reach[name] = [obj for obj in current if obj.pk not in offered]
            self.initial[name] = [obj for obj in current if obj.pk in offered]

    def clean(self):
        cleaned = super().clean()
        for name, kept in self.out_of_reach.items():
            if name in cleaned:
                cleaned[name] = [*cleaned[name], *kept]
        return cleaned


class AccountChangeForm(SeenValuesFormMixin, WithinOwnRightsFormMixin, UserChangeForm):
    # Declared, so that admin renders it (RegisterUserAdmin.get_fieldsets).
    seen = forms.CharField(widget=forms.HiddenInput, required=False)

    limited_fields = ("groups", "user_permissions")
    seen_fields = (
        "username",
        "first_name",
        "last_name",
        "email",
        "is_active",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        # An old shared name may stay while other things change; a rename
        # must be to a personal name.
        if "username" in self.changed_data:
            validate_latin_username(username)
            validate_personal_username(username)
            validate_username_free(username, account=self.instance)
        return username


class GroupChangeForm(SeenValuesFormMixin, WithinOwnRightsFormMixin, forms.ModelForm):
    # Declared, so that admin's default fieldset renders it.
    seen = forms.CharField(widget=forms.HiddenInput, required=False)

    limited_fields = ("permissions",)
    seen_fields = ("name", "permissions")


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class RegisterGroupAdmin(AuditedAccessMixin, GroupAdmin):
    """Groups: nobody adds to a group a permission they do not hold themselves."""

    form = GroupChangeForm

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "permissions":
            kwargs["queryset"] = grantable_permissions(request.user).select_related("content_type")
        field = super().formfield_for_manytomany(db_field, request=request, **kwargs)
        if db_field.name == "permissions":
            field.label_from_instance = permission_label
        return field


@admin.register(User)
class RegisterUserAdmin(AuditedAccessMixin, UserAdmin):
    """User admin for the register manager.

    Superuser status bypasses every permission check of the register, so only an
    existing superuser may see or grant it, or see, change, deactivate or set
    the password of a superuser (the change, password and history pages all
    find the account through get_queryset). Groups and permissions are offered
    only as far as the acting user holds them. Accounts are deactivated, not
    deleted: their audit history must stay attributable.
    """

    form = AccountChangeForm
    add_form = AccountCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "confidentiality_signed_on",
                    "username",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    inlines = (AccountSecurityInline,)
    # Dates a person could type that no page could show again (year 1).
    formfield_overrides = {
        models.DateTimeField: {"validators": [plausible_moment]},
        models.DateField: {"validators": [plausible_moment]},
    }
    list_display = ("username", "first_name", "last_name", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "groups")

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            # The values the form showed, for SeenValuesFormMixin.
            fieldsets.append((None, {"fields": ["seen"]}))
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "is_superuser"]})
            for name, options in fieldsets
        ]

    def get_queryset(self, request):
        return manageable(super().get_queryset(request), by=request.user)

    def has_view_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = grantable_groups(request.user)
        elif db_field.name == "user_permissions":
            kwargs["queryset"] = grantable_permissions(request.user).select_related("content_type")
        field = super().formfield_for_manytomany(db_field, request=request, **kwargs)
        if db_field.name == "user_permissions":
            field.label_from_instance = permission_label
        return field

    def user_change_password(self, request, id, form_url=""):
        # Setting someone's password is a change of access like any other.
        if not is_recent(request):
            return reauthenticate_first(request)
        return super().user_change_password(request, id, form_url)

    def get_inlines(self, request, obj):
        # The add form has no inline: a new account always starts with a
        # password only the register manager knows, so it must be changed.
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            account_require_password_change(user=obj)
            account_confidentiality_signed(
                user=obj, signed_on=form.cleaned_data["confidentiality_signed_on"]
            )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user = form.instance
        if (
            change
            and user.is_active
            and not user.is_superuser
            and not user.groups.exists()
            and not user.user_permissions.exists()
        ):
            messages.warning(
                request,
                _(
                    "%(user)s has no role: the account can log in but do nothing. "
                    "Tick a role under Groups if the person needs access."
                )
                % {"user": user.get_username()},
            )

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

import re

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from phonenumber_field.modelfields import PhoneNumberField

from .phones import national_digits, parse_phone


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a row of an append-only ledger."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("The audit trail is append-only.")

    def delete(self):
        raise AppendOnlyError("The audit trail is append-only.")

    def for_target(self, obj):
        return self.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk))

    def for_customer(self, customer):
        """Events about a customer, including those of records merged into it.

        Merging never rewrites old events (the trail is append-only); the merge
        event names the removed record, and its history is followed from here.
        """
        ids = {str(customer.pk)}
        frontier = set(ids)
        while frontier:
            merged = self.filter(
                action=AuditEvent.Action.CUSTOMER_MERGED,
                target_type="registry.customer",
                target_id__in=frontier,
            ).values_list("detail__removed_id", flat=True)
            frontier = {str(pk) for pk in merged} - ids
            ids |= frontier
        return self.filter(target_type="registry.customer", target_id__in=ids)


class AuditEvent(models.Model):
    """One thing that happened in the register: who, when, what, to which object.

    Append-only: nothing edits or deletes a row (the queryset, the model and
    the admin all refuse). Only the erasure of a data subject may scrub personal
    values out of `detail`, and it does so through its own service.
    """

    class Action(models.TextChoices):
        LOGIN = "login", _("Logged in")
        LOGOUT = "logout", _("Logged out")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOCKOUT = "lockout", _("Locked out")
        PASSWORD_CHANGED = "password_changed", _("Changed password")
        ACCOUNT_CREATED = "account_created", _("Created an account")
        CUSTOMER_SEARCHED = "customer_searched", _("Searched customers")
        CUSTOMER_VIEWED = "customer_viewed", _("Viewed a customer")
        CUSTOMER_CREATED = "customer_created", _("Added a customer")
        CUSTOMER_CHANGED = "customer_changed", _("Changed a customer")
        CUSTOMER_MERGED = "customer_merged", _("Merged two customers")

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        # An account with a history is deactivated, never deleted: the trail
        # must keep saying who did what.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(_("action"), max_length=40, choices=Action.choices)
    target_type = models.CharField(_("target type"), max_length=100, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit trail")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["actor", "at"], name="audit_actor_at_idx"),
        ]

    def __str__(self):
        who = self.actor.get_username() if self.actor_id else "-"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit trail is append-only.")


class AccountSecurity(models.Model):
    """Security state of a user account that Django's User does not hold."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="security",
    )
    password_change_required = models.BooleanField(
        _("must change password at next login"),
        default=False,
        help_text=_("Set when someone else chose the password, e.g. a new account."),
    )

    class Meta:
        verbose_name = _("account security")
        verbose_name_plural = _("account security")

    def __str__(self):
        return self.user.get_username()


PHONE_LIKE = re.compile(r"^\+?[\d\s().-]*\d[\d\s().-]*$")


def search_text_of(*, first_name, last_name, email, phone):
    """The casefolded text that the customer search matches against.

    Kept in its own column because SQLite's LIKE folds only ASCII letters, so
    `äijälä` would not find `ÄIJÄLÄ`; and one column takes one trigram index.
    """
    parts = [first_name, last_name, email, str(phone or ""), national_digits(phone)]
    return " ".join(part for part in parts if part).casefold()


class CustomerQuerySet(models.QuerySet):
    def search(self, query):
        """Customers matching every word of the query in name, email or phone.

        A query that is a phone number in any format (`040 123 4567`,
        `+358401234567`) matches the stored number exactly.
        """
        query = (query or "").strip()
        if not query:
            return self
        if PHONE_LIKE.match(query):
            # `040 111 2233` or `+358 40…`: the typed digits anywhere in the
            # stored forms, or the number exactly (`00358…` has no substring).
            compact = re.sub(r"[\s().-]", "", query)
            condition = Q(search_text__contains=compact)
            if phone := parse_phone(query):
                condition |= Q(phone=phone)
            return self.filter(condition)
        result = self
        for term in query.casefold().split():
            result = result.filter(search_text__contains=term)
        return result

    def possible_duplicates(
        self, *, first_name="", last_name="", email="", phone="", postal_code=""
    ):
        """Records that may be the same person: same email, same phone, or the
        same name at the same postal code."""
        condition = Q(pk__in=[])
        if email:
            condition |= Q(email__iexact=email)
        if phone:
            condition |= Q(phone=phone)
        if first_name and last_name and postal_code:
            condition |= Q(
                first_name__iexact=first_name,
                last_name__iexact=last_name,
                postal_code=postal_code,
            )
        return self.filter(condition)

    def ordered(self, sort):
        if sort == "added":
            return self.order_by("-created_at", "-id")
        return self.order_by("last_name", "first_name", "id")


class Customer(models.Model):
    """A customer: only what the privacy notice says the register may hold."""

    class Source(models.TextChoices):
        # The three ways a customer relationship begins, as the notice lists them.
        INFORMATION_REQUEST = "information_request", _("Information request")
        WEB_REGISTRATION = "web_registration", _("Web service registration")
        ENROLMENT_OR_PURCHASE = "enrolment_or_purchase", _("Course enrolment or purchase")

    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    email = models.EmailField(_("email"), blank=True)
    phone = PhoneNumberField(_("phone"), blank=True)
    street_address = models.CharField(_("street address"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = CountryField(_("country"), default="FI")
    source = models.CharField(
        _("how the customer relationship began"), max_length=30, choices=Source.choices
    )
    created_at = models.DateTimeField(_("added"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    last_activity_at = models.DateTimeField(
        _("last activity"), default=timezone.now, editable=False
    )
    search_text = models.TextField(editable=False, default="")

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [("merge_customer", _("Can merge two records of the same person"))]
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="customer_name_idx"),
            models.Index(fields=["-created_at", "-id"], name="customer_added_idx"),
            models.Index(Upper("email"), name="customer_email_upper_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(fields=["city"], name="customer_city_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                name="customer_has_contact",
                condition=~Q(email="")
                | ~Q(phone="")
                | (~Q(street_address="") & ~Q(postal_code="") & ~Q(city="")),
                violation_error_message=_(
                    "Give at least one way to reach the customer: an email address, "
                    "a phone number or a full postal address."
                ),
            ),
        ]

    def __str__(self):
        return self.full_name

    def save(self, *args, **kwargs):
        # The search column is derived data, kept in step with the fields here
        # so that no write path can forget it.
        self.search_text = search_text_of(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
        )
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("registry:customer-detail", args=[self.pk])

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def postal_address(self):
        lines = [self.street_address, f"{self.postal_code} {self.city}".strip()]
        if self.country and self.country.code != "FI":
            lines.append(str(self.country.name))
        return [line for line in lines if line]

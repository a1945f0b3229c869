import abc
import functools
import operator
import re
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.db.models.functions import FirstValue, Upper
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from phonenumber_field.modelfields import PhoneNumberField

from .audit.models import AppendOnlyModel, AppendOnlyQuerySet
from .background import TaskState
from .phones import national_digits, parse_phone
from .reach import reach_changed
from .roles import RoleCode


def is_email(text):
    try:
        validate_email(text)
    except ValidationError:
        return False
    return True


PHONE_LIKE = re.compile(r"^\+?[\d\s().-]*\d[\d\s().-]*$")


class MarketingChannel(models.TextChoices):
    """The ways own direct marketing may reach a customer."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("Text message (SMS)")
    POST = "post", _("Post")
    PHONE = "phone", _("Phone")


class ConsentState(NamedTuple):
    """Customer.consent_state(): the ledger, each channel's latest event, and
    what the marketing channels allow."""

    history: list
    latest: dict
    allowed: dict


def contact_permissions_of(customer, latest):
    """CONTACT_RULES read for one customer whose ledger is in hand (the
    customer page reads it anyway; the annotated query took 8 ms, most of it
    Django compiling its SQL): `latest` maps each ledger channel to its latest
    event. {channel: allowed} for every MarketingChannel."""
    return {
        channel: all(rule.holds(customer, latest) for rule in rules)
        for channel, rules in CONTACT_RULES.items()
    }


def search_text_of(*, first_name, last_name, email, phone):
    """The casefolded text that the customer search matches against.

    Kept in its own column because SQLite's LIKE folds only ASCII letters, so
    `äijälä` would not find `ÄIJÄLÄ`; and one column takes one trigram index.
    """
    parts = [first_name, last_name, email, str(phone or ""), national_digits(phone)]
    return " ".join(part for part in parts if part).casefold()


#: Which event of a ledger is the latest: by when it happened, then by the
#: order recorded. Every reading of the current state uses this order.
LATEST_FIRST = (models.F("occurred_at").desc(), models.F("id").desc())


class CustomerQuerySet(models.QuerySet):
    def search(self, query):
        """Customers matching every word of the query in name, email or phone.

        A query that is a phone number in any format (`040 123 4567`,
        `+358401234567`) matches the stored number exactly.
        """
        query = (query or "").strip()
        if not query:
            return self
        if "@" in query and is_email(query):
            # A whole address means that address: the UPPER(email) index finds
            # it at once, where trigrams of "example.invalid" match everybody.
            return self.filter(email__iexact=query)
        if PHONE_LIKE.match(query):
            # `040 111 2233` or `+358 40…`: the number exactly (`00358…` has
            # no substring), or the typed digits anywhere in the stored forms.
            # A number of ten digits or more is taken as whole: the phone
            # index finds it at once, where the trigrams of its digits ("040",
            # "000") are in most of a million customers' numbers (46 ms).
            # Fewer digits may be the start of a longer number, and also
            # match as part of one.
            compact = re.sub(r"[\s().-]", "", query)
            phone = parse_phone(query)
            if phone and sum(ch.isdigit() for ch in compact) >= 10:
                return self.filter(phone=phone)
            condition = Q(search_text__contains=compact)
            if phone:
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

    def with_contact_permissions(self):
        """Annotate may_email, may_sms, may_post and may_phone: whether own direct
        marketing may reach the customer that way, by CONTACT_RULES (the same
        conditions as contactable_by, one column per channel)."""
        return self.annotate(
            **{
                f"may_{channel}": models.ExpressionWrapper(
                    contact_rules_q(channel), output_field=models.BooleanField()
                )
                for channel in CONTACT_RULES
            }
        )

    def restricted(self):
        """Customers whose processing is restricted (GDPR art. 18)."""
        return self.filter(restricted_since__isnull=False)

    def mark_active(self, moment):
        """Record these customers' activity at `moment`: their retention period
        starts again (registry.rights.selectors.retention_candidates); never
        moved back. Not for a customer whose processing is restricted: the
        data is only stored (GDPR art. 18), so what is done with it meanwhile
        (a correction, a consent recorded, a session marked in the moment of
        the restriction) is no activity of the relationship, and once the
        restriction is lifted the period counts on from the activity before
        it. Returns how many rows changed."""
        return self.filter(restricted_since__isnull=True, last_activity_at__lt=moment).update(
            last_activity_at=moment
        )

    def contactable_by(self, channel):
        """Customers that own direct marketing may reach through `channel`: the
        conditions of CONTACT_RULES as a set-based query (the latest ledger
        events found in one pass over the ledger, not looked up customer by
        customer: 130 ms instead of 480 ms for the email list of 200,000
        customers, docs/benchmarks.md).

        Every marketing path reads this (the lists, their counts and exports,
        the customer list's filter): a customer whose processing is
        restricted is left out here, whatever the ledger says."""
        return self.filter(contact_rules_q(channel))

    def filtered(self, *, q="", city="", source="", contactable="", imported=None, sort=""):
        """The customer list's search and filters, each optional: the words of
        `q` (see search), a city (any letter case), how the relationship
        began, a channel that may be used, the import that added them."""
        customers = self.search(q)
        if city:
            customers = customers.filter(city__iexact=city.strip())
        if source:
            customers = customers.filter(source=source)
        if contactable:
            customers = customers.contactable_by(contactable)
        if imported:
            customers = customers.filter(imported_in=imported)
        return customers.ordered(sort)

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
    # Raised by every edit and merge: an edit form opened on an older version
    # is refused, not saved over the newer one (registry.concurrency).
    version = models.PositiveIntegerField(_("version"), default=1, db_default=1, editable=False)
    search_text = models.TextField(editable=False, default="")
    imported_in = models.ForeignKey(
        "registry.CustomerImport",
        verbose_name=_("imported from"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="customers",
    )
    # Restriction of processing (GDPR art. 18): set and lifted only by the
    # services of registry.rights.restriction, audited there. While set, the
    # data is stored and may be corrected, but not otherwise used
    # (CustomerQuerySet.contactable_by, the courses' enrolments and messages,
    # retention).
    restricted_since = models.DateTimeField(
        _("processing restricted since"), null=True, blank=True, editable=False
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        permissions = [
            ("merge_customer", _("Can merge two records of the same person")),
            ("export_customers", _("Can export the whole customer register")),
            ("view_reports", _("Can see the reports and the register's health")),
        ]
        indexes = [
            # The search text rides along so that a search's page is found in
            # the index alone (an index-only scan), not by reading the rows of
            # every customer whose name sorts before the 50 shown.
            models.Index(
                fields=["last_name", "first_name", "id"],
                include=["search_text"],
                name="customer_name_search_idx",
            ),
            models.Index(fields=["-created_at", "-id"], name="customer_added_idx"),
            models.Index(Upper("email"), name="customer_email_upper_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
            models.Index(Upper("city"), name="customer_city_upper_idx"),
            # Retention: those inactive longest, first (the listing's order),
            # and the reports' counts of who is due.
            models.Index(fields=["last_activity_at", "id"], name="customer_activity_idx"),
            # Who has an email address or a phone, for the marketing counts
            # (contactable_by): read from these small indexes instead of a
            # pass over the whole table (about a third faster at 200,000).
            models.Index(fields=["id"], condition=~Q(email=""), name="customer_with_email_idx"),
            models.Index(fields=["id"], condition=~Q(phone=""), name="customer_with_phone_idx"),
            # The few whose processing is restricted, left out of every
            # marketing list by their ids (contactable_by) without a pass
            # over the whole table.
            models.Index(
                fields=["id"],
                condition=Q(restricted_since__isnull=False),
                name="customer_restricted_idx",
            ),
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
        reach_changed(using=self._state.db)

    def get_absolute_url(self):
        return reverse("registry:customer-detail", args=[self.pk])

    def consent_state(self):
        """The consent ledger read once, latest first; the latest event of each
        ledger channel (that channel's state); and {marketing channel: allowed}
        worked out from them by the rules (contact_permissions_of). What the
        customer page shows, held to the consent rules' oracle."""
        history = list(self.consents.select_related("text", "recorded_by").order_by(*LATEST_FIRST))
        latest = {}
        for consent in history:
            latest.setdefault(consent.channel, consent)
        allowed = contact_permissions_of(
            self, {channel: consent.event for channel, consent in latest.items()}
        )
        return ConsentState(history, latest, allowed)

    def delete(self, *args, **kwargs):
        using = self._state.db
        deleted = super().delete(*args, **kwargs)
        reach_changed(using=using)
        return deleted

    CONTACT_FIELDS = ("email", "phone", "street_address", "postal_code", "city")

    def has_contact(self):
        """The rule of the `customer_has_contact` constraint, in Python."""
        return bool(
            self.email
            or str(self.phone or "")
            or (self.street_address and self.postal_code and self.city)
        )

    def validate_constraints(self, exclude=None):
        # Django checks a CheckConstraint with a query; this one is evaluated
        # here instead, so that validating 50,000 imported rows costs no query.
        # A test holds it equal to the database's constraint.
        contact = next(c for c in self._meta.constraints if c.name == "customer_has_contact")
        others = [c for c in self._meta.constraints if c is not contact]
        errors = []
        # Like Django: a constraint on a field that already failed is not checked.
        if not set(exclude or ()) & set(self.CONTACT_FIELDS) and not self.has_contact():
            errors.append(ValidationError(contact.get_violation_error_message()))
        for constraint in others:
            try:
                constraint.validate(self.__class__, self, exclude=exclude)
            except ValidationError as error:
                errors.append(error)
        if errors:
            raise ValidationError({NON_FIELD_ERRORS: errors})

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"

    @property
    def postal_address(self):
        lines = [self.street_address, f"{self.postal_code} {self.city}".strip()]
        if self.country and self.country.code != "FI":
            lines.append(str(self.country.name))
        return [line for line in lines if line]


class ConsentText(models.Model):
    """A version of the wording shown to customers when asking for consent.

    Versions are never edited or deleted: the ledger must be able to show,
    years later, the exact words a customer agreed to.
    """

    channel = models.CharField(
        _("channel"),
        max_length=20,
        choices=[
            (MarketingChannel.EMAIL, MarketingChannel.EMAIL.label),
            (MarketingChannel.SMS, MarketingChannel.SMS.label),
        ],
    )
    version = models.PositiveIntegerField(_("version"))
    wording = models.TextField(_("wording shown to the customer"))
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="+",
    )

    class Meta:
        verbose_name = _("consent wording")
        verbose_name_plural = _("consent wordings")
        ordering = ["channel", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "version"], name="consent_text_version")
        ]

    def __str__(self):
        return f"{self.get_channel_display()} v{self.version}"


class ConsentQuerySet(AppendOnlyQuerySet):
    def current(self):
        """The latest event of each customer on each channel: the current state."""
        latest = models.Window(
            FirstValue("id"),
            partition_by=[models.F("customer_id"), models.F("channel")],
            order_by=LATEST_FIRST,
        )
        return self.annotate(latest_id=latest).filter(id=models.F("latest_id"))

    def customers_whose_latest(self, channel, event):
        """Ids of customers whose latest event on `channel` is `event`, for
        `pk__in`: one pass over the ledger with a window."""
        # The event is read from the window, not filtered before it: a filter
        # on `event` would first drop the later events of other kinds.
        latest = models.Window(
            FirstValue("event"), partition_by=[models.F("customer_id")], order_by=LATEST_FIRST
        )
        return (
            self.filter(channel=channel)
            .annotate(latest_event=latest)
            .filter(latest_event=event)
            .values("customer_id")
        )

    def erase(self):
        """Remove these rows: only the erasure of the data subject does this."""
        return models.QuerySet.delete(self)

    def move_to(self, customer):
        """Re-attach these rows to another customer (merging two records of one
        person). The events themselves stay as they were."""
        return models.QuerySet.update(self, customer=customer)

    def redate(self, occurred_at):
        """Set when these events happened. Only the repair of the consents an
        older import dated at noon calls this (registry.imports.repairs),
        each audited: nothing else of an event is ever changed."""
        return models.QuerySet.update(self, occurred_at=occurred_at)


class Consent(AppendOnlyModel):
    """One event of a customer's marketing consent ledger. Append-only.

    The current state of each channel is the latest event (by time, then by
    id); nothing is overwritten, so the ledger proves what happened and when.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email marketing")
        SMS = "sms", _("SMS marketing")
        DIRECT_MARKETING = "direct_marketing", _("Direct marketing as a whole")

    class Event(models.TextChoices):
        CONSENT_GIVEN = "given", _("Consent given")
        CONSENT_WITHDRAWN = "withdrawn", _("Consent withdrawn")
        OBJECTION = "objection", _("Objection to direct marketing")
        OBJECTION_LIFTED = "objection_lifted", _("Objection lifted")

    class Method(models.TextChoices):
        WEB_FORM = "web_form", _("Web form")
        IN_PERSON = "in_person", _("In person")
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        LETTER = "letter", _("Letter")
        # An unsubscribe, bounce or complaint brought back from the newsletter
        # service (registry.imports.unsubscribes).
        NEWSLETTER_SERVICE = "newsletter_service", _("Newsletter service")
        # An objection the register itself records for a customer added with
        # an address an erased objector had (registry.suppression): no person
        # gives anything this way, so no form offers it.
        SUPPRESSION_LIST = "suppression_list", _("Suppression list")

    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        # The ledger is only ever removed on purpose, by the erasure of the data
        # subject; never as a side effect of deleting something else.
        on_delete=models.PROTECT,
        related_name="consents",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    event = models.CharField(_("event"), max_length=20, choices=Event.choices)
    occurred_at = models.DateTimeField(_("when it happened"), default=timezone.now)
    method = models.CharField(_("how it was obtained"), max_length=20, choices=Method.choices)
    text = models.ForeignKey(
        ConsentText,
        verbose_name=_("wording shown"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consents",
    )
    # None only for an event a restore recorded again from the marketing
    # journal whose account the restored register does not have (made after
    # the backup): the role below still says who recorded it.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
    )
    # The recorder's role then, as AuditEvent.actor_role ("" before 0014).
    recorded_by_role = models.CharField(
        _("role of the recorder"),
        max_length=20,
        choices=RoleCode.choices,
        blank=True,
        default="",
        db_default="",
    )
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, editable=False)
    # A withdrawal that came as a spam complaint to the newsletter service. It
    # withdraws the email consent only: it is not an objection to post or phone.
    complaint = models.BooleanField(_("spam complaint"), default=False, db_default=False)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent ledger")
        ordering = ["-occurred_at", "-id"]
        permissions = [
            ("use_marketing_lists", _("Can count and export marketing lists")),
        ]
        indexes = [
            models.Index(
                fields=["customer", "channel", "-occurred_at", "-id"], name="consent_latest_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                name="consent_event_fits_channel",
                condition=(
                    Q(channel__in=["email", "sms"], event__in=["given", "withdrawn"])
                    | Q(channel="direct_marketing", event__in=["objection", "objection_lifted"])
                ),
            ),
            models.CheckConstraint(
                name="consent_complaint_is_withdrawal",
                condition=Q(complaint=False) | Q(event="withdrawn"),
            ),
            models.CheckConstraint(
                name="consent_given_has_wording",
                condition=~Q(event="given") | Q(text__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.customer_id} {self.channel} {self.event} {self.occurred_at:%Y-%m-%d}"

    def clean(self):
        # Never dated after it is recorded: the latest event wins, so an
        # event dated in the future would beat every withdrawal or objection
        # recorded until then (the data-protection audit's t14).
        if self.occurred_at and self.occurred_at > (self.recorded_at or timezone.now()):
            raise ValidationError({"occurred_at": _("The time cannot be in the future.")})

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        reach_changed(using=self._state.db)


# --- Who may be contacted, and how ---------------------------------------------
#
# The rules of the privacy notice and Finnish law, written once as data
# (CONTACT_RULES): each channel lists the conditions a customer must meet.
# Each kind of condition reads itself two ways, as a Q on customers (the
# marketing lists, their counts and exports, the customer list's filter:
# CustomerQuerySet.contactable_by and with_contact_permissions) and in Python
# for a customer whose ledger is in hand (the customer page:
# contact_permissions_of). A new rule is a new row or condition of the table,
# so no reading can miss it; tests/test_consent_rules.py holds both readings
# to one oracle.


class ContactCondition(abc.ABC):
    """One condition of CONTACT_RULES, read both ways: a kind of condition
    that lacks either reading cannot be made."""

    @abc.abstractmethod
    def q(self, at=None):
        """The condition on Customer rows (set-based: no query per customer),
        as it holds now, or with `at` as it stood at that moment as far as
        the register keeps the history (the reports: the ledger, and a
        restriction that still lasts; contact details only as they are)."""

    @abc.abstractmethod
    def holds(self, customer, latest):
        """The condition for one customer whose ledger is in hand: `latest`
        maps each ledger channel to its latest event."""


class Filled(ContactCondition):
    """The customer's own data holds what the channel needs: every one of
    these fields filled in."""

    def __init__(self, *fields):
        self.fields = fields

    def q(self, at=None):
        return functools.reduce(operator.and_, (~Q(**{field: ""}) for field in self.fields))

    def holds(self, customer, latest):
        return all(str(getattr(customer, field) or "") for field in self.fields)


class LatestEvent(ContactCondition):
    """The latest event of a ledger channel is `event` (opt-in: a consent not
    withdrawn since); with `is_=False`, it is not (opt-out: no objection, or
    one lifted since). No event at all is not `event`."""

    def __init__(self, channel, event, *, is_=True):
        self.channel, self.event, self.is_ = channel, event, is_

    def q(self, at=None):
        ledger = Consent.objects if at is None else Consent.objects.filter(occurred_at__lt=at)
        q = Q(pk__in=ledger.customers_whose_latest(self.channel, self.event))
        return q if self.is_ else ~q

    def holds(self, customer, latest):
        return (latest.get(self.channel) == self.event) == self.is_


class NotRestricted(ContactCondition):
    """The customer's processing is not restricted (GDPR art. 18). At a
    past moment: not restricted since before it (a restriction lifted since
    leaves no date on the customer, so it is not known)."""

    def q(self, at=None):
        restricted = Customer.objects.restricted()
        if at is not None:
            restricted = restricted.filter(restricted_since__lt=at)
        return ~Q(pk__in=restricted.values("pk"))

    def holds(self, customer, latest):
        return customer.restricted_since is None


#: An objection to direct marketing overrides every consent until lifted;
#: a restricted customer may not be reached at all.
_EVERY_CHANNEL = (
    LatestEvent(Consent.Channel.DIRECT_MARKETING, Consent.Event.OBJECTION, is_=False),
    NotRestricted(),
)

#: Who own direct marketing may reach through each channel: every condition
#: must hold. Post and phone are opt-out (allowed unless objected), email and
#: SMS opt-in (only with a consent for that channel, not withdrawn since);
#: each channel needs its address first.
CONTACT_RULES = {
    MarketingChannel.POST: (Filled("street_address", "postal_code", "city"), *_EVERY_CHANNEL),
    MarketingChannel.PHONE: (Filled("phone"), *_EVERY_CHANNEL),
    MarketingChannel.EMAIL: (
        Filled("email"),
        *_EVERY_CHANNEL,
        LatestEvent(Consent.Channel.EMAIL, Consent.Event.CONSENT_GIVEN),
    ),
    MarketingChannel.SMS: (
        Filled("phone"),
        *_EVERY_CHANNEL,
        LatestEvent(Consent.Channel.SMS, Consent.Event.CONSENT_GIVEN),
    ),
}

#: What each channel needs of the customer's own data, alone (the reports).
REACHABLE_BY = {
    channel: next(rule for rule in rules if isinstance(rule, Filled)).q()
    for channel, rules in CONTACT_RULES.items()
}


def contact_rules_q(channel, at=None):
    """The conditions of `channel` in CONTACT_RULES, as one Q on customers
    (with `at`, as they stood at that moment: ContactCondition.q)."""
    return functools.reduce(operator.and_, (rule.q(at) for rule in CONTACT_RULES[channel]))


class RegisterExportQuerySet(models.QuerySet):
    def waiting_for(self, user, kind):
        """`user`'s exports of `kind` asked for within EXPORT_KEEP_MINUTES and
        not yet downloaded or deleted: the page of the kind links to them."""
        limit = timezone.now() - timezone.timedelta(minutes=settings.EXPORT_KEEP_MINUTES)
        return self.filter(
            kind=kind, requested_by=user, requested_at__gte=limit, deleted_at__isnull=True
        )


class RegisterExport(TaskState):
    """An export written by the task worker rather than in the request: the
    whole register, or a marketing list or the audit trail over
    EXPORT_INLINE_MAX_ROWS rows. The worker writes it into EXPORT_DIR (mode
    600); the person who asked may download it once within
    EXPORT_KEEP_MINUTES, then it is deleted (and by `manage.py
    expire_exports`). The purpose is in the audit trail."""

    class Kind(models.TextChoices):
        REGISTER = "register", _("customer register")
        MARKETING = "marketing", _("marketing list")
        AUDIT = "audit", _("audit trail")

    #: Who may ask for, follow and download an export of each kind.
    PERMISSIONS = {
        Kind.REGISTER: "registry.export_customers",
        Kind.MARKETING: "registry.use_marketing_lists",
        Kind.AUDIT: "registry.view_auditevent",
    }

    requested_at = models.DateTimeField(_("asked for"), default=timezone.now, editable=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("asked for by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.REGISTER)
    #: What the worker needs to write the file (which marketing export, the
    #: audit trail's filters), as JSON.
    parameters = models.JSONField(default=dict, blank=True, editable=False)
    file_format = models.CharField(_("format"), max_length=10)
    file_name = models.CharField(max_length=100, blank=True, editable=False)
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    downloaded_at = models.DateTimeField(_("downloaded"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)

    objects = RegisterExportQuerySet.as_manager()

    class Meta:
        verbose_name = _("register export")
        verbose_name_plural = _("register exports")
        ordering = ["-requested_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.kind} {self.file_format}"

    def get_absolute_url(self):
        return reverse("registry:register-export-detail", args=[self.pk])

    @property
    def permission(self):
        return self.PERMISSIONS[self.kind]

    @property
    def title(self):
        return {
            self.Kind.REGISTER: _("Export the customer register"),
            self.Kind.MARKETING: _("Export a marketing list"),
            self.Kind.AUDIT: _("Export the audit trail"),
        }[self.kind]

    @property
    def again_url(self):
        """The page where the person asks for an export of this kind again."""
        return reverse(
            {
                self.Kind.REGISTER: "registry:register-export",
                self.Kind.MARKETING: "registry:marketing-list",
                self.Kind.AUDIT: "registry:audit-trail",
            }[self.kind]
        )

    @property
    def step_label(self):
        if self.task_step == "record":
            return _("Recording who is on the list")
        return _("Writing the file")

    @property
    def path(self):
        return settings.EXPORT_DIR / self.file_name if self.file_name else None

    @property
    def expires_at(self):
        return self.requested_at + timezone.timedelta(minutes=settings.EXPORT_KEEP_MINUTES)

    @property
    def downloadable(self):
        return (
            self.task_state == self.State.DONE
            and self.downloaded_at is None
            and self.deleted_at is None
            and timezone.now() < self.expires_at
        )

    @property
    def download_name(self):
        day = timezone.localdate(self.requested_at)
        if self.kind == self.Kind.MARKETING:
            channel = self.parameters.get("channel", "")
            return f"markkinointilista-{channel}-{day:%Y-%m-%d}.{self.file_format}"
        if self.kind == self.Kind.AUDIT:
            return f"tapahtumaloki-{day:%Y-%m-%d}.{self.file_format}"
        return f"asiakasrekisteri-{day:%Y-%m-%d}.{self.file_format}"

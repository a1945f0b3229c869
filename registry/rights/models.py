import calendar

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.erasure import ERASED


def add_months(day, months):
    """The same day `months` later (or earlier), or that month's last day when
    the day does not exist: 31 Jan + 1 month = 28/29 Feb."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def one_month_after(day):
    """The GDPR's one month for answering a request (art. 12(3))."""
    return add_months(day, 1)


class DataSubjectRequestQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status__in=DataSubjectRequest.CLOSED)

    def due_within(self, days):
        limit = timezone.localdate() + timezone.timedelta(days=days)
        return self.open().filter(deadline__lte=limit)

    def open_first(self):
        """The open cases by deadline, then the closed ones, latest first."""
        closed = models.Q(status__in=DataSubjectRequest.CLOSED)
        return self.alias(
            closed=models.Case(models.When(closed, then=1), default=0),
            open_deadline=models.Case(models.When(~closed, then=models.F("deadline"))),
        ).order_by(
            "closed",
            "open_deadline",
            models.F("completed_on").desc(nulls_last=True),
            "-id",
        )


class DataSubjectRequest(models.Model):
    """A request of a data subject, handled as a case within its deadline."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access (what do you have about me?)")
        RECTIFICATION = "rectification", _("Rectification")
        ERASURE = "erasure", _("Erasure")
        OBJECTION = "objection", _("Objection")
        RESTRICTION = "restriction", _("Restriction of processing")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused")

    CLOSED = (Status.DONE, Status.REFUSED)

    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    customer = models.ForeignKey(
        "registry.Customer",
        verbose_name=_("customer"),
        # After an erasure the case remains, without the person.
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="data_subject_requests",
    )
    # Who asked, when they are no customer (none found, or erased before):
    # only what it takes to answer them (data minimisation). Emptied when the
    # case is linked to a customer, whose record holds it; scrubbed by an
    # erasure that names them (CASE_NOTES) and by retention (README).
    requester_name = models.CharField(_("requester's name"), max_length=200, blank=True)
    requester_contact = models.CharField(
        _("how to reach the requester"),
        max_length=300,
        blank=True,
        help_text=_(
            "An email address, a phone number or a postal address: where the answer goes."
        ),
    )
    kind = models.CharField(_("request"), max_length=20, choices=Kind.choices)
    received_on = models.DateField(_("received"))
    identity_verification = models.CharField(
        _("how the identity was verified"),
        max_length=300,
        help_text=_("For example: ID card seen at the office; reply from the registered email."),
    )
    deadline = models.DateField(_("deadline"))
    extension_reason = models.CharField(
        _("reason for extending the deadline"), max_length=300, blank=True
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.OPEN
    )
    completed_on = models.DateField(_("completed"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=300, blank=True)
    # None on a case a restore re-created whose account is not in the
    # restored register (registry.rights.casejournal).
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("logged"), default=timezone.now, editable=False)
    # Raised by every update of the case (registry.concurrency).
    version = models.PositiveIntegerField(_("version"), default=1, db_default=1, editable=False)

    objects = DataSubjectRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("data subject request")
        verbose_name_plural = _("data subject requests")
        ordering = ["deadline", "id"]
        permissions = [
            ("handle_data_subject_requests", _("Can handle data subject requests")),
            ("erase_customer", _("Can erase a customer")),
            ("restrict_customer", _("Can restrict the processing of a customer's data")),
        ]

    def __str__(self):
        return self.reference

    def get_absolute_url(self):
        return reverse("registry:request-detail", args=[self.pk])

    @property
    def is_open(self):
        return self.status not in self.CLOSED

    @property
    def without_customer(self):
        """Logged for someone who is no customer, and not linked to one since
        (a case whose customer was erased has no requester)."""
        return self.customer_id is None and bool(self.requester_name)

    @property
    def linkable(self):
        """May still be linked to a customer: an open case without one, whose
        requester was not scrubbed out by an erasure."""
        return self.without_customer and self.is_open and self.requester_name != ERASED

    @property
    def days_left(self):
        return (self.deadline - timezone.localdate()).days

    @property
    def days_late(self):
        return max(0, -self.days_left)

    @property
    def days_taken(self):
        """Days from receipt to completion of a closed case (None while open)."""
        if self.is_open or self.completed_on is None:
            return None
        return (self.completed_on - self.received_on).days

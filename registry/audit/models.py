import datetime
from typing import NamedTuple

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models
from django.db.models import F, Func, Subquery
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from registry.roles import RoleCode


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete a row of an append-only ledger."""


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses bulk updates and deletes; rows of a ledger are only ever added."""

    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} are append-only.")

    def delete(self):
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} are append-only.")


class AppendOnlyModel(models.Model):
    """A row that is written once and never changed or deleted by ordinary means."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.verbose_name_plural} are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{self._meta.verbose_name_plural} are append-only.")


class AuditEventQuerySet(AppendOnlyQuerySet):
    def scrub(self, pk, detail):
        """Replace the detail of one event with a scrubbed copy. Only the erasure
        of a data subject calls this: it removes personal values, nothing else."""
        return models.QuerySet.update(self.filter(pk=pk), detail=detail)

    def prune(self, detail):
        """Forget the address of these events and set their detail to
        `detail` (an expression of the old one), in one UPDATE. Only the
        retention of the trail's values calls this (registry.audit.retention):
        who did what, when, to what and how many stay."""
        return models.QuerySet.update(self, ip_address=None, detail=detail)

    def for_target(self, obj):
        return self.filter(target_type=obj._meta.label_lower, target_id=str(obj.pk))

    def customer_ids(self, customer):
        """The customer's id and those of the records merged into it (strings).

        Merging never rewrites old events (the trail is append-only); the merge
        event names the removed record, and its history is followed from here.
        `customer` is a customer or its id.
        """
        ids = {str(getattr(customer, "pk", customer))}
        frontier = set(ids)
        while frontier:
            merged = self.filter(
                action=AuditEvent.Action.CUSTOMER_MERGED,
                target_type=CUSTOMER_TARGET,
                target_id__in=frontier,
            ).values_list("detail__removed_id", flat=True)
            frontier = {str(pk) for pk in merged} - ids
            ids |= frontier
        return ids

    def for_customer(self, customer):
        """Events about a customer, including those of records merged into it:
        the events targeting it, the list reads and filtered exports that
        showed it (linked by AuditEventCustomer), and the exports of the whole
        register made while it was in the register (whole_register_exports).
        `customer` is a customer or a CustomerKey."""
        ids = self.customer_ids(customer)
        about = AuditEvent.objects.filter(
            target_type=CUSTOMER_TARGET, target_id__in=ids
        ).order_by()
        shown = AuditEventCustomer.objects.filter(
            customer_id__in=[int(pk) for pk in ids if pk.isdigit()]
        ).order_by()
        # A UNION of ids, each from its own index: an OR of the two made
        # PostgreSQL walk the whole trail by time, testing each event
        # against the links (a cost growing with the trail, not the customer).
        whole = AuditEvent.objects.whole_register_exports(customer).order_by()
        event_ids = about.values("pk").union(shown.values("event_id"), whole.values("pk"))
        if connection.vendor == "postgresql":
            # The ids gathered once, then each event found by its primary key:
            # with `IN (union)` the planner could join the union to a scan of
            # the whole trail (a customer with 6,000 events: 38-46 ms a page of
            # the trail, 12-17 ms this way, docs/benchmarks.md).
            return self.filter(InArray(F("pk"), Subquery(event_ids)))
        return self.filter(pk__in=event_ids)

    def latest_for_customer(self, customer, limit):
        """The `limit` newest of for_customer(customer), newest first, for a
        page that shows only those (the customer page). Where the database
        can (PostgreSQL), each source is ordered and cut to `limit` on its own
        index before the union, so the cost follows the limit, not how many
        events the customer has or how long the trail is: the plain union of
        every id, for a customer read a few thousand times, was planned as a
        scan of the whole trail. The list reads are taken newest by the
        event's id (ids follow the order events are written in), so no link
        is joined to its event before the cut."""
        if not connection.features.supports_slicing_ordering_in_compound:
            return self.for_customer(customer).order_by("-at", "-id")[:limit]
        ids = self.customer_ids(customer)
        # NULLS LAST, which no index of the trail is sorted by: each source is
        # read through the customer's own index and sorted, never by walking
        # the whole trail's time (or ids) backwards until `limit` rows match,
        # which a misestimate for a rarely seen customer would do.
        about = AuditEvent.objects.filter(target_type=CUSTOMER_TARGET, target_id__in=ids).order_by(
            F("at").desc(nulls_last=True), F("id").desc(nulls_last=True)
        )[:limit]
        shown = AuditEventCustomer.objects.filter(
            customer_id__in=[int(pk) for pk in ids if pk.isdigit()]
        ).order_by(F("event_id").desc(nulls_last=True))[:limit]
        whole = AuditEvent.objects.whole_register_exports(customer).order_by("-at", "-id")[:limit]
        newest = about.values("pk").union(shown.values("event_id"), whole.values("pk"))
        return self.filter(pk__in=newest).order_by("-at", "-id")[:limit]

    def whole_register_exports(self, customer):
        """The exports of the whole register that held `customer` (a customer
        or a CustomerKey): those made at or after the moment it was added
        (its created_at; the caller knows it: the trail sits below the
        register's models and does not look it up). The file
        is written as of the event's moment (registry.services.
        register_export_write leaves out customers added later), so this is
        exact without a link per customer: a million rows an export. A
        merged record's own time is the earlier of the two (customer_merge);
        an erased customer has no time, and no such events.

        The event targets its export (RegisterExport); one recorded before
        the event named its export has no target, and its file held at least
        the register as it was at the event, so it counts by the same rule
        (a customer added while such a file waited for the worker may be in
        it unnamed: the old file was written as of the worker's moment).

        Found through the index on (action, at), audit_action_at_idx: the
        few events of this kind since the customer was added, not the trail
        by time, nor every event without a target (logins, searches), which
        the index on the target would give."""
        created_at = customer.created_at
        if created_at is None:
            return self.none()  # no longer in the register (CustomerKey)
        return self.filter(
            action=AuditEvent.Action.REGISTER_EXPORTED,
            at__gte=created_at,
            target_type__in=[WHOLE_REGISTER_TARGET, ""],
        )


class CustomerKey(NamedTuple):
    """A customer as the trail knows one by its number (a filter of the
    trail): its id and when it was added to the register (its created_at;
    None if it is no longer there, erased or merged into another). Made by
    the register (registry.services.audit_trail_events): the trail sits
    below its models (tests/test_layout.py) and takes what it needs of a
    customer from its caller, as for_customer takes a customer."""

    pk: int
    created_at: datetime.datetime | None


#: The target of an export of the whole register's event: the export
#: (registry.RegisterExport) the worker writes.
WHOLE_REGISTER_TARGET = "registry.registerexport"
#: How the trail names a customer as a target (Customer._meta.label_lower).
CUSTOMER_TARGET = "registry.customer"

#: Where a customer was read or listed (an event's detail "via"), in words
#: for the trail's pages. A code not here (none yet) is shown as it is.
VIA_WORDS = {
    "audit_event": _("audit event's page"),
    "audit_trail": _("audit trail"),
    "cancel": _("cancelling an enrolment"),
    "consent": _("consent form"),
    "course": _("course page"),
    "duplicates": _("possible duplicates"),
    "edit": _("edit form"),
    "erase": _("erasure"),
    "import_preview": _("import preview"),
    "import_rejected": _("rejected rows of an import"),
    "import_undo": _("undoing an import"),
    "marketing_journal": _("marketing journal, after a restore"),
    "merge": _("merging two records"),
    # manage.py repair_register, recording what the register now records itself.
    "repair_register": _("repair after an upgrade"),
    "message": _("message"),
    "outbox": _("outgoing messages"),
    "request": _("data subject request"),
    "request_link": _("linking a request to a customer"),
    "requests": _("data subject requests"),
    "restrict": _("restricting processing"),
    "restriction_lift": _("lifting a restriction"),
    "retention": _("retention review"),
    "to_call": _("people to call"),
    "unsubscribes": _("unsubscribes"),
}


class InArray(Func):
    """`field = ANY(ARRAY(subquery))` (PostgreSQL): the subquery runs once, as
    an InitPlan, and the field is matched by its index."""

    arg_joiner = " = ANY(ARRAY("
    template = "%(expressions)s))"
    output_field = models.BooleanField()
    conditional = True


def audit_action_choices():
    # A callable (Django 5): migrations refer to it instead of copying the list,
    # so a new kind of event needs no migration.
    return AuditEvent.Action.choices


class AuditEvent(AppendOnlyModel):
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
        CONSENT_RECORDED = "consent_recorded", _("Recorded a consent or objection")
        MARKETING_LIST_EXPORTED = "marketing_list_exported", _("Exported a marketing list")
        COURSE_CREATED = "course_created", _("Added a course")
        COURSE_CHANGED = "course_changed", _("Changed a course")
        ENROLLED = "enrolled", _("Enrolled a customer")
        ENROLLMENT_CANCELLED = "enrollment_cancelled", _("Cancelled an enrolment")
        WAITLIST_PROMOTED = "waitlist_promoted", _("Promoted from the waiting list")
        ATTENDANCE_MARKED = "attendance_marked", _("Marked attendance")
        PARTICIPANT_LIST_VIEWED = "participant_list_viewed", _("Viewed a participant list")
        PARTICIPANT_LIST_EXPORTED = "participant_list_exported", _("Exported a participant list")
        CASE_LOGGED = "request_logged", _("Logged a data subject request")
        CASE_UPDATED = "request_updated", _("Updated a data subject request")
        CASE_VIEWED = "request_viewed", _("Viewed a data subject request without a customer")
        CASE_LINKED = "request_linked", _("Linked a data subject request to a customer")
        CASE_RESTORED = (
            "request_restored",
            _("Restored a data subject request from the journal after a restore"),
        )
        CASE_ANSWER_EXPORTED = (
            "request_answer_downloaded",
            _("Downloaded the answer to a data subject request"),
        )
        ACCESS_REPORT_VIEWED = "access_report_viewed", _("Viewed an access report")
        ACCESS_REPORT_EXPORTED = "access_report_exported", _("Downloaded an access report")
        CUSTOMER_ERASED = "customer_erased", _("Erased a customer")
        CUSTOMER_RESTRICTED = "customer_restricted", _("Restricted the processing of a customer")
        CUSTOMER_RESTRICTION_LIFTED = (
            "customer_restriction_lifted",
            _("Lifted the restriction of processing of a customer"),
        )
        ACCESS_CHANGED = "access_changed", _("Changed access rights")
        ACCOUNT_DEACTIVATED = "account_deactivated", _("Deactivated an account")
        AUDIT_TRAIL_EXPORTED = "audit_trail_exported", _("Exported the audit trail")
        REGISTER_EXPORTED = "register_exported", _("Exported the whole customer register")
        # The set-up page's title is the same English words, an imperative
        # in Finnish; the trail says what was done.
        TWO_FACTOR_ENABLED = (
            "two_factor_enabled",
            pgettext_lazy("audit event", "Set up two-factor authentication"),
        )
        TWO_FACTOR_FAILED = "two_factor_failed", _("Gave a wrong second-factor code")
        IMPORT_UPLOADED = "import_uploaded", _("Uploaded a file to import")
        CUSTOMERS_IMPORTED = "customers_imported", _("Imported customers from a file")
        IMPORT_UNDONE = "import_undone", _("Undid an import")
        UNSUBSCRIBES_IMPORTED = (
            "unsubscribes_imported",
            _("Imported unsubscribes from the newsletter service"),
        )
        IMPORT_REJECTS_DOWNLOADED = (
            "import_rejects_downloaded",
            _("Downloaded the rejected rows of an import"),
        )
        TWO_FACTOR_REPLACED = "two_factor_replaced", _("Replaced the two-factor authenticator")
        TWO_FACTOR_REMOVED = "two_factor_removed", _("Removed a two-factor device")
        MESSAGE_QUEUED = "message_queued", _("Wrote a message to a customer")
        MESSAGE_RESENT = "message_resent", _("Sent a message again")
        TWO_FACTOR_CHANGED = "two_factor_changed", _("Changed a two-factor device")
        ACCOUNT_LOCKED = "account_locked", _("Account locked after repeated failed logins")
        ACCOUNT_UNLOCKED = "account_unlocked", _("Lifted the lock of an account")
        ACCOUNT_REACTIVATED = "account_reactivated", _("Reactivated an account")
        RETENTION_RUN = "retention_run", _("Ran the retention review")
        BACKUP_VERIFIED = "backup_verified", _("Verified a backup by restoring it")
        LOGS_PRUNED = "logs_pruned", _("Removed old values from the logs")
        # manage.py repair_register: a consent an older import dated at noon
        # moved to when the import now dates it, and the run itself.
        CONSENT_REDATED = "consent_redated", _("Corrected the date of an imported consent")
        REGISTER_REPAIRED = "register_repaired", _("Repaired data written by an older version")

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
    action = models.CharField(_("action"), max_length=40, choices=audit_action_choices)
    target_type = models.CharField(_("target type"), max_length=100, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    # The actor's role when it happened (registry.roles.role_code), for
    # the customer's access report, which names roles, not people; "" without an
    # actor and in the events recorded before the column (0014).
    actor_role = models.CharField(
        _("role"),
        max_length=20,
        choices=RoleCode.choices,
        blank=True,
        default="",
        db_default="",
    )
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
            # The exports of the whole register since a customer was added
            # (AuditEventQuerySet.whole_register_exports), and the trail
            # filtered by action.
            models.Index(fields=["action", "at"], name="audit_action_at_idx"),
        ]

    def __str__(self):
        who = self.actor.get_username() if self.actor_id else "-"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.get_action_display()}"

    def get_action_display(self):
        """The action in words, looked up in Action. (Django's own method
        builds the field's callable choices, some sixty translated labels,
        for every event shown: a thousand translations per customer page.)"""
        try:
            return str(self.Action(self.action).label)
        except ValueError:
            return self.action


class AuditEventCustomerQuerySet(AppendOnlyQuerySet):
    def erase(self, customer_ids):
        """Delete the links of erased customers. Only the erasure of a data
        subject calls this; the events themselves stay, scrubbed."""
        return models.QuerySet.delete(self.filter(customer_id__in=customer_ids))[0]


class AuditEventCustomer(AppendOnlyModel):
    """One customer shown by a list read (a search, a participant list, the
    outbox...) or held in an export's file (a participant list, a marketing
    list; the whole register links nobody, see
    AuditEventQuerySet.whole_register_exports): the event says who and when,
    this row says whom, so that "who saw customer X" finds the lists and
    files that held X, not only the record.

    An id, not a foreign key: customers are erased and merged, the trail
    stays. Append-only like the events; an erasure deletes its customer's
    links (AuditEventCustomerQuerySet.erase), a merge leaves them and the
    merge event leads to them (AuditEventQuerySet.for_customer).
    """

    event = models.ForeignKey(
        AuditEvent,
        verbose_name=_("audit event"),
        # Events are never deleted (AppendOnlyModel): PROTECT says so here too.
        on_delete=models.PROTECT,
        related_name="shown_customers",
    )
    customer_id = models.PositiveBigIntegerField(_("customer id"), db_index=True)

    objects = AuditEventCustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("customer shown")
        verbose_name_plural = _("customers shown")

    def __str__(self):
        return f"{self.event_id}: {self.customer_id}"

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.background import TaskState

#: Who may import customers (the views' check, and the worker's again before
#: it writes in the name of the account that confirmed).
IMPORT_PERMISSION = "registry.import_customers"
#: Unsubscribes change the marketing state of many customers at once: the
#: register manager's, who exports the marketing lists they come back from.
UNSUBSCRIBE_PERMISSION = "registry.use_marketing_lists"


class CustomerImport(TaskState):
    """One file of customers brought into the register (tuonti).

    Uploaded, previewed with a column mapping, then applied in one transaction
    or cancelled. The reading of every row (for the preview) and the import
    itself run in the task worker (registry/imports/tasks.py); TaskState
    holds their progress. The uploaded file is kept only until then; after applying,
    only the rejected rows are kept (to be fixed and imported again), until the
    undo period ends. An erasure discards both, since they may hold the person.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        APPLIED = "applied", _("Imported")
        UNDONE = "undone", _("Undone")
        CANCELLED = "cancelled", _("Cancelled")

    created_at = models.DateTimeField(_("uploaded"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    file_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=10)
    encoding = models.CharField(_("character encoding"), max_length=30, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=5, blank=True)
    content = models.BinaryField(null=True, editable=False)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(default=list)
    options = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    # What the preview found for the current mapping (its counts, when, the
    # key of its rows), and the examples of each column from the upload
    # ("samples"), kept with the file. The rows themselves are ImportPreviewRows.
    preview = models.JSONField(default=dict)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    created_count = models.PositiveIntegerField(_("added"), default=0)
    matched_count = models.PositiveIntegerField(_("already in the register"), default=0)
    # Objections and withdrawals of the file recorded for customers already
    # in the register (analysis.REFUSALS); an undo leaves them.
    recorded_count = models.PositiveIntegerField(
        _("objections and withdrawals recorded"), default=0
    )
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    applied_at = models.DateTimeField(_("imported"), null=True, blank=True)
    rejected_rows = models.JSONField(default=list)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("undone by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    undo_report = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("customer import")
        verbose_name_plural = _("customer imports")
        ordering = ["-created_at", "-id"]
        permissions = [("import_customers", _("Can import customers from a file"))]

    def __str__(self):
        return f"#{self.pk} {self.file_name}"

    def get_absolute_url(self):
        return reverse("registry:import-detail", args=[self.pk])

    class Step(models.TextChoices):
        READ = "read", _("Reading the file")
        ANALYSE = "analyse", _("Checking the rows for the preview")
        CHECK = "check", _("Checking the rows against the register")
        WRITE = "write", _("Writing the customers to the register")

    @property
    def step_label(self):
        return self.Step(self.task_step).label if self.task_step in self.Step.values else ""

    @property
    def is_expired(self):
        """A waiting file older than IMPORT_PENDING_HOURS: it can no longer be
        confirmed, and `manage.py expire_imports` discards it."""
        limit = timezone.now() - timezone.timedelta(hours=settings.IMPORT_PENDING_HOURS)
        return self.status == self.Status.PENDING and self.created_at < limit

    @property
    def undo_deadline(self):
        if self.applied_at is None:
            return None
        return self.applied_at + timezone.timedelta(days=settings.IMPORT_UNDO_DAYS)

    @property
    def can_undo(self):
        return (
            self.status == self.Status.APPLIED
            and self.created_count > 0
            and timezone.now() < self.undo_deadline
        )


class ImportPreviewRow(models.Model):
    """One row of a waiting import's preview: what the preview page shows of
    it (`shown`) and what the import needs of its check (`checked`,
    analysis.checked_row), written by the worker's check
    (services.import_preview) a chunk at a time.

    Rows of their own, so that a page of the preview reads the hundred rows
    it shows and nothing else: kept inside the import's `preview` as one
    JSON document (23 MB for 50,000 rows), every view of a page decoded the
    whole of it (1.1 s and 125 MB, docs/benchmarks.md, "A page of the
    preview"). Each row knows its place among all rows and among the rows
    of its outcome, so a page is a range of places on an index, not a count
    of the rows before it. `preview_key` is the check that wrote the row:
    the import's `preview` names the current one, so a page never mixes two
    checks, and the rows of an older or an unfinished check are deleted by
    the next (and by whatever discards the preview: confirm, cancel,
    expiry, erasure). They hold what the file holds, as the kept file does."""

    customer_import = models.ForeignKey(
        CustomerImport,
        on_delete=models.CASCADE,
        related_name="+",
        # The indexes below begin with it.
        db_index=False,
    )
    preview_key = models.BigIntegerField()
    # In the order of the file, from 0: among all rows, among its outcome's.
    place = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10)
    outcome_place = models.PositiveIntegerField()
    shown = models.JSONField()
    checked = models.JSONField()

    class Meta:
        default_permissions = ()
        constraints = [
            models.UniqueConstraint(
                fields=["customer_import", "preview_key", "place"],
                name="import_preview_row_place",
            ),
            models.UniqueConstraint(
                fields=["customer_import", "preview_key", "outcome", "outcome_place"],
                name="import_preview_outcome_place",
            ),
        ]

    def __str__(self):
        return f"{self.customer_import_id}: {self.place}"


class UnsubscribeImport(TaskState):
    """One file of unsubscribes, spam complaints and hard bounces brought back
    from the newsletter service (registry.imports.unsubscribes).

    As with a customer import, the request only keeps the file: the task
    worker reads it and checks every address for the preview, and applies it
    (registry/imports/tasks.py); TaskState holds their progress. The file and
    the preview are kept only until it is applied or cancelled; what stays is
    the file name and the counts (the ledger events it added name it in the
    audit trail)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for confirmation")
        APPLIED = "applied", _("Imported")
        CANCELLED = "cancelled", _("Cancelled")

    class Step(models.TextChoices):
        READ = "read", _("Reading the file")
        ANALYSE = "analyse", _("Checking the addresses for the preview")
        CHECK = "check", _("Checking the addresses against the register")
        WRITE = "write", _("Withdrawing the consents")

    created_at = models.DateTimeField(_("uploaded"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    file_name = models.CharField(_("file name"), max_length=255)
    content = models.BinaryField(null=True, editable=False)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PENDING
    )
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    # What the worker's check found, as the preview page shows it: the counts
    # and the first addresses of each outcome with the ids of their customers
    # (the names are read when the page is shown). Kept with the file.
    preview = models.JSONField(default=dict)
    # What applying it did: {outcome: number of addresses}.
    counts = models.JSONField(default=dict)
    applied_at = models.DateTimeField(_("imported"), null=True, blank=True)

    class Meta:
        verbose_name = _("unsubscribe import")
        verbose_name_plural = _("unsubscribe imports")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.file_name}"

    def get_absolute_url(self):
        return reverse("registry:unsubscribe-detail", args=[self.pk])

    @property
    def step_label(self):
        return self.Step(self.task_step).label if self.task_step in self.Step.values else ""

    @property
    def is_expired(self):
        limit = timezone.now() - timezone.timedelta(hours=settings.IMPORT_PENDING_HOURS)
        return self.status == self.Status.PENDING and self.created_at < limit

from django.conf import settings
from django.db import models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry.models import Customer
from registry.roles import INSTRUCTOR


class CourseQuerySet(models.QuerySet):
    def upcoming(self):
        """Courses not yet over, soonest first."""
        return self.filter(ends_at__gte=timezone.now()).order_by("starts_at", "id")

    def past(self):
        """The archive: courses that are over, latest first."""
        return self.filter(ends_at__lt=timezone.now()).order_by("-starts_at", "-id")

    def visible_to(self, user):
        """Staff see every course; an instructor only the courses they teach."""
        if user.has_perm("courses.view_all_courses"):
            return self
        return self.filter(instructor=user)

    def with_counts(self, *, waitlisted=True):
        """Each course's enrolled and (unless `waitlisted=False`) waiting
        counts, as subqueries: computed for the rows a page shows (PostgreSQL
        evaluates them after the sort and the limit), not by grouping every
        enrolment of every course in the filter first (360 ms for the
        customer page's 100 coming courses with 200,000 customers, their
        lectures holding thousands each)."""

        def count_of(statuses):
            counted = (
                Enrollment.objects.filter(course=OuterRef("pk"), status__in=statuses)
                .order_by()
                .values("course")
                .annotate(n=Count("*"))
                .values("n")
            )
            return Coalesce(Subquery(counted), 0)

        counts = {"enrolled_count": count_of(Enrollment.TAKING_A_PLACE)}
        if waitlisted:
            counts["waitlisted_count"] = count_of([Enrollment.Status.WAITLISTED])
        return self.annotate(**counts)


class Course(models.Model):
    """A course: one evening or a series of sessions (courses.Session). People
    enrol in the whole series; capacity and the waiting list are the course's.

    `starts_at` and `ends_at` are the start of its first session and the end
    of its last one, kept by the services whenever sessions change
    (services.course_dates_sync): lists, the archive and the dashboard filter
    and sort on them without joining the sessions."""

    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    location = models.CharField(_("location"), max_length=200, blank=True)
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("instructor"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="courses_taught",
        limit_choices_to={"groups__name": INSTRUCTOR, "is_active": True},
    )
    capacity = models.PositiveIntegerField(_("capacity"))
    is_cancelled = models.BooleanField(_("cancelled"), default=False)
    created_at = models.DateTimeField(_("added"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Raised by every edit: an edit form opened on an older version is refused
    # (registry.concurrency).
    version = models.PositiveIntegerField(_("version"), default=1, db_default=1, editable=False)

    objects = CourseQuerySet.as_manager()

    class Meta:
        verbose_name = _("course")
        verbose_name_plural = _("courses")
        ordering = ["starts_at", "id"]
        permissions = [
            ("view_all_courses", _("Can see every course, not only those they teach")),
            ("view_participant_contacts", _("Can see participants' email and phone")),
            ("mark_attendance", _("Can mark attendance")),
            ("export_participant_list", _("Can export participant lists")),
        ]
        indexes = [
            models.Index(fields=["starts_at"], name="course_starts_idx"),
            models.Index(fields=["ends_at"], name="course_ends_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                name="course_ends_after_start",
                condition=Q(ends_at__gt=models.F("starts_at")),
                violation_error_message=_("The course must end after it starts."),
            ),
        ]

    def __str__(self):
        return f"{self.title} {timezone.localtime(self.starts_at):%d.%m.%Y}"

    def get_absolute_url(self):
        return reverse("courses:course-detail", args=[self.pk])

    @property
    def has_started(self):
        return self.starts_at <= timezone.now()

    @property
    def is_past(self):
        """A course that is over: its participant list is the archive."""
        return self.ends_at < timezone.now()


#: The order of the lists of a course's participants (the roll call, the
#: attendance grid, the exports, a message's recipients, the course page's
#: cancelled places): last name, first name, then the enrolment, so that a
#: name is at the same place on each and no row moves on a save; a place
#: whose customer was erased (no name) last. Not the course page's places
#: (PLACE_ORDER) nor the waiting list (QUEUE_ORDER).
PARTICIPANT_ORDER = (
    models.F("customer__last_name").asc(nulls_last=True),
    "customer__first_name",
    "id",
)
#: The waiting list's order, wherever it is listed: its queue, first come
#: first. It is meaningful (who gets the next place freed), so never by name.
QUEUE_ORDER = ("status_changed_at", "id")
#: The course page's places: in the order they were taken (its "#"), off
#: the index of (course, status, time), so that the page of a lecture of
#: thousands does not sort them all by name (courses.views.course_detail).
PLACE_ORDER = ("status_changed_at", "id")


class EnrollmentQuerySet(models.QuerySet):
    def by_name(self):
        """In the order of every participant list (PARTICIPANT_ORDER)."""
        return self.order_by(*PARTICIPANT_ORDER)

    def waitlist(self):
        """The queue: first on the list first (QUEUE_ORDER)."""
        return self.filter(status=Enrollment.Status.WAITLISTED).order_by(*QUEUE_ORDER)

    def next_in_line(self):
        """The queue as a freed place goes down it: those whose processing is
        restricted (GDPR art. 18) are passed over, keeping their position
        for when the restriction is lifted, and so is a place left in the
        queue by a customer erased before erasures cancelled such places:
        there is nobody to give it to."""
        return (
            self.waitlist()
            .exclude(customer__restricted_since__isnull=False)
            .exclude(customer=None)
        )

    def taking_a_place(self):
        return self.filter(status__in=Enrollment.TAKING_A_PLACE)


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ENROLLED = "enrolled", _("Enrolled")
        WAITLISTED = "waitlisted", _("On the waiting list")
        CANCELLED = "cancelled", _("Cancelled")

    class Source(models.TextChoices):
        OFFICE = "office", _("At the office")
        PHONE = "phone", _("By phone")
        EMAIL = "email", _("By email")
        WEB = "web", _("On the web")

    TAKING_A_PLACE = (Status.ENROLLED,)

    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        # Erasing a customer leaves the row without the person, so that course
        # statistics stay true.
        on_delete=models.SET_NULL,
        null=True,
        related_name="enrollments",
    )
    course = models.ForeignKey(
        Course, verbose_name=_("course"), on_delete=models.PROTECT, related_name="enrollments"
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    enrolled_at = models.DateTimeField(_("enrolled"), default=timezone.now)
    status_changed_at = models.DateTimeField(_("status changed"), default=timezone.now)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("enrolment")
        verbose_name_plural = _("enrolments")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "course"], name="one_enrollment_per_course"
            ),
        ]
        indexes = [
            models.Index(
                fields=["course", "status", "status_changed_at"], name="enrollment_queue_idx"
            ),
            # The course report counts the enrolments per course and status
            # from this index alone: deduplicated, it is a tenth of the table.
            models.Index(fields=["course", "status"], name="enrollment_course_status_idx"),
        ]

    def __str__(self):
        return f"{self.customer_id} @ {self.course_id}: {self.status}"

    @property
    def is_restricted(self):
        """Whether the participant's processing is restricted (GDPR art. 18):
        the place taken before stays and the name is shown (the place is
        taken), but not the contact details, and no attendance is recorded.
        Read from the customer selected with the enrolment, so that a list
        asks no query per row."""
        return self.customer is not None and self.customer.restricted_since is not None


class SessionQuerySet(models.QuerySet):
    def held(self):
        """Sessions not cancelled."""
        return self.filter(is_cancelled=False)

    def started(self, now=None):
        return self.filter(starts_at__lte=now or timezone.now())


class Session(models.Model):
    """One meeting of a course (kurssikerta): its own time, its place if not
    the course's, cancelled (peruttu) with a reason or moved (siirretty). A
    change to a session never touches the enrolments."""

    course = models.ForeignKey(
        Course, verbose_name=_("course"), on_delete=models.PROTECT, related_name="sessions"
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    location = models.CharField(
        _("place"), max_length=200, blank=True, help_text=_("Empty: the course's place.")
    )
    is_cancelled = models.BooleanField(_("cancelled"), default=False)
    cancelled_reason = models.CharField(_("reason for cancelling"), max_length=200, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    #: When it was first planned, if moved since (shown as "moved from ...").
    moved_from = models.DateTimeField(_("moved from"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1, db_default=1, editable=False)

    objects = SessionQuerySet.as_manager()

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["course", "starts_at"], name="session_course_starts_idx")]
        constraints = [
            models.CheckConstraint(
                name="session_ends_after_start",
                condition=Q(ends_at__gt=models.F("starts_at")),
                violation_error_message=_("The session must end after it starts."),
            ),
        ]

    def __str__(self):
        return f"{self.course_id} {timezone.localtime(self.starts_at):%d.%m.%Y %H:%M}"

    @property
    def place(self):
        return self.location or self.course.location

    @property
    def has_started(self):
        return self.starts_at <= timezone.now()

    @property
    def is_moved(self):
        return self.moved_from is not None


class Attendance(models.Model):
    """Whether one participant came to one session. Points at the enrolment,
    not at the customer: when the customer is erased the enrolment stays
    without the person (SET_NULL), and so do these rows, so the session's
    numbers stay true."""

    class Status(models.TextChoices):
        CAME = "came", _("Came")
        ABSENT = "absent", _("Didn't come")
        EXCUSED = "excused", _("Reported absence")

    session = models.ForeignKey(
        Session, verbose_name=_("session"), on_delete=models.PROTECT, related_name="attendances"
    )
    enrollment = models.ForeignKey(
        Enrollment,
        verbose_name=_("enrolment"),
        on_delete=models.PROTECT,
        related_name="attendances",
    )
    status = models.CharField(_("attendance"), max_length=20, choices=Status.choices)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("marked by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    marked_at = models.DateTimeField(_("marked"), default=timezone.now)

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendance")
        constraints = [
            models.UniqueConstraint(
                fields=["session", "enrollment"], name="one_attendance_per_session"
            ),
        ]

    def __str__(self):
        return f"{self.enrollment_id} @ {self.session_id}: {self.status}"


class MessageQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Staff see every message; a user who sees only the courses they
        teach (an instructor given the outbox) only those courses' messages."""
        if user.has_perm("courses.view_all_courses"):
            return self
        return self.filter(course__in=Course.objects.visible_to(user))

    def failed(self):
        return self.filter(state=Message.State.FAILED)

    def to_call(self):
        """Messages that could not be sent, the customer having no email
        address: staff tell them by phone. Not a customer whose processing
        has been restricted since (GDPR art. 18): nobody calls them, and their
        number is not shown for it, as on the course lists."""
        return self.filter(state=Message.State.NO_ADDRESS, customer__restricted_since__isnull=True)


class Message(models.Model):
    """One service message to one customer (the outbox, lähtevät viestit):
    written in the transaction of the event that causes it and sent after
    commit by a task (courses.tasks.send_message). Service messages only:
    never marketing. The body is deleted after MESSAGE_BODY_DAYS; the rest
    stays as the record of what was sent."""

    class Kind(models.TextChoices):
        ENROLLED = "enrolled", _("Enrolment confirmed")
        WAITLISTED = "waitlisted", _("Placed on the waiting list")
        PROMOTED = "promoted", _("A place from the waiting list")
        ENROLLMENT_CANCELLED = "enrollment_cancelled", _("Enrolment cancelled")
        COURSE_CANCELLED = "course_cancelled", _("Course cancelled")
        SESSION_CANCELLED = "session_cancelled", _("Session cancelled")
        SESSION_MOVED = "session_moved", _("Session moved")
        REMINDER = "reminder", _("Reminder")
        STAFF = "staff", _("Message from staff")

    #: Sent by the register itself on an event (Auto-Submitted: auto-generated).
    AUTOMATIC = tuple(kind for kind in Kind.values if kind != "staff")
    #: What these say is true only while the customer is on the course.
    ABOUT_A_PLACE = (
        "enrolled",
        "waitlisted",
        "promoted",
        "reminder",
        "session_cancelled",
        "session_moved",
    )

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        NO_ADDRESS = "no_address", _("No email address: call")

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")

    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        # The erasure deletes them (courses.messages); so would this.
        on_delete=models.CASCADE,
        related_name="messages",
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL
    )
    course = models.ForeignKey(
        Course,
        verbose_name=_("course"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    session = models.ForeignKey(
        Session,
        verbose_name=_("session"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    to = models.EmailField(_("to"), blank=True)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"), blank=True)
    body_deleted_at = models.DateTimeField(_("text deleted"), null=True, blank=True)
    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.QUEUED
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    caused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("caused by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        permissions = [("send_course_message", _("Can write a message to a course's people"))]
        indexes = [
            models.Index(fields=["state", "created_at"], name="message_state_idx"),
            models.Index(fields=["course", "kind"], name="message_course_kind_idx"),
        ]

    def __str__(self):
        return f"{self.kind} → {self.customer_id} ({self.state})"

    @property
    def is_automatic(self):
        return self.kind in self.AUTOMATIC

    def outdated_reason(self):
        """Why an automatic message written earlier (sent again, or retried)
        is no longer true, or "": a place confirmed, a reminder or a session's
        news for an enrolment cancelled since, "on the waiting list" to one
        who got a place since, any news of a course cancelled since but its
        cancellation. A message from staff is staff's to judge."""
        if not self.is_automatic or self.course is None:
            return ""
        if self.course.is_cancelled and self.kind != self.Kind.COURSE_CANCELLED:
            return _("Not sent: the course was cancelled since.")
        if self.kind not in self.ABOUT_A_PLACE:
            return ""
        status = (
            self.course.enrollments.filter(customer=self.customer_id)
            .exclude(status=Enrollment.Status.CANCELLED)
            .values_list("status", flat=True)
            .first()
        )
        if status is None:
            return _("Not sent: the enrolment was cancelled since.")
        if self.kind == self.Kind.WAITLISTED and status != Enrollment.Status.WAITLISTED:
            return _("Not sent: the customer has got a place since.")
        return ""


class MessageSettings(models.Model):
    """Which automatic messages are sent: one row, edited by the register
    manager in admin (MessageSettings.current())."""

    enrolled = models.BooleanField(_("enrolment confirmed"), default=True)
    waitlisted = models.BooleanField(_("placed on the waiting list"), default=True)
    promoted = models.BooleanField(_("a place from the waiting list"), default=True)
    enrollment_cancelled = models.BooleanField(_("enrolment cancelled by staff"), default=True)
    course_cancelled = models.BooleanField(_("course cancelled"), default=True)
    session_cancelled = models.BooleanField(_("session cancelled"), default=True)
    session_moved = models.BooleanField(_("session moved"), default=True)
    reminder = models.BooleanField(_("reminder before the first session"), default=True)

    class Meta:
        verbose_name = _("automatic messages")
        verbose_name_plural = _("automatic messages")

    def __str__(self):
        return str(_("Automatic messages"))

    @classmethod
    def current(cls):
        return cls.objects.get_or_create(pk=1)[0]

    def allows(self, kind):
        """Staff messages are always allowed; each automatic kind by its switch."""
        return getattr(self, kind, True)

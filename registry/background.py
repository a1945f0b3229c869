"""Long work out of the request: what a task's page shows, and how a task
reports it.

A model that long work belongs to (an import, an export) inherits TaskState:
the request that starts the work marks it queued and enqueues the task after
its transaction commits (`enqueue_on_commit`); the task, in `manage.py
db_worker`, runs inside `task_run`, which marks it running, records progress
and a heartbeat, and on an exception records a plain reason, logs the error
with the task id and lets the exception go on (django-tasks-db then records
the task as failed). A worker killed in the middle leaves "running" with an
old heartbeat: after TASK_STALE_SECONDS the page says it failed.
"""

import gc
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.db import connections, models
from django.db.transaction import on_commit
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)


class TaskState(models.Model):
    """State and progress of the long work of a row, as its page shows them."""

    class State(models.TextChoices):
        NONE = "", gettext_lazy("Not started")
        QUEUED = "queued", gettext_lazy("Waiting for the worker")
        RUNNING = "running", gettext_lazy("In progress")
        DONE = "done", gettext_lazy("Done")
        FAILED = "failed", gettext_lazy("Failed")

    task_id = models.CharField(max_length=64, blank=True, editable=False)
    task_state = models.CharField(
        gettext_lazy("task"), max_length=10, choices=State.choices, blank=True, default=""
    )
    #: What the task is doing (the model names its steps).
    task_step = models.CharField(max_length=20, blank=True, editable=False)
    progress_done = models.PositiveIntegerField(default=0, editable=False)
    progress_total = models.PositiveIntegerField(default=0, editable=False)
    task_error = models.TextField(blank=True, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def task_stale(self):
        """Running, but silent for longer than TASK_STALE_SECONDS: its worker died."""
        if self.task_state != self.State.RUNNING or self.heartbeat_at is None:
            return False
        limit = timezone.now() - timezone.timedelta(seconds=settings.TASK_STALE_SECONDS)
        return self.heartbeat_at < limit

    @property
    def task_active(self):
        """Queued or running (and alive): the page follows it."""
        return self.task_state in (self.State.QUEUED, self.State.RUNNING) and not self.task_stale

    @property
    def task_failed(self):
        return self.task_state == self.State.FAILED or self.task_stale

    @property
    def task_failure(self):
        """The plain reason of a failure, for the person who started it."""
        if self.task_stale:
            return _(
                "the work stopped in the middle (the worker was stopped); nothing was changed"
            )
        return self.task_error

    @property
    def progress_percent(self):
        if not self.progress_total:
            return None
        return min(100, round(100 * self.progress_done / self.progress_total))


def task_mark_queued(instance, step, **extra):
    """Mark `instance`'s work waiting for the worker (in the caller's transaction)."""
    values = {
        "task_id": "",
        "task_state": TaskState.State.QUEUED,
        "task_step": step,
        "progress_done": 0,
        "progress_total": 0,
        "task_error": "",
        "heartbeat_at": timezone.now(),
        **extra,
    }
    type(instance).objects.filter(pk=instance.pk).update(**values)
    for name, value in values.items():
        setattr(instance, name, value)


def enqueue_on_commit(task_path, instance, *args):
    """Enqueue `task(instance.pk, *args)` once the current transaction commits
    (so that the worker sees what the request wrote), and remember the task's
    id on the row, for cancelling it while it waits and for the log. The task
    is named by its path: the tasks call the services, and the services need
    not import the tasks."""
    model, pk = type(instance), instance.pk

    def enqueue():
        result = import_string(task_path).enqueue(pk, *args)
        model.objects.filter(pk=pk, task_id="").update(task_id=str(result.id))

    on_commit(enqueue)


def task_dequeue(instance):
    """Drop the row's task if it still waits for a worker (cancelling): it
    will not run. A running task notices at its next progress report."""
    try:
        task_id = uuid.UUID(instance.task_id)
    except ValueError:
        return  # none yet, or not one of the database backend's
    DBTaskResult.objects.filter(id=task_id, status="READY").delete()


class TaskCancelled(Exception):
    """The row's work was cancelled (or superseded) while the task ran."""


@dataclass
class Progress:
    """Given to a running task's work: `report(done, total)` now and then
    (each call is one UPDATE, committed at once outside any transaction);
    `step(name)` for a new stage. Raises TaskCancelled when the row no longer
    wants this work (`still` filters the row, e.g. the import is still pending)."""

    model: type
    pk: int
    still: dict
    every: int = 500

    def _update(self, **values):
        updated = self.model.objects.filter(
            pk=self.pk, task_state=TaskState.State.RUNNING, **self.still
        ).update(heartbeat_at=timezone.now(), **values)
        if not updated:
            raise TaskCancelled

    def report(self, done, total, *, force=False):
        if force or done == total or done % self.every == 0:
            self._update(progress_done=done, progress_total=total)

    def step(self, name, *, total=None):
        self._update(
            task_step=name,
            progress_done=0,
            **({"progress_total": total} if total is not None else {}),
        )


class _ProgressAside:
    """A Progress whose reports run in a thread of their own, on that
    thread's database connection (Django's are per thread)."""

    def __init__(self, progress, thread):
        self.progress, self.thread = progress, thread

    def report(self, done, total, *, force=False):
        self.thread.submit(self.progress.report, done, total, force=force).result()

    def step(self, name, *, total=None):
        self.thread.submit(self.progress.step, name, total=total).result()


@contextmanager
def progress_aside(progress):
    """`progress` for work that holds the task's connection in a transaction
    of its own (a long read as of one moment): reported there, the progress
    and the heartbeat would be seen by nobody until the end, and the page
    would take the task for dead after TASK_STALE_SECONDS. Reported through
    another connection, each report is committed at once; TaskCancelled
    reaches the work as usual. (None stays None.)"""
    if progress is None:
        yield None
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="progress") as thread:
        try:
            yield _ProgressAside(progress, thread)
        finally:
            thread.submit(connections.close_all).result()


@contextmanager
def task_run(model, pk, context, *, still=None):
    """Run a task's work for one row: mark it running, hand a Progress, and
    record how it ended. Yields None (the task returns quietly) when the row's
    work was cancelled before the task started."""
    task_id = str(context.task_result.id) if context is not None else ""
    still = still or {}
    started = model.objects.filter(pk=pk, task_state=TaskState.State.QUEUED, **still).update(
        task_state=TaskState.State.RUNNING,
        task_id=task_id,
        heartbeat_at=timezone.now(),
    )
    if not started:
        logger.info("Task %s: %s %s no longer waits for it; nothing done", task_id, model, pk)
        yield None
        return
    progress = Progress(model, pk, still)
    try:
        yield progress
    except TaskCancelled:
        logger.info("Task %s: %s %s was cancelled while it ran", task_id, model, pk)
        return
    except Exception as error:
        logger.exception("Task %s failed: %s %s", task_id, model._meta.label, pk)
        model.objects.filter(pk=pk).update(
            task_state=TaskState.State.FAILED,
            task_error=plain_reason(error),
            heartbeat_at=timezone.now(),
        )
        raise
    model.objects.filter(pk=pk, task_state=TaskState.State.RUNNING).update(
        task_state=TaskState.State.DONE, heartbeat_at=timezone.now()
    )


class PlainError(Exception):
    """An error whose message is written for the user (a file that cannot be
    read, an import already handled): a failed task shows it as it is."""


def plain_reason(error):
    """What the person who started the work is told: the message of an error
    written for them, otherwise a general sentence (details in the log)."""
    if isinstance(error, PlainError):
        return str(error)
    return _("an unexpected error; it is in the log for the administrator")


def failed_tasks_since(since):
    """Tasks that raised since `since`, and work whose worker died (silent
    for TASK_STALE_SECONDS), for the register manager's dashboard."""
    raised = DBTaskResult.objects.failed().filter(finished_at__gte=since).count()
    silent_since = timezone.now() - timezone.timedelta(seconds=settings.TASK_STALE_SECONDS)
    died = sum(
        model.objects.filter(
            task_state=TaskState.State.RUNNING,
            heartbeat_at__gte=since,
            heartbeat_at__lt=silent_since,
        ).count()
        for model in apps.get_models()
        if issubclass(model, TaskState)
    )
    return raised + died


@contextmanager
def cycle_collector_paused():
    """Python's cycle collector paused for bulk work (also a decorator). It
    walks every live object each time enough new ones pile up, and an import
    of 50,000 rows holds about a million (the rows, their checked values):
    that was about 1 s of the import, 2 s of its preview and 5 s of its undo
    on a busy machine (docs/benchmarks.md). Reference counting frees memory as usual
    meanwhile; cycles wait for the collector, which runs again afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

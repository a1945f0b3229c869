"""A task for tests/test_worker.py: it records each run in the audit trail,
so that a task run twice would show twice."""

import time

from django_tasks import task
from django_tasks_db.models import DBTaskResult

from registry.audit.models import AuditEvent

#: The first tasks wait (at most this long) until two workers run a task at
#: once, so that the test sees both take part however slowly one starts.
MEET_SECONDS = 60


@task()
def record_run(number):
    AuditEvent.objects.create(action="test_task_ran", target_id=str(number))
    if number < 2:
        deadline = time.monotonic() + MEET_SECONDS
        while time.monotonic() < deadline and not _two_workers_running():
            time.sleep(0.05)
    time.sleep(0.02)
    return number


def _two_workers_running():
    running = DBTaskResult.objects.filter(status="RUNNING").values_list("worker_ids", flat=True)
    return len({ids[-1] for ids in running if ids}) >= 2

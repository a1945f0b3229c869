"""A task for tests/test_worker.py: it records each run in the audit trail,
so that a task run twice would show twice."""

import time

from django_tasks import task

from registry.audit.models import AuditEvent


@task()
def record_run(number):
    AuditEvent.objects.create(action="test_task_ran", target_id=str(number))
    time.sleep(0.02)  # long enough that two workers overlap
    return number

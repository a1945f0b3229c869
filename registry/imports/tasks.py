"""The import's long work, run by `manage.py db_worker`: checking every row
for the preview, and the import itself. Enqueued by the services after the
request's transaction commits."""

from django.contrib.auth import get_user_model
from django_tasks import task

from registry.background import task_run

from . import services
from .models import CustomerImport

WAITING = {"status": CustomerImport.Status.PENDING}


@task(takes_context=True)
def preview_import(context, import_id):
    """Read every row of the file and decide what would happen to it."""
    with task_run(CustomerImport, import_id, context, still=WAITING) as progress:
        if progress is None:
            return None
        customer_import = CustomerImport.objects.get(pk=import_id)
        preview = services.import_preview(customer_import, fresh=True, progress=progress)
        return preview["counts"]


@task(takes_context=True)
def apply_import(context, import_id, user_id, ip_address):
    """Import the file: every row checked again, then written in one transaction."""
    with task_run(CustomerImport, import_id, context, still=WAITING) as progress:
        if progress is None:
            return None
        done = services.import_apply(
            customer_import=CustomerImport.objects.get(pk=import_id),
            by=get_user_model().objects.get(pk=user_id),
            progress=progress,
            ip_address=ip_address,
        )
        return done.created_count

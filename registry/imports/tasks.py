"""The imports' long work, run by `manage.py db_worker`: checking every row
for the preview, and the import itself, of a file of customers and of a file
of unsubscribes. Enqueued by the services after the request's transaction
commits."""

from django_tasks import task

from registry.background import task_run

from . import services, unsubscribes
from .models import IMPORT_PERMISSION, UNSUBSCRIBE_PERMISSION, CustomerImport, UnsubscribeImport

#: The work is for a file that still waits: a cancelled, expired or applied
#: one is left alone (a task queued twice runs once).
WAITING = {"status": CustomerImport.Status.PENDING}
UNSUBSCRIBES_WAITING = {"status": UnsubscribeImport.Status.PENDING}


@task(takes_context=True)
def preview_import(context, import_id):
    """Read every row of the file and decide what would happen to it."""
    with task_run(CustomerImport, import_id, context, still=WAITING) as progress:
        if progress is None:
            return None
        customer_import = CustomerImport.objects.get(pk=import_id)
        return services.import_preview(customer_import, fresh=True, progress=progress)


@task(takes_context=True)
def apply_import(context, import_id, user_id, ip_address):
    """Import the file: every row checked again, then written in one transaction."""
    with task_run(CustomerImport, import_id, context, still=WAITING) as progress:
        if progress is None:
            return None
        done = services.import_apply(
            customer_import=CustomerImport.objects.get(pk=import_id),
            # Checked before the file is read, and again, locked, where it is written.
            by=services.account_still_allowed(user_id, IMPORT_PERMISSION),
            progress=progress,
            ip_address=ip_address,
        )
        return done.created_count


@task(takes_context=True)
def preview_unsubscribes(context, upload_id):
    """Read every address of an unsubscribe file and match it for the preview."""
    with task_run(UnsubscribeImport, upload_id, context, still=UNSUBSCRIBES_WAITING) as progress:
        if progress is None:
            return None
        upload = UnsubscribeImport.objects.get(pk=upload_id)
        return unsubscribes.unsubscribes_preview(upload, progress=progress).counts


@task(takes_context=True)
def apply_unsubscribes(context, upload_id, user_id, ip_address):
    """Withdraw the email consents of an unsubscribe file: every address
    matched again, then written in one transaction."""
    with task_run(UnsubscribeImport, upload_id, context, still=UNSUBSCRIBES_WAITING) as progress:
        if progress is None:
            return None
        _upload, analysis = unsubscribes.unsubscribes_apply(
            upload=UnsubscribeImport.objects.get(pk=upload_id),
            # Checked before the file is read, and again, locked, where it is written.
            by=services.account_still_allowed(user_id, UNSUBSCRIBE_PERMISSION),
            progress=progress,
            ip_address=ip_address,
        )
        return analysis.counts["customers"]

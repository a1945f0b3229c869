"""The register's long work, run by `manage.py db_worker`: the exports
written into files (the whole register, big marketing lists and audit trail
exports). (The import's tasks are in registry/imports/tasks.py.)"""

from django.utils import translation
from django_tasks import task

from . import services
from .background import task_run
from .models import RegisterExport


@task(takes_context=True)
def export_write(context, export_id, language):
    """Write an export's file, whatever its kind, for the person who asked."""
    with task_run(RegisterExport, export_id, context) as progress:
        if progress is None:
            return None
        with translation.override(language):
            return services.export_write(
                RegisterExport.objects.get(pk=export_id), progress=progress
            )


# Tasks queued before the exports had kinds name this path: they still run.
export_register = export_write

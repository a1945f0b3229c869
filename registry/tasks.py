"""The register's long work, run by `manage.py db_worker`: the whole-register
export. (The import's tasks are in registry/imports/tasks.py.)"""

from django.utils import translation
from django_tasks import task

from . import services
from .background import task_run
from .models import RegisterExport


@task(takes_context=True)
def export_register(context, export_id, language):
    """Write the whole register into a file for the person who asked for it."""
    with task_run(RegisterExport, export_id, context) as progress:
        if progress is None:
            return None
        with translation.override(language):
            return services.register_export_write(
                RegisterExport.objects.get(pk=export_id), progress=progress
            )

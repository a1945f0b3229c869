from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoursesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "courses"
    verbose_name = _("Courses")

    def ready(self):
        # Registers the enrolments' merge and erasure handlers with registry.
        import_module(f"{self.name}.services")
        # And the messages' (courses.messages).
        import_module(f"{self.name}.messages")
        # The repair of places an older erasure left taken (registry.repairs).
        import_module(f"{self.name}.repairs")

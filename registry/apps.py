from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = _("Customer register")

    def ready(self):
        from . import signals  # noqa: F401  (connects the audit receivers)

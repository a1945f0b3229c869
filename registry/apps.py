from importlib import import_module

from django.apps import AppConfig
from django.utils.module_loading import module_has_submodule
from django.utils.translation import gettext_lazy as _

#: The concerns of the register, one subpackage each. Their models belong to
#: this app (label "registry"); their admin modules and signal receivers are
#: loaded with it.
CONCERNS = ("audit", "accounts", "imports")


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = _("Customer register")

    def import_models(self):
        super().import_models()
        for concern in CONCERNS:
            self._import_if_present(f"{concern}.models")

    def ready(self):
        for concern in CONCERNS:
            self._import_if_present(f"{concern}.admin")
        # Connects the audit receivers of logins, logouts and lockouts.
        import_module(f"{self.name}.accounts.signals")

    def _import_if_present(self, dotted):
        package, _dot, module = f"{self.name}.{dotted}".rpartition(".")
        if module_has_submodule(import_module(package), module):
            import_module(f"{package}.{module}")

from importlib import import_module

from django.apps import AppConfig
from django.utils.module_loading import module_has_submodule
from django.utils.translation import gettext_lazy as _

#: The concerns of the register, one subpackage each. Their models belong to
#: this app (label "registry"); their admin modules are loaded with it.
CONCERNS = ("audit", "accounts", "rights", "imports", "marketing")

#: Modules that register, when imported, how merges and erasures treat their
#: data (registry.merge, registry.erasure), the audit of logins, checks, the
#: kinds of the marketing journal's entries (registry.journal), and the
#: repairs of what older versions wrote (registry.repairs).
REGISTERING_MODULES = (
    "checks",
    "services",
    "audit.erasure",
    "accounts.services",
    "accounts.signals",
    "rights.erasure",
    "imports.services",
    "imports.unsubscribes",
    # The kinds of the marketing journal's entries (registry.journal).
    "marketing.journal",
    "rights.restriction",
    "rights.casejournal",
    # What older versions wrote wrong, for manage.py repair_register.
    "imports.repairs",
    "marketing.repairs",
)


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = _("Customer register")

    def import_models(self):
        super().import_models()
        for concern in CONCERNS:
            self._import_if_present(concern, "models")

    def ready(self):
        for concern in CONCERNS:
            self._import_if_present(concern, "admin")
        for module in REGISTERING_MODULES:
            import_module(f"{self.name}.{module}")

    def _import_if_present(self, concern, module):
        package = import_module(f"{self.name}.{concern}")
        if module_has_submodule(package, module):
            import_module(f"{package.__name__}.{module}")

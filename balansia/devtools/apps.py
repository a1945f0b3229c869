from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Benchmarks and demo data for developers: a stock admin to measure against,
    the bench* commands and seed_demo. Nothing of the product imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "balansia.devtools"
    label = "devtools"
    verbose_name = "Developer tools"

"""System checks of the register's own settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def suppression_key_check(app_configs, **kwargs):
    if settings.SUPPRESSION_KEY_SET:
        return []
    return [
        Warning(
            "SUPPRESSION_KEY is not set: the suppression list's hashes are keyed with a "
            "key derived from SECRET_KEY, and rotating SECRET_KEY would forget every "
            "objection kept on it.",
            hint="Set SUPPRESSION_KEY in the environment to a long random value and "
            "never change it (README, Settings).",
            id="registry.W001",
        )
    ]

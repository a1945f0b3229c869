"""Importing customers from files: the register manager and office staff."""

from django.db import migrations

from registry.permission_grants import grant, revoke

GRANTS = {
    "Rekisterivastaava": ["registry.import_customers"],
    "Toimisto": ["registry.import_customers"],
}


class Migration(migrations.Migration):
    dependencies = [("registry", "0017_customer_import")]

    operations = [
        migrations.RunPython(
            lambda apps, _: grant(apps, GRANTS), lambda apps, _: revoke(apps, GRANTS)
        )
    ]

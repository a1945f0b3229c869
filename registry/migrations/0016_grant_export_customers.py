"""The whole-register export: the register manager."""

from django.db import migrations

from registry.permission_grants import grant, revoke

GRANTS = {"Rekisterivastaava": ["registry.export_customers"]}


class Migration(migrations.Migration):
    dependencies = [("registry", "0015_export_customers_permission")]

    operations = [
        migrations.RunPython(
            lambda apps, _: grant(apps, GRANTS), lambda apps, _: revoke(apps, GRANTS)
        )
    ]

"""Grant the customer permissions to the roles."""

from django.db import migrations

from registry.permission_grants import grant, revoke

GRANTS = {
    "Toimisto": ["registry.view_customer", "registry.add_customer", "registry.change_customer"],
    "Rekisterivastaava": [
        "registry.view_customer",
        "registry.add_customer",
        "registry.change_customer",
        "registry.merge_customer",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_customer")]

    operations = [
        migrations.RunPython(
            lambda apps, _: grant(apps, GRANTS), lambda apps, _: revoke(apps, GRANTS)
        )
    ]

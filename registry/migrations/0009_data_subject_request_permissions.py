"""Data subject requests, access reports and erasure: the register manager."""

from django.db import migrations

from registry.permission_grants import grant, revoke

GRANTS = {
    "Rekisterivastaava": [
        "registry.view_datasubjectrequest",
        "registry.add_datasubjectrequest",
        "registry.change_datasubjectrequest",
        "registry.handle_data_subject_requests",
        "registry.erase_customer",
    ],
}


class Migration(migrations.Migration):
    dependencies = [("registry", "0008_data_subject_requests")]

    operations = [
        migrations.RunPython(
            lambda apps, _: grant(apps, GRANTS), lambda apps, _: revoke(apps, GRANTS)
        )
    ]

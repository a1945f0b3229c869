"""The permission to see the reports (issue 22), given to the register manager
as GRANTS in registry/accounts/roles.py says."""

from django.db import migrations

from registry.accounts.grants import grant, revoke

REPORTS = {"Rekisterivastaava": ["registry.view_reports"]}


def give(apps, schema_editor):
    grant(apps, REPORTS)


def take_back(apps, schema_editor):
    revoke(apps, REPORTS)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0007_marketing_exports"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="customer",
            options={
                "permissions": [
                    ("merge_customer", "Can merge two records of the same person"),
                    ("export_customers", "Can export the whole customer register"),
                    ("view_reports", "Can see the reports and the register's health"),
                ],
                "verbose_name": "customer",
                "verbose_name_plural": "customers",
            },
        ),
        migrations.RunPython(give, take_back),
    ]

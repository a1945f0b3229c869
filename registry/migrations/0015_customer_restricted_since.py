"""Restriction of processing (GDPR art. 18): when a customer's processing
was restricted, the small index of those customers, and the permission to
restrict and lift it, given to the register manager as GRANTS in
registry/accounts/roles.py says."""

from django.db import migrations, models

from registry.accounts.grants import grant, revoke

RESTRICTION = {"Rekisterivastaava": ["registry.restrict_customer"]}


def give(apps, schema_editor):
    grant(apps, RESTRICTION)


def take_back(apps, schema_editor):
    revoke(apps, RESTRICTION)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0014_role_at_the_time"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="datasubjectrequest",
            options={
                "ordering": ["deadline", "id"],
                "permissions": [
                    ("handle_data_subject_requests", "Can handle data subject requests"),
                    ("erase_customer", "Can erase a customer"),
                    ("restrict_customer", "Can restrict the processing of a customer's data"),
                ],
                "verbose_name": "data subject request",
                "verbose_name_plural": "data subject requests",
            },
        ),
        migrations.AddField(
            model_name="customer",
            name="restricted_since",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="processing restricted since"
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("restricted_since__isnull", False)),
                fields=["id"],
                name="customer_restricted_idx",
            ),
        ),
        migrations.RunPython(give, take_back),
    ]

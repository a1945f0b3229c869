import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0016_accountsecurity_confidentiality_signed_on"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEventCustomer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "customer_id",
                    models.PositiveBigIntegerField(db_index=True, verbose_name="customer id"),
                ),
                (
                    "event",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="shown_customers",
                        to="registry.auditevent",
                        verbose_name="audit event",
                    ),
                ),
            ],
            options={
                "verbose_name": "customer shown",
                "verbose_name_plural": "customers shown",
            },
        ),
    ]

"""The role columns (AuditEvent.actor_role, Consent.recorded_by_role) take
the choices of registry.roles.RoleCode, so admin and the documents show the
role's name. Choices only (AlterField): no SQL on either database."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0018_unsubscribeimport_task"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="actor_role",
            field=models.CharField(
                blank=True,
                choices=[
                    ("register_manager", "Register manager"),
                    ("staff", "Staff"),
                    ("instructor", "Instructor"),
                    ("user", "User"),
                ],
                db_default="",
                default="",
                max_length=20,
                verbose_name="role",
            ),
        ),
        migrations.AlterField(
            model_name="consent",
            name="recorded_by_role",
            field=models.CharField(
                blank=True,
                choices=[
                    ("register_manager", "Register manager"),
                    ("staff", "Staff"),
                    ("instructor", "Instructor"),
                    ("user", "User"),
                ],
                db_default="",
                default="",
                max_length=20,
                verbose_name="role of the recorder",
            ),
        ),
    ]

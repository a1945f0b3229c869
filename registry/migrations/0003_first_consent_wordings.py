"""The first consent wordings, a starting point: the register manager adds the
business's own versions in admin (Consent wordings), and old versions are kept."""

from django.db import migrations

FIRST_WORDINGS = {
    "email": (
        "Haluan saada uutiskirjeen ja tarjouksia sähköpostiini. "
        "Voin perua suostumukseni milloin tahansa."
    ),
    "sms": (
        "Haluan saada tarjouksia ja muistutuksia tekstiviestillä. "
        "Voin perua suostumukseni milloin tahansa."
    ),
}


def forwards(apps, schema_editor):
    ConsentText = apps.get_model("registry", "ConsentText")
    for channel, wording in FIRST_WORDINGS.items():
        ConsentText.objects.get_or_create(
            channel=channel, version=1, defaults={"wording": wording}
        )


def backwards(apps, schema_editor):
    ConsentText = apps.get_model("registry", "ConsentText")
    ConsentText.objects.filter(version=1, consents__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0002_roles")]

    operations = [migrations.RunPython(forwards, backwards)]

"""A trigram index for the customer search on PostgreSQL (nothing on SQLite).

The search matches `search_text LIKE '%word%'`; pg_trgm's GIN index answers
that without reading the whole table. pg_trgm is a trusted extension: the
database owner may create it.
"""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS customer_search_trgm "
        "ON registry_customer USING gin (search_text gin_trgm_ops)"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS customer_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_first_consent_wordings")]

    operations = [migrations.RunPython(forwards, backwards)]

from django.db import migrations


def envelope_lz4(apps, schema_editor):
    """Compress stored envelopes with lz4 rather than pglz: a million-chip envelope (~70 MB of
    base64 JSON) took most of a second to compress inside the statement's transaction with pglz."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
        if cursor.fetchone():
            cursor.execute("ALTER TABLE attestations_attestation ALTER COLUMN envelope SET COMPRESSION lz4")


class Migration(migrations.Migration):
    dependencies = [("attestations", "0004_server_set_keys")]

    operations = [migrations.RunPython(envelope_lz4, migrations.RunPython.noop)]

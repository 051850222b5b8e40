from django.db import migrations

from attestations.partitions import partition_tables


class Migration(migrations.Migration):
    """Monthly range partitions for sightings and usage records (PostgreSQL only)."""

    atomic = True
    dependencies = [("attestations", "0001_initial")]

    operations = [migrations.RunPython(partition_tables, migrations.RunPython.noop)]

# Issue #16 ("Ready for Citus", docs/scaling.md): compliance_aggregate is to be distributed by subject_key,
# so its primary key must include it. (scope, subject_key), the pair aggregate_once held unique, becomes the
# primary key in the database and aggregate_once goes (the key is the same index); the ORM keeps id as its
# key (unique by its sequence, and nothing refers to an aggregate by id: no foreign key), with an index of
# its own for the lists' keyset pages.

from django.db import migrations, models

AGGREGATE_KEY = (
    "ALTER TABLE compliance_aggregate DROP CONSTRAINT compliance_aggregate_pkey,"
    " ADD CONSTRAINT compliance_aggregate_pkey PRIMARY KEY (scope, subject_key)"
)
AGGREGATE_KEY_BACK = (
    "ALTER TABLE compliance_aggregate DROP CONSTRAINT compliance_aggregate_pkey,"
    " ADD CONSTRAINT compliance_aggregate_pkey PRIMARY KEY (id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0006_answers_clarifications"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="aggregate",
            index=models.Index(fields=["id"], name="aggregate_id_idx"),
        ),
        migrations.RunSQL(AGGREGATE_KEY, reverse_sql=AGGREGATE_KEY_BACK),
        migrations.RemoveConstraint(
            model_name="aggregate",
            name="aggregate_once",
        ),
    ]

from django.db import migrations, models


def keep_a_database_default(apps, schema_editor):
    # A process of the version before, still running when migrate starts,
    # inserts runs without the column: keep '' as the column's default, which
    # Django drops after adding it, so those inserts don't fail. (The README
    # asks for every process to be stopped first; SQLite serves one machine.)
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE workflows_run ALTER COLUMN lease_holder SET DEFAULT ''"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0010_status_labels_american"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="lease_holder",
            field=models.CharField(blank=True, default="", max_length=120),
        ),
        migrations.RunPython(keep_a_database_default, migrations.RunPython.noop),
    ]

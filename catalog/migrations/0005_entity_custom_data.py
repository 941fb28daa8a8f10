from django.db import migrations, models


def keep_a_database_default(apps, schema_editor):
    # As workflows 0011: processes of the version before insert entities
    # without the column; '{}' as its default keeps those inserts working.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE catalog_entity ALTER COLUMN custom_data SET DEFAULT '{}'"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_deploy"),
    ]

    operations = [
        migrations.AddField(
            model_name="entity",
            name="custom_data",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(keep_a_database_default, migrations.RunPython.noop),
    ]

from django.db import migrations, models


def keep_database_defaults(apps, schema_editor):
    # As workflows 0011: processes of the version before insert entity types
    # without these columns.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE catalog_entitytype ALTER COLUMN description SET DEFAULT '',"
            " ALTER COLUMN schema SET DEFAULT '{}', ALTER COLUMN icon_tag SET DEFAULT ''"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_entity_custom_data"),
    ]

    operations = [
        migrations.AddField(
            model_name="entitytype",
            name="description",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="entitytype",
            name="schema",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="entitytype",
            name="icon_tag",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
        migrations.RunPython(keep_database_defaults, migrations.RunPython.noop),
    ]

"""Drop the foreign keys' own indexes where another index leads with the same
column: each index costs every run's insert and status change.

Only the indexes go; Django would also drop and re-add the foreign key
constraints, which checks every row again under a lock.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


# (table, column, index name) of each index Django made for a foreign key:
REDUNDANT = [
    ("workflows_notification", "user_id", "workflows_notification_user_id_3a4ac7f3"),
    ("workflows_run", "workflow_id", "workflows_run_workflow_id_f79305db"),
    ("workflows_run", "workspace_id", "workflows_run_workspace_id_1c5ef31a"),
    ("workflows_step", "run_id", "workflows_step_run_id_1543a7bc"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_idempotencyrecord"),
        ("workflows", "0005_integration_jira"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="notification",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notifications",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="run",
                    name="workflow",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="workflows.workflow",
                    ),
                ),
                migrations.AlterField(
                    model_name="run",
                    name="workspace",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="portal.workspace",
                    ),
                ),
                migrations.AlterField(
                    model_name="step",
                    name="run",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="steps",
                        to="workflows.run",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for table, column, name in REDUNDANT
            ],
        )
    ]

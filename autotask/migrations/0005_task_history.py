from django.db import migrations, models


class Migration(migrations.Migration):
    """Every attempt kept: the earlier attempts of a task (JSON), and the runner that ran the current one."""

    dependencies = [
        ("autotask", "0004_schedule_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="runner_pid",
            field=models.PositiveIntegerField(blank=True, help_text="pid of the runner process that ran it", null=True),
        ),
        migrations.AddField(
            model_name="task",
            name="history",
            field=models.TextField(blank=True, help_text="JSON: the earlier attempts (autotask.history)", null=True),
        ),
    ]

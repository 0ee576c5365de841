from django.db import migrations, models


class Migration(migrations.Migration):
    """What each run of a schedule is stored with: @periodic_task/@cron_task(timeout=, retries=, ttl=,
    queue_name=, priority=, args=, kwargs=)."""

    dependencies = [
        ("autotask", "0003_task_name_queue_priority"),
    ]

    operations = [
        migrations.AddField(
            model_name="schedule",
            name="timeout",
            field=models.FloatField(blank=True, help_text="seconds a run may take", null=True),
        ),
        migrations.AddField(
            model_name="schedule",
            name="retries",
            field=models.PositiveIntegerField(default=0, help_text="runs allowed after a failure"),
        ),
        migrations.AddField(
            model_name="schedule",
            name="ttl",
            field=models.PositiveIntegerField(
                blank=True, help_text="seconds a run is kept (empty: AUTOTASK_SCHEDULE_RUN_TTL)", null=True
            ),
        ),
        migrations.AddField(
            model_name="schedule",
            name="queue_name",
            field=models.CharField(default="default", max_length=100),
        ),
        migrations.AddField(
            model_name="schedule",
            name="priority",
            field=models.SmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="schedule",
            name="arguments",
            field=models.TextField(default='{"args":[],"kwargs":{}}', help_text="JSON: every run's arguments"),
        ),
    ]

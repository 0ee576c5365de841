# autotask 1.0: the run output table (autotask/output.py).

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('autotask', '0007_task_backend'),
    ]

    operations = [
        migrations.CreateModel(
            name='TaskOutput',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('attempt', models.PositiveIntegerField()),
                ('left_out', models.BigIntegerField(blank=True, null=True)),
                ('text', models.TextField()),
                ('task', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='output_parts', to='autotask.task')),
            ],
            options={
                'indexes': [models.Index(fields=['task', 'id'], name='autotask_output_task')],
            },
        ),
    ]

"""The queue's own adapters and converters (``queue.sql``) give what Django's would:
they replace Django's on the worker's path of every task, for speed only."""

import datetime as dt
import zoneinfo

import pytest
from django.db import connection

from autotask.models import Task
from autotask.queue import CLAIM_FIELDS
from autotask.queue.sql import adapters, row_reader

from . import tasks

pytestmark = pytest.mark.django_db(transaction=True)

TIMES = [
    dt.datetime(2026, 12, 2, 18, 45, 41, 347475, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 12, 2, 18, 45, 41, tzinfo=dt.timezone.utc),  # no microseconds: no fraction in the text
    dt.datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=zoneinfo.ZoneInfo("America/Los_Angeles")),
]


@pytest.mark.parametrize("value", TIMES, ids=str)
def test_a_datetime_goes_in_as_django_would_write_it(value):
    _, db_time = adapters(connection)
    assert db_time(value) == connection.ops.adapt_datetimefield_value(value)


def test_claimed_columns_come_back_as_values_would_read_them():
    handles = [tasks.add(1, 2), tasks.add.using(delay=60, priority=5, queue_name="other")(3, 4)]
    Task.objects.filter(pk=handles[0].id).update(due_at=TIMES[0], run_at=TIMES[1])
    table, quote = Task._meta.db_table, connection.ops.quote_name
    columns = ", ".join(quote(Task._meta.get_field(name).column) for name in CLAIM_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {quote(table)} ORDER BY {quote('id')}")
        raw = cursor.fetchall()
    read = row_reader(connection, Task, CLAIM_FIELDS)(raw)
    expected = list(Task.objects.order_by("id").values(*CLAIM_FIELDS))
    assert read == expected
    assert [type(row["id"]) for row in read] == [type(handle.id) for handle in handles]
    assert read[0]["run_at"] == TIMES[1] and read[0]["due_at"] == TIMES[0]

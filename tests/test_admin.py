"""The read-only admin renders tasks, schedules and workers for staff only."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from autotask.models import Schedule, Task, Worker

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def failed_task():
    now = timezone.now()
    return Task.objects.create(
        function="tests.tasks.fail_with_value_error", status="ERROR", run_at=now, created_at=now, started_at=now,
        finished_at=now, error_message="broken <input>", exception_class="builtins.ValueError",
        traceback='Traceback (most recent call last):\n  File "x.py", line 1\nValueError: broken <input>',
        progress=40, result=None,
    )


def test_task_list_filters_and_searches(staff_client, failed_task):
    url = reverse("admin:autotask_task_changelist")
    response = staff_client.get(url, {"status__exact": "ERROR", "q": "fail_with"})
    assert response.context["cl"].result_count == 1
    assert '<progress max="100" value="40"' in response.content.decode()
    assert staff_client.get(url, {"status__exact": "DONE"}).context["cl"].result_count == 0


def test_task_detail_shows_the_traceback_escaped_and_readable(staff_client, failed_task):
    page = staff_client.get(reverse("admin:autotask_task_change", args=[failed_task.pk])).content.decode()
    assert "<pre" in page and "Traceback (most recent call last)" in page
    assert "broken &lt;input&gt;" in page and "broken <input>" not in page


def test_admin_is_read_only(staff_client, failed_task):
    assert staff_client.get(reverse("admin:autotask_task_add")).status_code == 403
    response = staff_client.post(reverse("admin:autotask_task_delete", args=[failed_task.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Task.objects.filter(pk=failed_task.pk).exists()


def test_schedules_and_workers_pages(staff_client):
    now = timezone.now()
    Schedule.objects.create(function="tests.schedule_tasks.every_minute", kind="cron", expression="crontab '* * * * *'",
                            timezone="Europe/Berlin", signature="s", next_run_at=now, last_status="DONE")
    Worker.objects.create(host="h", pid=1, started_at=now, heartbeat_at=now)
    assert "crontab" in staff_client.get(reverse("admin:autotask_schedule_changelist")).content.decode()
    assert staff_client.get(reverse("admin:autotask_worker_changelist")).status_code == 200


def test_non_staff_see_nothing(client, failed_task):
    User.objects.create_user("user", "u@example.com", "pw")
    client.login(username="user", password="pw")
    response = client.get(reverse("admin:autotask_task_changelist"))
    assert response.status_code == 302 and "login" in response["Location"]

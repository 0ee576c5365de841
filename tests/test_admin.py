"""The admin with Django's test client: pages, filters, every action, and every permission case."""

import datetime as dt
import json
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from autotask import operations
from autotask.queue import expiry
from autotask.models import MinuteStats, Schedule, Task, Worker
from autotask.task import CANCELLED, DONE, ERROR, RUNNING, WAITING

from . import schedule_tasks, tasks, tasks_admin  # noqa: F401  (schedule_tasks registers the schedules)

pytestmark = pytest.mark.django_db

TASKS = reverse("admin:autotask_task_changelist")
SCHEDULES = reverse("admin:autotask_schedule_changelist")
DASHBOARD = reverse("admin:autotask_dashboard")
DATA = reverse("admin:autotask_dashboard_data")


def make_task(status, function="tests.tasks.add", **fields):
    now = timezone.now()
    values = dict(function=function, status=status, run_at=now, created_at=now)
    if status in (DONE, ERROR, CANCELLED):
        values.update(started_at=now, finished_at=now, expires_at=now + dt.timedelta(hours=1), attempts=1)
    if status == RUNNING:
        values.update(started_at=now, attempts=1, worker="host:1")
    values.update(fields)
    return Task.objects.create(**values)


def staff(username, *codenames):
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="autotask", codename__in=codenames))
    return user


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def superuser_client(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


@pytest.fixture
def failed_task():
    return make_task(
        ERROR, function="tests.tasks.fail_with_value_error", error_message="broken <input>", exception_class="builtins.ValueError",
        traceback='Traceback (most recent call last):\n  File "x.py", line 1\nValueError: broken <input>', progress=40,
    )


def act(client, action, *tasks_or_ids, url=TASKS, **extra):
    data = {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [str(getattr(t, "pk", t)) for t in tasks_or_ids], **extra}
    return client.post(url, data)


def message_texts(response):
    """The messages this request added."""
    return [str(m) for m in response.wsgi_request._messages._queued_messages]


# -- pages -------------------------------------------------------------------------------------


def test_task_list_filters_and_searches(superuser_client, failed_task):
    make_task(DONE, function="tests.tasks.noop")
    response = superuser_client.get(TASKS, {"status__exact": "ERROR", "q": "fail_with"})
    assert response.context["cl"].result_count == 1
    assert '<progress max="100" value="40"' in response.content.decode()
    assert superuser_client.get(TASKS, {"status__exact": "DONE"}).context["cl"].result_count == 1
    by_function = superuser_client.get(TASKS, {"function": "tests.tasks.noop"})
    assert by_function.context["cl"].result_count == 1
    assert "tests.tasks.fail_with_value_error" in by_function.content.decode()  # offered in the function filter
    # A prefix of the id that reaches its random part: the first 13 characters are the
    # millisecond it was made in, which the other task may share.
    assert superuser_client.get(TASKS, {"q": str(failed_task.pk)[:28]}).context["cl"].result_count == 1
    assert superuser_client.get(TASKS, {"q": "broken"}).context["cl"].result_count == 1


def test_task_list_filters_by_queue(superuser_client):
    make_task(WAITING, queue_name="mail")
    make_task(WAITING)
    now = timezone.now()
    Worker.objects.create(host="h", pid=1, started_at=now, heartbeat_at=now, queues="reports")
    response = superuser_client.get(TASKS, {"queue_name": "mail"})
    assert response.context["cl"].result_count == 1
    page = response.content.decode()
    assert "?queue_name=reports" in page and "?queue_name=default" in page  # offered: seen in tasks, or a worker's


def test_task_list_filters_by_schedule(superuser_client):
    schedule = Schedule.objects.create(function="tests.schedule_tasks.every_second", kind="periodic", expression="every 1 s",
                                       signature="s", next_run_at=timezone.now())
    make_task(DONE, function=schedule.function, schedule=schedule, due_at=timezone.now())
    make_task(DONE)
    response = superuser_client.get(TASKS, {"schedule__id__exact": schedule.pk})
    assert response.context["cl"].result_count == 1


def test_task_page_shows_the_run_record_escaped_and_read_only(superuser_client, failed_task):
    page = superuser_client.get(reverse("admin:autotask_task_change", args=[failed_task.pk])).content.decode()
    assert "<pre" in page and "Traceback (most recent call last)" in page
    assert "broken &lt;input&gt;" in page and "broken <input>" not in page
    assert 'name="_save"' not in page  # nothing to edit
    assert 'name="retry_tasks"' in page and 'name="cancel_tasks"' not in page  # the actions that fit, as buttons
    assert DASHBOARD in page
    response = superuser_client.post(reverse("admin:autotask_task_change", args=[failed_task.pk]), {"function": "x"})
    assert response.status_code == 403
    assert Task.objects.get(pk=failed_task.pk).function == "tests.tasks.fail_with_value_error"


def test_an_unfinished_task_page_refreshes_itself(superuser_client):
    running = make_task(RUNNING)
    page = superuser_client.get(reverse("admin:autotask_task_change", args=[running.pk])).content.decode()
    assert "autotask/task_live.js" in page and 'id="autotask-live"' in page
    assert 'name="cancel_tasks"' in page and 'name="retry_tasks"' not in page
    done = superuser_client.get(reverse("admin:autotask_task_change", args=[make_task(DONE).pk])).content.decode()
    assert "task_live.js" not in done


def test_nothing_can_be_added(superuser_client):
    assert superuser_client.get(reverse("admin:autotask_task_add")).status_code == 403
    assert superuser_client.get(reverse("admin:autotask_schedule_add")).status_code == 403
    assert superuser_client.get(reverse("admin:autotask_worker_add")).status_code == 403


def test_schedules_and_workers_pages(superuser_client):
    now = timezone.now()
    schedule = Schedule.objects.create(function="tests.schedule_tasks.every_minute", kind="cron",
                                       expression="crontab '* * * * *'", timezone="Europe/Berlin", signature="s",
                                       next_run_at=now, last_status="ERROR", last_error="it <broke>", paused=True)
    page = superuser_client.get(SCHEDULES).content.decode()
    assert "crontab" in page and "paused" in page and DASHBOARD in page
    detail = superuser_client.get(reverse("admin:autotask_schedule_change", args=[schedule.pk])).content.decode()
    assert "it &lt;broke&gt;" in detail
    alive = Worker.objects.create(host="h", pid=1, started_at=now, heartbeat_at=now, companion=True, tasks_done=7)
    Worker.objects.create(host="h", pid=2, started_at=now, heartbeat_at=now - dt.timedelta(hours=1))
    running = make_task(RUNNING, worker_id=alive.id)
    page = superuser_client.get(reverse("admin:autotask_worker_changelist")).content.decode()
    assert "companion" in page and "dedicated" in page
    assert 'alt="True"' in page and 'alt="False"' in page  # one alive, one lost
    assert f"{running.pk}/change/" in page


def test_non_staff_are_sent_to_the_login(client, failed_task):
    User.objects.create_user("user", "u@example.com", "pw")
    client.login(username="user", password="pw")
    for url in (TASKS, DASHBOARD, DATA):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


# -- actions ---------------------------------------------------------------------------------


def test_cancel_tasks_as_a_handle_cancels_them(superuser_client):
    waiting, running, done = make_task(WAITING, ttl=60), make_task(RUNNING), make_task(DONE)
    response = act(superuser_client, "cancel_tasks", waiting, running, done)
    assert response.status_code == 302
    assert message_texts(response) == ["1 task cancelled, 1 running task asked to stop, 1 already finished."]
    waiting.refresh_from_db()
    assert waiting.status == CANCELLED and waiting.error_message == "cancelled before it ran"
    assert waiting.exception_class == "autotask.exceptions.TaskCancelled"
    assert waiting.expires_at == expiry.expires_at(CANCELLED, waiting.finished_at, 60)  # AUTOTASK_FAILED_TTL
    assert Task.objects.get(pk=running.pk).cancel_requested is True
    assert Task.objects.get(pk=running.pk).status == RUNNING  # its worker stops it
    assert Task.objects.get(pk=done.pk).status == DONE


def test_cancel_leaves_a_row_exactly_as_handle_cancel_does():
    by_handle, by_admin = tasks.add(1, 2), tasks.add(1, 2)
    assert by_handle.cancel() is True
    operations.cancel_tasks(Task.objects.filter(pk=by_admin.id))
    fields = ["status", "error_message", "exception_class", "ttl", "attempts", "cancel_requested", "worker_id"]
    one, other = (Task.objects.values(*fields, "finished_at", "expires_at").get(pk=h.id) for h in (by_handle, by_admin))
    assert {k: one[k] for k in fields} == {k: other[k] for k in fields}
    assert one["expires_at"] - one["finished_at"] == other["expires_at"] - other["finished_at"]


def test_cancel_sends_task_finished_for_each_task_it_ends():
    from autotask import signals

    received = []

    def receiver(sender, task, status, **kwargs):
        received.append((task.id, status))

    waiting = [make_task(WAITING) for _ in range(3)]
    running = make_task(RUNNING)
    signals.task_finished.connect(receiver)
    try:
        operations.cancel_tasks(Task.objects.all())
    finally:
        signals.task_finished.disconnect(receiver)
    assert sorted(received) == sorted((task.pk, CANCELLED) for task in waiting)  # the running one ends in its worker
    assert Task.objects.get(pk=running.pk).cancel_requested


def test_retry_tasks_runs_failed_and_cancelled_tasks_again(superuser_client, failed_task):
    cancelled, done = make_task(CANCELLED, error_message="cancelled"), make_task(DONE)
    response = act(superuser_client, "retry_tasks", failed_task, cancelled, done)
    assert message_texts(response) == ["2 tasks will run again, 1 was not failed or cancelled."]
    for task in (failed_task, cancelled):
        row = Task.objects.get(pk=task.pk)
        assert row.status == WAITING and row.run_at <= timezone.now()
        assert (row.attempts, row.error_message, row.traceback, row.finished_at, row.expires_at) == (0, "", "", None, None)
    assert Task.objects.get(pk=done.pk).status == DONE


def test_run_tasks_now_makes_waiting_tasks_due(superuser_client):
    later = make_task(WAITING, run_at=timezone.now() + dt.timedelta(hours=1))
    due, done = make_task(WAITING), make_task(DONE)
    response = act(superuser_client, "run_tasks_now", later, due, done)
    assert message_texts(response) == ["1 task due now, 1 was due already, 1 not waiting."]
    assert Task.objects.get(pk=later.pk).run_at <= timezone.now()


def test_an_action_from_a_task_page_returns_to_it(superuser_client, failed_task):
    page = reverse("admin:autotask_task_change", args=[failed_task.pk])
    response = act(superuser_client, "retry_tasks", failed_task, _next=page)
    assert response.status_code == 302 and response["Location"] == page
    response = act(superuser_client, "retry_tasks", failed_task, _next="https://elsewhere.example/")
    assert response["Location"] == TASKS  # never to another site


def test_actions_on_everything_matching_the_filter_in_a_few_statements(superuser_client):
    count = operations.CHUNK * 2 + 10
    tasks_admin.due_in_an_hour.bulk([(i,) for i in range(count)])
    make_task(DONE)
    url = TASKS + "?status__exact=WAITING"
    with CaptureQueriesContext(connection) as queries:
        response = act(superuser_client, "run_tasks_now", Task.objects.filter(status=WAITING).first(), url=url,
                       select_across="1")
    assert message_texts(response) == [f"{count:,} tasks due now."]
    assert not Task.objects.filter(status=WAITING, run_at__gt=timezone.now()).exists()
    assert len(queries) < 40, [q["sql"] for q in queries]  # not one per row
    with CaptureQueriesContext(connection) as queries:
        response = act(superuser_client, "cancel_tasks", Task.objects.first(), url=url, select_across="1")
    assert message_texts(response) == [f"{count:,} tasks cancelled."]
    assert Task.objects.filter(status=CANCELLED).count() == count and Task.objects.filter(status=DONE).count() == 1
    assert len(queries) < 40


def test_delete_finished_tasks_asks_first_and_keeps_unfinished_ones(superuser_client, failed_task):
    done, waiting, running = make_task(DONE), make_task(WAITING), make_task(RUNNING)
    selected = (failed_task, done, waiting, running)
    confirm = act(superuser_client, "delete_finished_tasks", *selected)
    assert confirm.status_code == 200
    text = " ".join(confirm.content.decode().split())
    assert "Delete 2 finished tasks" in text and "2 waiting or running tasks among them are kept" in text
    assert Task.objects.count() == 4  # nothing yet
    response = act(superuser_client, "delete_finished_tasks", *selected, post="yes")
    assert message_texts(response) == ["2 finished tasks deleted, 2 unfinished tasks kept."]
    assert set(Task.objects.values_list("pk", flat=True)) == {waiting.pk, running.pk}


def test_only_a_finished_task_can_be_deleted_from_its_page(superuser_client, failed_task):
    running = make_task(RUNNING)
    assert superuser_client.post(reverse("admin:autotask_task_delete", args=[running.pk]), {"post": "yes"}).status_code == 403
    assert Task.objects.filter(pk=running.pk).exists()
    response = superuser_client.post(reverse("admin:autotask_task_delete", args=[failed_task.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Task.objects.filter(pk=failed_task.pk).exists()


def test_django_delete_selected_is_not_offered_for_tasks(superuser_client):
    waiting = make_task(WAITING)
    page = superuser_client.get(TASKS).content.decode()
    assert 'value="delete_selected"' not in page and 'value="delete_finished_tasks"' in page
    assert act(superuser_client, "delete_selected", waiting, post="yes").status_code == 403
    assert Task.objects.filter(pk=waiting.pk).exists()


# -- schedules -------------------------------------------------------------------------------


@pytest.fixture
def schedule():
    from autotask import schedules

    schedules.sync()
    return Schedule.objects.get(function="tests.schedule_tasks.every_minute")


def test_run_schedules_now_adds_one_run_and_keeps_the_next_due_time(superuser_client, schedule):
    before = schedule.next_run_at
    response = act(superuser_client, "run_schedules_now", schedule, url=SCHEDULES)
    assert message_texts(response) == ["1 schedule runs now."]
    run = Task.objects.get(schedule=schedule)
    assert run.status == WAITING and run.due_at == run.run_at and run.run_at <= timezone.now()
    assert Schedule.objects.get(pk=schedule.pk).next_run_at == before
    again = act(superuser_client, "run_schedules_now", schedule, url=SCHEDULES)
    assert message_texts(again) == ["1 has a run waiting or running already."]
    assert Task.objects.filter(schedule=schedule).count() == 1


def test_pause_and_resume_schedules(superuser_client, schedule):
    from autotask import schedules

    response = act(superuser_client, "pause_schedules", schedule, url=SCHEDULES)
    assert message_texts(response) == ["1 schedule paused."]
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() - dt.timedelta(hours=3))
    assert schedules.claim_due(timezone.now()) == (0, False) or not Task.objects.filter(schedule=schedule).exists()
    assert not Task.objects.filter(schedule=schedule).exists()
    assert schedules.next_due_time() is None or schedules.next_due_time() > timezone.now() - dt.timedelta(hours=1)
    schedules.sync()  # a worker's start (a restart, a deploy)
    assert Schedule.objects.get(pk=schedule.pk).paused is True
    response = act(superuser_client, "resume_schedules", schedule, url=SCHEDULES)
    assert message_texts(response) == ["1 schedule resumed."]
    resumed = Schedule.objects.get(pk=schedule.pk)
    assert resumed.paused is False
    now = timezone.now()
    assert now < resumed.next_run_at <= now + dt.timedelta(minutes=1)  # no catch-up: the next minute
    schedules.claim_due(timezone.now())
    assert not Task.objects.filter(schedule=schedule).exists()


def test_a_resumed_periodic_schedule_stays_on_its_grid(schedule):
    from autotask import schedules

    periodic = Schedule.objects.get(function="tests.schedule_tasks.every_second")
    grid = timezone.now() - dt.timedelta(seconds=100, microseconds=250_000)
    Schedule.objects.filter(pk=periodic.pk).update(paused=True, next_run_at=grid)
    assert operations.resume_schedules(Schedule.objects.filter(pk=periodic.pk)) == {"resumed": 1, "already": 0}
    following = Schedule.objects.get(pk=periodic.pk).next_run_at
    assert timezone.now() - dt.timedelta(seconds=1) < following <= timezone.now() + dt.timedelta(seconds=1)
    assert (following - grid).total_seconds() % 1 == pytest.approx(0, abs=1e-6)
    assert schedules.first_due_after("tests.gone.function", None, timezone.now()) is None


# -- permissions -----------------------------------------------------------------------------

ACTIONS = {
    TASKS: ("cancel_tasks", "retry_tasks", "run_tasks_now", "delete_finished_tasks"),
    SCHEDULES: ("run_schedules_now", "pause_schedules", "resume_schedules"),
}


def snapshot_rows():
    return (
        list(Task.objects.order_by("pk").values_list("pk", "status", "run_at", "cancel_requested")),
        list(Schedule.objects.order_by("pk").values_list("pk", "paused", "next_run_at")),
    )


@pytest.fixture
def rows(schedule, failed_task):
    return [make_task(WAITING, run_at=timezone.now() + dt.timedelta(hours=1)), make_task(RUNNING), failed_task]


def test_view_permission_shows_everything_and_changes_nothing(as_user, rows, schedule):
    client = as_user(staff("viewer", "view_task", "view_schedule", "view_worker"))
    before = snapshot_rows()
    for url in (TASKS, SCHEDULES):
        page = client.get(url)
        assert page.status_code == 200
        assert 'name="action"' not in page.content.decode()  # no action offered
        for action in ACTIONS[url]:
            ids = rows if url == TASKS else [schedule]
            assert act(client, action, *ids, url=url, post="yes").status_code == 403, action
            assert act(client, action, *ids, url=url, select_across="1").status_code == 403, action
    task_page = client.get(reverse("admin:autotask_task_change", args=[rows[2].pk])).content.decode()
    assert "retry_tasks" not in task_page and "/delete/" not in task_page
    assert client.post(reverse("admin:autotask_task_delete", args=[rows[2].pk]), {"post": "yes"}).status_code == 403
    assert client.get(DASHBOARD).status_code == 200 and client.get(DATA).status_code == 200
    assert snapshot_rows() == before


def test_change_permission_allows_the_actions_but_not_deleting(as_user, rows, schedule):
    client = as_user(staff("operator", "view_task", "change_task", "change_schedule"))
    page = client.get(TASKS).content.decode()
    assert 'value="retry_tasks"' in page and 'value="delete_finished_tasks"' not in page
    before = Task.objects.count()
    assert act(client, "delete_finished_tasks", *rows, post="yes").status_code == 403
    assert Task.objects.count() == before
    assert act(client, "retry_tasks", rows[2]).status_code == 302
    assert Task.objects.get(pk=rows[2].pk).status == WAITING
    assert act(client, "pause_schedules", schedule, url=SCHEDULES).status_code == 302
    assert Schedule.objects.get(pk=schedule.pk).paused is True


def test_delete_permission_allows_deleting_but_no_other_action(as_user, rows):
    client = as_user(staff("cleaner", "view_task", "delete_task"))
    before = snapshot_rows()
    for action in ("cancel_tasks", "retry_tasks", "run_tasks_now"):
        assert act(client, action, *rows).status_code == 403
    assert snapshot_rows() == before
    assert act(client, "delete_finished_tasks", *rows, post="yes").status_code == 302
    assert not Task.objects.filter(pk=rows[2].pk).exists() and Task.objects.filter(pk=rows[1].pk).exists()


def test_staff_without_permissions_get_403_everywhere(as_user, rows, schedule):
    client = as_user(staff("nobody"))
    before = snapshot_rows()
    for url in (TASKS, SCHEDULES, DASHBOARD, DATA, reverse("admin:autotask_task_change", args=[rows[0].pk])):
        assert client.get(url).status_code == 403, url
    for url, actions in ACTIONS.items():
        for action in actions:
            assert act(client, action, *(rows if url == TASKS else [schedule]), url=url, post="yes").status_code == 403
    assert snapshot_rows() == before
    assert "Dashboard" not in client.get(reverse("admin:index")).content.decode()


# -- the dashboard ---------------------------------------------------------------------------


def test_admin_index_and_every_changelist_link_to_the_dashboard(superuser_client):
    assert f'href="{DASHBOARD}"' in superuser_client.get(reverse("admin:index")).content.decode()
    for name in ("task", "schedule", "worker"):
        assert DASHBOARD in superuser_client.get(reverse(f"admin:autotask_{name}_changelist")).content.decode()


def test_dashboard_page_and_data(superuser_client, failed_task, schedule):
    now = timezone.now()
    make_task(WAITING, run_at=now - dt.timedelta(seconds=30))
    worker = Worker.objects.create(host="h", pid=1, started_at=now, heartbeat_at=now)
    running = make_task(RUNNING, worker_id=worker.id, progress=30)
    MinuteStats.objects.create(minute=now.replace(second=0, microsecond=0), worker_id=worker.id, done=7, failed=2,
                               pickup=json.dumps({"50": 10}))
    page = superuser_client.get(DASHBOARD)
    assert page.status_code == 200
    text = page.content.decode()
    assert "autotask/dashboard.js" in text and 'id="autotask-figures"' in text and DATA in text
    # Nothing from the internet (not just "cdn": the page's random CSRF token may hold those letters).
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text) and "https://" not in text
    data = superuser_client.get(DATA).json()
    assert {k: v["value"] for k, v in data["counts"].items()} == {WAITING: 1, RUNNING: 1, DONE: 0, ERROR: 1, CANCELLED: 0}
    assert data["counts"][ERROR]["url"] == TASKS + "?status__exact=ERROR"
    assert data["due"]["count"]["value"] == 1 and data["due"]["oldest_age"] >= 29
    assert data["per_minute"][-1]["done"] == 7 and data["last_hour"]["failed"] == 2 and len(data["per_minute"]) == 60
    assert data["pickup"]["runs"] == 10 and data["pickup"]["p50"] == pytest.approx(0.0001 * 2 ** (49.5 / 4), rel=0.1)
    [shown] = data["workers"]
    assert shown["alive"] and shown["running"][0]["url"].endswith(f"{running.pk}/change/")
    assert any(s["function"] == schedule.function for s in data["schedules"])
    assert data["failures"][0]["url"].endswith(f"{failed_task.pk}/change/")
    assert data["failures"][0]["message"] == "broken <input>"  # escaped by the page's script (textContent)
    assert data["health"]["ok"] is True

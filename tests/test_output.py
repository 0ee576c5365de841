"""A run's output (SPEC 6.5): captured per task, stored as it goes, read from any process."""

import pytest

from autotask.models import Task, TaskOutput
from autotask.output import assemble

from . import tasks_output
from .conftest import wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def test_assemble_headers_and_what_was_left_out():
    assert assemble([]) == ""
    assert assemble([(1, None, "a\n"), (1, None, "b\n")]) == "a\nb\n"
    assert assemble([(1, None, "head"), (1, 0, "t1\n"), (1, 7, "t2\n")]) == "head\n[... 7 characters left out ...]\nt1\nt2\n"
    assert assemble([(1, None, "one\n"), (2, None, "two\n")]) == "--- attempt 1 ---\none\n--- attempt 2 ---\ntwo\n"


def test_output_is_readable_from_another_process_while_the_task_runs(processes):
    handle = tasks_output.print_then_wait("live")
    processes.worker()
    wait_until(lambda: "hello from the task" in handle.output, 60, "the first line in the output")
    assert handle.status == "RUNNING"
    Note.objects.create(key="live", value="go")
    assert handle.wait(timeout=60) == "done"
    assert handle.output == (
        "hello from the task\nINFO tests.output: a record at INFO\nto stderr\nafter go\n"
    )
    # The worker's own log still gets the records (the test settings log INFO of autotask only,
    # and the root logger's lastResort-like handler WARNING and above): nothing of the task's stdout.
    assert "hello from the task" not in processes.log(processes.started[0])


def test_a_runner_process_captures_fds_1_and_2_and_child_processes(processes):
    handle = tasks_output.write_to_fds("fds")
    processes.worker()
    assert handle.wait(timeout=60) == "fds"
    assert handle.runner_pid
    assert handle.output == (
        "python print\nfd 1 from C level\nfd 2 from C level\nfrom a child process\n"
        "WARNING tests.output: a record in the runner\n"
    )


def test_output_is_capped_keeping_head_and_tail(processes):
    handle = tasks_output.print_lines(2000, 20)  # 42,000 characters (21 a line), cap 4,000
    processes.worker(AUTOTASK_TEST_OUTPUT_MAX_BYTES="4000")
    assert handle.wait(timeout=60) == 2000
    text = handle.output
    assert text.startswith("line 00000000 ......\nline 00000001")
    assert text.endswith("line 00001999 ......\n")
    assert "characters left out ...]" in text
    assert len(text) < 4200
    head, marker, tail = text.partition("[... ")
    left_out, _, tail = tail.partition(" characters left out ...]\n")
    assert head.endswith("line \n")  # cut mid-line: the marker gets a line of its own
    head = head[:-1]
    assert len(head) == 2000 and 1000 <= len(tail) <= 2000  # the first half, and a quarter to a half at the end
    assert int(left_out) + len(head) + len(tail) == 42_000
    assert TaskOutput.objects.filter(task_id=handle.id).count() < 20  # batched, never a row per line


def test_each_attempt_under_its_own_header(processes):
    handle = tasks_output.print_and_fail_once("retry")
    processes.worker()
    assert handle.wait(timeout=60) == "second attempt"
    assert handle.output == "--- attempt 1 ---\nattempt 1 prints\n--- attempt 2 ---\nattempt 2 prints\n"


def test_no_mixing_between_threads_or_tasks(processes):
    first, second = tasks_output.print_own_key("first"), tasks_output.print_own_key("second")
    logging_task, quiet = tasks_output.LoggingTask("k"), tasks_output.quiet()
    processes.worker(AUTOTASK_TEST_THREADS="2")
    for handle in (first, second, logging_task, quiet):
        handle.wait(timeout=60)
    assert first.output == "first\n" * 200
    assert second.output == "second\n" * 200
    assert logging_task.output == "INFO tests.tasks_output.LoggingTask: class-based k\n"  # not the other thread's print
    assert quiet.output == ""
    assert not TaskOutput.objects.filter(task_id=quiet.id).exists()  # nothing written for a task that prints nothing


def test_output_off(processes):
    handle = tasks_output.print_lines(3)
    processes.worker(AUTOTASK_TEST_OUTPUT="0")
    assert handle.wait(timeout=60) == 3
    assert handle.output == ""


def test_output_goes_with_its_task(processes):
    handle = tasks_output.print_lines(3)
    processes.worker()
    handle.wait(timeout=60)
    assert TaskOutput.objects.filter(task_id=handle.id).exists()
    Task.objects.filter(pk=handle.id).delete()
    assert not TaskOutput.objects.filter(task_id=handle.id).exists()
    assert handle.output == ""


def test_the_admin_task_page_shows_the_output(client, django_user_model, processes):
    from django.urls import reverse

    handle = tasks_output.print_then_wait("admin")
    processes.worker()
    wait_until(lambda: "hello from the task" in handle.output, 60, "the first line in the output")
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.com", "pw"))
    page = client.get(reverse("admin:autotask_task_change", args=[handle.id])).content.decode()
    assert "hello from the task" in page and 'id="autotask-live"' in page  # shown, and read again while it runs
    Note.objects.create(key="admin", value="go")
    handle.wait(timeout=60)
    page = client.get(reverse("admin:autotask_task_change", args=[handle.id])).content.decode()
    assert "after go" in page and "INFO tests.output: a record at INFO" in page


def test_a_run_again_from_the_admin_is_a_run_of_its_own():
    assert assemble([(1, None, "a\n"), (2, None, "b\n"), (1, None, "c\n")]) == (
        "--- attempt 1 ---\na\n--- attempt 2 ---\nb\n--- attempt 1 ---\nc\n"
    )


def test_the_cap_is_per_task_across_attempts(processes):
    handle = tasks_output.print_lines_and_fail_once("capped retry", 200)  # 4,200 characters an attempt, cap 4,000
    processes.worker(AUTOTASK_TEST_OUTPUT_MAX_BYTES="4000")
    assert handle.wait(timeout=60) == "second attempt"
    first, _, second = handle.output.partition("--- attempt 2 ---\n")
    assert first.startswith("--- attempt 1 ---\nattempt 1 line 0000") and "attempt 1 line 0199" in first
    assert second.startswith("attempt 2 line 0000") and second.endswith("attempt 2 line 0199.\n")
    stored = sum(len(text) for text in TaskOutput.objects.filter(task_id=handle.id).values_list("text", flat=True))
    assert stored <= 4000
    assert len(second) < 1200  # what attempt 1 left of the 4,000 (at least a quarter of it)


def test_a_nul_or_a_lone_surrogate_in_output_and_error_is_written_out(processes):
    """PostgreSQL's text columns refuse NUL, and UTF-8 can't hold a lone surrogate: the task
    stayed RUNNING (its record failed on every try) and its output was dropped. Now each is
    written out as its escape."""
    handle = tasks_output.print_and_raise_odd_text()
    processes.worker()
    wait_until(lambda: Task.objects.get(pk=handle.id).status == "ERROR", message="the task ended ERROR")
    task = Task.objects.get(pk=handle.id)
    assert task.error_message == "bad\\x00byte in name-\\udcff" and task.error_message in task.traceback
    assert handle.output == "before\\x00after\nname-\\udcff\n"

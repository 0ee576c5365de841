"""Worker processes under run_autotask's supervisor, each running several tasks at once in threads."""

import os
import signal
import threading
import time

import pytest
from django.db import connection, transaction

from autotask.execution.loop import Worker as WorkerLoop
from autotask.models import Task, Worker
from autotask.task import CANCELLED, DONE, ERROR, RUNNING, WAITING

from . import tasks, tasks_execution as te
from .conftest import process_exists, wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def release(key):
    Note.objects.create(key=f"release-{key}")


def arrived(key, count):
    return wait_until(lambda: Note.objects.filter(key=key).count() >= count, 120, f"{count} runs of {key} to start")


def open_connections(pid):
    """Database connections process ``pid`` holds open: SQLite files, or TCP sockets to the server."""
    fds = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
    if connection.vendor == "sqlite":
        return fds.count(connection.settings_dict["NAME"])
    inodes = {link[len("socket:["):-1] for link in fds if link.startswith("socket:[")}
    port = f":{int(connection.settings_dict['PORT']):04X}"
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[2].endswith(port) and fields[9] in inodes:
                    count += 1
    return count


def test_n_processes_of_m_threads_run_n_times_m_tasks_at_once_on_bounded_connections(processes):
    pool = processes.worker(AUTOTASK_TEST_PROCESSES="2", AUTOTASK_TEST_THREADS="3")
    handles = te.meet.bulk([("meet", 6)] * 6)
    notes = arrived("meet", 6)  # all six wait for each other: 2 x 3 run at once
    pids = set(Note.objects.filter(key="meet").values_list("pid", flat=True))
    assert len(pids) == 2 and pool.pid not in pids
    for pid in pids:  # one per thread (each task has used its own), the loop's, LISTEN's
        assert 3 <= open_connections(pid) <= 3 + 2, (pid, open_connections(pid))
    release("meet")
    results = [h.wait(timeout=120) for h in handles]
    threads = {(pid, thread) for pid, thread, _ in results}
    assert len(threads) == 6 and {pid for pid, _ in threads} == pids
    assert sorted(task_id for _, _, task_id in results) == sorted(str(h.id) for h in handles)  # current_task() per run
    assert notes


def test_a_killed_process_among_n_has_its_tasks_recovered_the_others_untouched_and_is_replaced(processes):
    pool = processes.worker(AUTOTASK_TEST_PROCESSES="2", AUTOTASK_TEST_THREADS="2")
    handles = te.hold.bulk([(f"h{i}",) for i in range(4)])
    wait_until(lambda: Note.objects.filter(key__startswith="h").count() == 4, 120, "four tasks to run")
    by_key = {note.key: note.pid for note in Note.objects.filter(key__startswith="h")}
    victim = by_key["h0"]
    assert len(set(by_key.values())) == 2  # two per process
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not process_exists(victim), 60, "the killed process to end")
    lost = [key for key, pid in by_key.items() if pid == victim]
    # Its tasks run again, in the process that replaced it; the others run on, untouched.
    wait_until(lambda: Note.objects.filter(key__in=lost).exclude(pid=victim).count() == len(lost), 120,
               "the lost tasks to run again")
    replacement = set(Note.objects.filter(key__in=lost).exclude(pid=victim).values_list("pid", flat=True))
    assert replacement.isdisjoint(by_key.values()) and pool.poll() is None
    for key in by_key:
        release(key)
    assert sorted(h.wait(timeout=120) for h in handles) == sorted(by_key)
    for handle, key in zip(handles, [f"h{i}" for i in range(4)]):
        row = Task.objects.get(pk=handle.id)
        assert (row.attempts, row.losses) == ((2, 1) if key in lost else (1, 0)), key
    assert Worker.objects.filter(pid=victim).count() == 0


def test_sigterm_lets_every_running_task_finish(processes):
    pool = processes.worker(AUTOTASK_TEST_THREADS="3")
    running = [tasks.sleep_for(1.5, key=f"s{i}") for i in range(3)]
    wait_until(lambda: Note.objects.filter(key__startswith="s").count() == 3, 120, "three tasks to run")
    queued = tasks.noop.bulk([()] * 3)
    os.kill(pool.pid, signal.SIGTERM)
    assert pool.wait(timeout=120) == 0
    assert [h.status for h in running] == [DONE] * 3
    assert all(h.status == WAITING for h in queued)
    assert not Worker.objects.exists()


def test_timeout_and_cancel_in_a_busy_threaded_worker_touch_no_other_task(processes):
    processes.worker(AUTOTASK_TEST_THREADS="3")
    holder = te.hold("busy")  # slot 0, the main thread: the others run in threads
    arrived("busy", 1)
    worker_pid = Note.objects.get(key="busy").pid
    timed = tasks.sleep_past_timeout(30)
    looping = te.loop_catching_exception("loop")
    arrived("loop", 1)
    assert looping.cancel() is True
    wait_until(lambda: looping.status == CANCELLED, 60, "the looping task to be cancelled")
    wait_until(lambda: timed.status == ERROR, 60, "the timed task to time out")
    assert "timed out after 0.5 s" in timed.error_message
    assert holder.status == RUNNING and Worker.objects.get().pid == worker_pid  # no restart was needed
    release("busy")
    assert holder.wait(timeout=60) == "busy"
    assert Task.objects.get(pk=holder.id).attempts == 1


def test_a_batch_sized_from_quicker_runs_hands_its_rest_to_a_free_slot(processes):
    """A claim sizes its batch from the last run's time: after a no-op, it takes every
    stored task. When each of them is quick but together they last longer than a batch
    should, the batch hands back its rest, and the free slot takes some."""
    processes.worker(AUTOTASK_TEST_THREADS="2")
    tasks.noop().wait(timeout=60)  # a quick run, so the next claim takes a full batch
    with transaction.atomic():  # stored at once: one claim takes them all
        handles = [te.pause(0.02) for _ in range(40)]  # 0.8 s in all, each under QUICK_TASK
    wait_until(lambda: all(h.ready for h in handles), 120, "the tasks to run")
    assert {h.status for h in handles} == {DONE}
    assert len({h.result for h in handles}) == 2  # both threads ran some


def test_a_lone_slot_leaves_at_most_one_batch_unrecorded_while_it_goes_on():
    """On PostgreSQL a lone slot posts its quick runs for the loop to record and claims its
    next batch meanwhile; it waits while the batch it posted before is not recorded yet."""
    worker = WorkerLoop()
    worker.records_aside = True
    slot = worker.slots[0]
    recorded = []
    worker.record = recorded.append  # the loop's write: this test is about the hand-over
    first, second, urgent = [({"id": 1}, None)], [({"id": 2}, None)], [({"id": 3}, None)]
    assert worker.record_aside(slot, first)
    posted = threading.Event()
    thread = threading.Thread(target=lambda: worker.record_aside(slot, second) and posted.set())
    thread.start()
    assert not posted.wait(0.2)  # the first batch is not recorded yet
    assert worker.record_aside(slot, urgent, wait=False)  # before a task of higher priority: no wait
    worker._take_posts()
    assert not posted.is_set()
    assert worker._settle()
    assert recorded == [first + urgent]
    assert posted.wait(60)  # recorded: the slot goes on
    thread.join(60)
    worker._take_posts()
    worker._settle()
    assert recorded[1] == second
    worker.stopping.set()  # a stopping worker's runs go with the slot's last report instead
    assert worker.record_aside(slot, first) is False
    assert worker._posts == []


def test_a_batch_claimed_ahead_goes_on_in_its_slot_or_back_to_the_queue():
    """While tasks are quick, each busy slot of several gets its next batch ahead: the slot
    takes it when its batch ends; one that waits too long (a slow run), or that comes after
    the slot ended its batch while the worker stops, goes back."""
    worker = WorkerLoop(threads=2)
    first, second = worker.slots
    first.batch = second.batch = [{"id": 0}]  # both busy
    worker.last_duration = 0.001  # quick
    first.in_task, first.began = True, time.monotonic() - 1  # in a slow run already
    second.in_task, second.began = True, time.monotonic()
    assert [slot.quick_so_far() for slot in worker.slots] == [False, True]

    claims = [([{"id": 1}, {"id": 2}], True), ([{"id": 9}], False)]
    worker.claim_batch = lambda: claims.pop(0)
    worker._look = True
    assert worker._hand_out() == 2  # the slot in a slow run gets none
    assert second.ahead == [{"id": 1}, {"id": 2}] and first.ahead is None
    second.take_ahead()
    # A claim of one task was running it, if its worker is lost: never claimed ahead.
    assert worker._hand_out() == 0 and worker.unreleased == [{"id": 9}] and second.ahead is None
    worker.unreleased = []

    second.give_ahead([{"id": 1}])
    worker.post(second, [], [], done=True)  # it ended its batch as the claim came
    worker._take_posts()
    assert second.batch == [{"id": 1}] and second.ahead is None and not worker.unreleased

    second.give_ahead([{"id": 2}])
    second.ahead_until = time.monotonic() - 1  # waited too long
    worker._take_back_ahead()
    assert worker.unreleased == [{"id": 2}] and second.ahead is None

    worker.unreleased = []
    second.give_ahead([{"id": 3}])
    worker.stopping.set()
    worker.post(second, [], [], done=True)
    worker._take_posts()
    assert worker.unreleased == [{"id": 3}] and second.batch == [] and second.ahead is None

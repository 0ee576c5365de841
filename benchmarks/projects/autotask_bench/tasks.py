import logging
import time

from autotask.tasks import delayed_task
from bench_marks import write_mark


@delayed_task()
def noop(i):
    return None


@delayed_task(delay=10**8)
def noop_later(i):
    """Stored about three years ahead: the backlog of not-yet-due rows."""
    return None


@delayed_task()
def mark(path, label):
    write_mark(path, label)


@delayed_task()
def io(path, i):
    """An I/O-bound task: waits 20 ms (as on a network call), then notes when it ended."""
    time.sleep(0.020)
    write_mark(path, f"io-{i}")


@delayed_task()
def print10(i):
    """A task with output: 10 lines printed, 2 records logged (the drain_output scenario)."""
    for line in range(10):
        print("task", i, "line", line)
    logging.getLogger("bench").info("first record of %s", i)
    logging.getLogger("bench").warning("second record of %s", i)

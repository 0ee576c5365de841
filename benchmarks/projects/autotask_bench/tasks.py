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
def io(i):
    """An I/O-bound task: waits 20 ms (as on a network call)."""
    time.sleep(0.020)

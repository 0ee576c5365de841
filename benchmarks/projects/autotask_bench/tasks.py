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

import time

from django.tasks import task

from bench_marks import write_mark


@task
def noop(i):
    return None


@task
def mark(path, label):
    write_mark(path, label)


@task
def io(path, i):
    time.sleep(0.020)
    write_mark(path, f"io-{i}")

"""The django.tasks path: the same tasks as tasks.py, with Django's @task (Django 6)."""

from django.tasks import task

from bench_marks import write_mark


@task
def noop(i):
    return None


@task
def mark(path, label):
    write_mark(path, label)

"""Fixture tasks for names, queues, priorities and signals."""

import os
import time

from autotask.tasks import delayed_task

from .models import Note


@delayed_task(name="add numbers")
def add_by_name(a, b):
    return a + b


@delayed_task(queue_name="mail", priority=5)
def send_mail(key):
    Note.objects.create(key=key, value="mail", pid=os.getpid())
    return key


@delayed_task()
def note_order_then_wait(key, label, seconds):
    """``note_order`` that takes ``seconds`` after its Note."""
    Note.objects.create(key=key, value=label, pid=os.getpid())
    time.sleep(seconds)
    return label


@delayed_task()
def note_order(key, label):
    """Writes a Note per run, so a test can read the order in which tasks started."""
    Note.objects.create(key=key, value=label, pid=os.getpid())
    return label

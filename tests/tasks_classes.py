"""Fixture class-based tasks (``autotask.TaskBase``)."""

from __future__ import annotations

import os
import time

from autotask import TaskBase
from autotask.tasks import delayed_task

from .models import Note


@delayed_task(name="long running task")
class LongRunningTask(TaskBase):
    """lilota-django's example, in autotask's terms: inputs as run()'s arguments."""

    def run(self, number1: int, number2: int) -> None:
        self.logger.info("Start a long running task")
        self.set_progress(50)
        self.set_output({"result": number1 + number2})
        self.logger.info("Task finished")


@delayed_task()
class OutputThenWait(TaskBase):
    """Stores an output, then waits until the test says go (a Note), then returns another."""

    def run(self, key: str) -> str:
        self.set_output("partial")
        Note.objects.create(key=key, value="output set", pid=os.getpid())
        deadline = time.monotonic() + 60
        while not Note.objects.filter(key=key, value="go").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        return "final"


@delayed_task(retries=2, retry_delay=0)
class FailTwice(TaskBase):
    """Fails on its first two runs; each run must get a new instance."""

    def run(self, key: str) -> int:
        assert not hasattr(self, "ran"), "an instance was reused"
        self.ran = True
        Note.objects.create(key=key, value=str(self.task.id), pid=os.getpid())
        attempt = Note.objects.filter(key=key).count()
        if attempt < 3:
            raise RuntimeError(f"attempt {attempt} fails")
        return attempt


@delayed_task(timeout=1)
class SleepPastTimeout(TaskBase):
    def run(self, key: str) -> str:
        Note.objects.create(key=key, value="started", pid=os.getpid())
        time.sleep(60)
        return "not reached"


@delayed_task()
class SleepUntilCancelled(TaskBase):
    def run(self, key: str) -> str:
        Note.objects.create(key=key, value="started", pid=os.getpid())
        time.sleep(60)
        return "not reached"


@delayed_task()
class BadOutput(TaskBase):
    def run(self) -> None:
        self.set_output(object())


@delayed_task()
class BadProgress(TaskBase):
    def run(self) -> None:
        self.set_progress(150)

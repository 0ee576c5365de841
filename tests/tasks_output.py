"""Fixture tasks for a run's output (print, sys.stderr, logging, fds 1 and 2)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from autotask import TaskBase
from autotask.tasks import delayed_task

from .models import Note

log = logging.getLogger("tests.output")


def _wait_for(key: str, value: str) -> None:
    deadline = time.monotonic() + 60
    while not Note.objects.filter(key=key, value=value).exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@delayed_task()
def print_then_wait(key: str) -> str:
    """Prints and logs, then waits until the test has seen it (a Note "go"), then prints more."""
    print("hello from the task")
    log.info("a record at INFO")
    log.debug("a record at DEBUG, below the level")
    sys.stderr.write("to stderr\n")
    _wait_for(key, "go")
    print("after go")
    return "done"


@delayed_task(timeout=60)
def write_to_fds(key: str) -> str:
    """Runs in the runner process (it has a timeout): what C code and child processes write."""
    print("python print")
    os.write(1, b"fd 1 from C level\n")
    os.write(2, b"fd 2 from C level\n")
    subprocess.run([sys.executable, "-c", "print('from a child process')"], check=True)
    log.warning("a record in the runner")
    return key


@delayed_task()
def print_lines(count: int, width: int = 20) -> int:
    for i in range(count):
        print(f"line {i:08d} ".ljust(width, "."))
    return count


@delayed_task(retries=1, retry_delay=0)
def print_and_fail_once(key: str) -> str:
    attempt = Note.objects.filter(key=key).count() + 1
    Note.objects.create(key=key, value=str(attempt), pid=os.getpid())
    print(f"attempt {attempt} prints")
    if attempt == 1:
        raise RuntimeError("first attempt fails")
    return "second attempt"


@delayed_task()
def print_own_key(key: str, times: int = 200) -> str:
    """Prints its key many times, slowly enough to overlap another task in another thread."""
    for _ in range(times):
        print(key)
        time.sleep(0.001)
    return key


@delayed_task()
def quiet() -> None:
    return None


@delayed_task()
class LoggingTask(TaskBase):
    def run(self, key: str) -> None:
        self.logger.info("class-based %s", key)
        noise = threading.Thread(target=print, args=("from another thread",))
        noise.start()
        noise.join()


@delayed_task()
def print10() -> None:
    """The benchmark's task with output: 10 lines printed, 2 records logged."""
    for i in range(10):
        print("line", i)
    log.info("first record")
    log.warning("second record")


@delayed_task(retries=1, retry_delay=0)
def print_lines_and_fail_once(key: str, count: int) -> str:
    """Prints ``count`` lines of 21 characters on each attempt; the first one fails."""
    attempt = Note.objects.filter(key=key).count() + 1
    Note.objects.create(key=key, value=str(attempt), pid=os.getpid())
    for i in range(count):
        print(f"attempt {attempt} line {i:04d}"[:20].ljust(20, "."))
    if attempt == 1:
        raise RuntimeError("first attempt fails")
    return "second attempt"


@delayed_task()
def print_and_raise_odd_text() -> None:
    """A NUL, and a file name of undecodable bytes as ``os.fsdecode`` gives it (a lone surrogate)."""
    name = b"name-\xff".decode("utf-8", "surrogateescape")
    print("before\x00after")
    print(name)
    raise ValueError("bad\x00byte in " + name)

"""Runs of tasks that have a timeout, in a process of their own.

An exception raised inside a task stops Python code, not C code that blocks
without looking at signals. So a task with a ``timeout`` runs in a runner
process that its worker's slot starts on first need (``python -m
autotask.execution.runner``; one per slot) and keeps for the next such runs. A
timeout, a cancel or the end of the stop grace period kills that process,
never the worker; the next run starts a new one. A task that takes its process down (a segfault, ``os._exit``) ends in
ERROR, and the worker goes on.

Worker and runner talk over two anonymous pipes that no other process can
reach, one line of JSON per message: the runner says ``{"ready": true}``
once Django is set up, then answers each run with its stored result or its
error. The task's own output, down to its file descriptors 1 and 2, is its
run's output (``capture.py``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

logger = logging.getLogger(__name__)


class RunnerDied(Exception):
    """The runner process ended without answering (it crashed, or couldn't start)."""


# -- the worker's end -------------------------------------------------------------


class Runner:
    """The runner process of one worker: started on first need, killed to stop a run."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self._requests: IO[bytes] | None = None
        self._replies: IO[bytes] | None = None

    def start(self) -> None:
        """Have a runner that is set up and waiting (this can take as long as Django's set-up)."""
        if self.process is not None and self.process.poll() is None:
            return
        self.kill()
        from .supervisor import child_environment

        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        command = [sys.executable, "-m", "autotask.execution.runner", str(request_read), str(reply_write), str(os.getpid())]
        try:
            self.process = subprocess.Popen(
                command, pass_fds=(request_read, reply_write), env=child_environment(), stdin=subprocess.DEVNULL
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._requests = os.fdopen(request_write, "wb")
        self._replies = os.fdopen(reply_read, "rb")
        try:
            self._read()
        except BaseException:
            self.kill()
            raise
        logger.info("task runner started pid=%s", self.process.pid)

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        """Run ``task`` in the runner and return its answer: ``{"result": stored}`` or
        ``{"error", "class", "traceback"}``. Whatever interrupts the wait (a timeout,
        a cancel) kills the runner and is raised again."""
        assert self._requests is not None and self.process is not None
        task["runner_pid"] = self.process.pid  # the run record names the process that ran it
        try:
            request = {
                "id": str(task["id"]), "function": task["function"], "arguments": task["arguments"],
                "attempts": task["attempts"],
            }
            self._requests.write(json.dumps(request).encode() + b"\n")
            self._requests.flush()
            return self._read()
        except BrokenPipeError:
            self.kill()
            raise RunnerDied(f"the task's process ended before the run ({self._exit_description()})") from None
        except BaseException:
            self.kill()
            raise

    def _read(self) -> dict[str, Any]:
        assert self._replies is not None
        line = self._replies.readline()
        if not line:
            description = self._exit_description()
            self.kill()
            raise RunnerDied(f"the task's process died ({description})")
        return json.loads(line)

    def _exit_description(self) -> str:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def rss_mb(self) -> float:
        """The runner's resident memory in MB (0 without a runner, or where /proc can't tell)."""
        if self.process is None:
            return 0.0
        try:
            with open(f"/proc/{self.process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except (OSError, ValueError, IndexError):
            pass
        return 0.0

    def terminate(self) -> None:
        """Kill the runner from another thread, to stop its run: the wait for its
        answer ends (``RunnerDied``), and that thread cleans up."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.kill()
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """End the runner at once; the next ``start()`` makes a new one."""
        process, self.process = self.process, None
        for stream in (self._requests, self._replies):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        self._requests = self._replies = None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Let an idle runner end by itself (EOF on its requests), then make sure it did."""
        if self._requests is not None:
            try:
                self._requests.close()
            except OSError:
                pass
            self._requests = None
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


# -- the runner's end -------------------------------------------------------------


def _exit_with(parent_pid: int) -> None:
    """A worker killed with -9 can't kill its runner: the runner notices and ends."""
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    os._exit(1)


def _run(request: dict[str, Any]) -> dict[str, Any]:
    from django.db import connections

    from .. import serialization
    from ..definitions import runnable
    from ..exceptions import Retry
    from ..failures import task_traceback
    from ..loader import full_name
    from ..retry import DEFAULT
    from .run import running

    policy = DEFAULT
    try:
        with running(request["id"], request.get("attempts", 1)):
            task = runnable(request["function"])
            policy = task.retry_policy
            args, kwargs = serialization.loads_call(request["arguments"])
            return {"result": serialization.dumps(task.run(args, kwargs), "the result")}
    except BaseException as exc:  # a task's failure, even SystemExit, is the task's
        return {
            "error": str(exc), "class": full_name(type(exc)), "traceback": task_traceback(exc),
            "retryable": policy.applies_to(exc), "retry_delay": exc.delay if isinstance(exc, Retry) else None,
        }
    finally:
        for connection in connections.all(initialized_only=True):
            if connection.in_atomic_block or connection.needs_rollback:
                connection.close()  # a task left a transaction open: the next starts clean


def main(argv: list[str]) -> int:
    request_fd, reply_fd, parent_pid = (int(arg) for arg in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the worker, which stops the run
    threading.Thread(target=_exit_with, args=(parent_pid,), name="autotask-runner-parent", daemon=True).start()
    import django

    django.setup()
    from .capture import redirect_fds

    redirect_fds()  # a run's output includes what C code and child processes write to fds 1 and 2
    with os.fdopen(request_fd, "rb") as requests, os.fdopen(reply_fd, "wb") as replies:
        replies.write(b'{"ready": true}\n')
        replies.flush()
        for line in requests:
            replies.write(json.dumps(_run(json.loads(line))).encode() + b"\n")
            replies.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

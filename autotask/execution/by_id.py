"""Running one task by its id, for an engine that delivers ids (Celery): claim, run, record.

The row decides, not the message. ``claim`` takes the row from WAITING or
QUEUED to RUNNING in one conditional UPDATE, so a message delivered twice
(or sent twice) runs the task once: the second finds it RUNNING or finished
and does nothing. The run is autotask's own (``run.execute``) and is recorded
as any worker records it (``outcomes.record``: retries, history, signals,
the dashboard's figures). A run that ends WAITING (a retry) is handed to the
engine again (``engine.hand_over``).

One ``Executor`` per process (a Celery pool process, or the worker itself with
the solo and threads pools) holds a worker row of its own, so that autotask's
lease recovery (``queue.recover_lost``) settles the runs of a process that
died (SIGKILL, OOM): a thread beats every ``AUTOTASK_HEARTBEAT_INTERVAL``
seconds and, while tasks run, looks for cancel requests every
``CANCEL_CHECK`` seconds. A task with a ``timeout`` runs in a runner process
(``runner.py``, one per thread, kept), killed at the time limit or on a
cancel, whatever the task is doing. A task without one runs in the calling
thread, and a cancel raises ``CancelRequested`` in it as soon as it runs
Python code again.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections
from django.db.models import F

from .. import db, engine, serialization, stats, timeutil
from ..exceptions import CancelRequested, Interrupt, TimeLimitExceeded
from ..queue import CLAIM_FIELDS, Outcome, WorkerIdentity, cancel_requested, register_worker
from ..queue import handover
from ..queue.sql import RowReader, adapters, column_namer, models, row_reader
from ..task import DONE, QUEUED, RUNNING, WAITING
from . import interrupts, outcomes, run
from .heartbeat import CANCEL_CHECK
from .runner import Runner

logger = logging.getLogger(__name__)

RAN, NOT_DUE, SKIPPED = "ran", "not due", "skipped"


def claim(task_id: uuid.UUID, worker: WorkerIdentity) -> tuple[str, dict[str, Any] | None]:
    """Take the row ``task_id`` for ``worker``: (RAN, its claimed fields) if it was WAITING or
    QUEUED and due; (NOT_DUE, its ``handover.FIELDS``) if it waits for a later time; (SKIPPED,
    None) if it is running, finished, or gone. One ``UPDATE ... RETURNING`` where the database
    has it (PostgreSQL, SQLite 3.35+): a single round trip, its own transaction."""
    using = db.alias()
    connection = connections[using]
    now = timeutil.now()
    if connection.vendor == "postgresql" or (connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)):
        row = db.retry_locked(functools.partial(_claim_returning, using, task_id, worker, now), "claim by id")
    else:
        row = db.retry_locked(functools.partial(_claim_update, using, task_id, worker, now), "claim by id")
    if row is not None:
        row["started_at"] = now
        return RAN, row
    Task = models().Task
    later = Task.objects.using(using).filter(pk=task_id, status__in=(WAITING, QUEUED)).values(*handover.FIELDS).first()
    return (NOT_DUE, later) if later is not None else (SKIPPED, None)


@functools.lru_cache(maxsize=None)
def _claim_statement(using: str) -> tuple[str, RowReader]:
    Task = models().Task
    meta = Task._meta
    connection = connections[using]
    column = column_namer(connection, Task)
    sql = (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {column('status')} = %s, {column('worker_id')} = %s, "
        f"{column('worker')} = %s, {column('attempts')} = {column('attempts')} + 1, {column('started_at')} = %s, "
        f"{column('finished_at')} = NULL, {column('cancel_requested')} = %s "
        f"WHERE {column('id')} = %s AND {column('status')} IN (%s, %s) AND {column('run_at')} <= %s "
        f"RETURNING {', '.join(column(name) for name in CLAIM_FIELDS)}"
    )
    return sql, row_reader(connection, Task, CLAIM_FIELDS)


def _claim_returning(using: str, task_id: uuid.UUID, worker: WorkerIdentity, now: Any) -> dict[str, Any] | None:
    connection = connections[using]
    sql, read = _claim_statement(using)
    db_uuid, db_time = adapters(connection)
    params = [RUNNING, db_uuid(worker.id), worker.label, db_time(now), False, db_uuid(task_id), WAITING, QUEUED, db_time(now)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = read(cursor.fetchall())
    return rows[0] if rows else None


def _claim_update(using: str, task_id: uuid.UUID, worker: WorkerIdentity, now: Any) -> dict[str, Any] | None:
    """MySQL/MariaDB (no RETURNING): the conditional UPDATE, then the row it took."""
    Task = models().Task
    with db.write_transaction(using):
        taken = Task.objects.using(using).filter(pk=task_id, status__in=(WAITING, QUEUED), run_at__lte=now).update(
            status=RUNNING, worker_id=worker.id, worker=worker.label, attempts=F("attempts") + 1,
            started_at=now, finished_at=None, cancel_requested=False,
        )
        return Task.objects.using(using).filter(pk=task_id).values(*CLAIM_FIELDS).first() if taken else None


@dataclass
class _Run:
    """A run in progress, shared with the watch thread under ``lock``."""

    task: dict[str, Any]
    thread: threading.Thread
    runner: Runner | None  # set while it runs in the runner process
    deadline: float | None  # monotonic time its timeout ends
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: bool = True
    stopped_by: Interrupt | None = None
    async_sent: bool = False


class Executor:
    """This process's runs of tasks by id (see the module's docstring)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.identity = WorkerIdentity.new()
        self.using = db.alias()
        self.tasks_done = 0
        self._runs: dict[uuid.UUID, _Run] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # each thread's runner process
        self._runnables: dict[str, Any] = {}
        self._registered = False
        self._wake = threading.Event()
        self._watch: threading.Thread | None = None

    # -- a run, in the calling thread -------------------------------------------------

    def run(self, task_id: uuid.UUID) -> tuple[str, dict[str, Any] | None]:
        """Claim, run and record the task ``task_id``; see ``claim`` for what it returns."""
        self._start()
        state, task = claim(task_id, self.identity)
        if state != RAN:
            logger.debug("task=%s not run here: %s", task_id, state)
            return state, task
        assert task is not None
        self._local.stopped = False
        outcome = run.execute(task, self._call, self._runnables)
        self._leave_connection_clean(self._local.stopped)
        outcomes.record(self.identity, self.using, [(task, outcome)])
        self.tasks_done += 1
        if outcome.status == WAITING:  # a retry: the engine gets it again, for its new time
            engine.hand_over([task["id"]])
        return RAN, task

    def _call(self, runnable: Any, args: list[Any], kwargs: dict[str, Any], task: dict[str, Any]) -> Outcome:
        timeout = task["timeout"]
        runner = self._runner() if timeout else None
        current = _Run(task, threading.current_thread(), runner, None)
        try:
            if runner is not None:
                runner.start()  # outside the timeout: Django's set-up is not the task's time
                current.deadline = time.monotonic() + timeout
            with self._lock:
                self._runs[task["id"]] = current
            self._wake.set()
            try:
                if runner is not None:
                    answer = runner.run(task)
                else:
                    answer = {"result": serialization.dumps(runnable.run(args, kwargs), "the result")}
            finally:
                self._leave(current)
        except BaseException as exc:  # a task's failure, even SystemExit, is the task's
            self._leave(current)
            return outcomes.outcome_of(exc, task, runner is not None, current.stopped_by)
        if current.stopped_by is not None:  # it caught its interrupt and went on: it ends as the interrupt says
            return outcomes.outcome_of(current.stopped_by, task, runner is not None, current.stopped_by)
        if "error" in answer:  # from the runner, which applied the retry policy
            return outcomes.failed(
                task, answer["error"], answer["class"], answer["traceback"],
                retryable=answer["retryable"], requested_delay=answer["retry_delay"],
            )
        return Outcome(DONE, result=answer["result"])

    def _leave(self, current: _Run) -> None:
        """After this no interrupt is sent for the run; one sent just before comes out here and is dropped."""
        with current.lock:
            current.active = False
            self._local.stopped = current.stopped_by is not None
            sent, current.async_sent = current.async_sent, False
        with self._lock:
            self._runs.pop(current.task["id"], None)
        if sent:
            interrupts.absorb_pending()  # sent too late for its run

    def _runner(self) -> Runner:
        runner = getattr(self._local, "runner", None)
        if runner is None:
            runner = self._local.runner = Runner()
        return runner

    def _leave_connection_clean(self, stopped: bool) -> None:
        """A task that left a transaction open must not harm the next, nor an interrupt that
        came in the middle of a query (the connection's state is then unknown)."""
        connection = connections[self.using]
        if connection.in_atomic_block or connection.needs_rollback or stopped:
            if not stopped:
                logger.warning("a task left the database connection unusable; reconnecting")
            db.reset_connection(self.using)

    # -- the watch thread: heartbeat, cancel requests, time limits --------------------------

    def _start(self) -> None:
        if self._registered:
            return
        with self._lock:
            if self._registered:
                return
            self._register()
            self._registered = True
            self._watch = threading.Thread(target=self._watch_loop, name="autotask-by-id-watch", daemon=True)
            self._watch.start()

    def _register(self) -> None:
        register_worker(self.identity)
        logger.info("task executor registered worker=%s", self.identity.label)

    def _watch_loop(self) -> None:
        from ..conf import conf

        next_beat = time.monotonic() + conf.HEARTBEAT_INTERVAL
        next_cancel_check = 0.0
        while True:
            now = time.monotonic()
            with self._lock:
                runs = dict(self._runs)
            try:
                for current in runs.values():
                    if current.deadline is not None and now >= current.deadline:
                        self._interrupt(current, TimeLimitExceeded("timed out"))
                if runs and now >= next_cancel_check:
                    next_cancel_check = now + CANCEL_CHECK
                    for task_id in cancel_requested(self.identity):
                        if task_id in runs:
                            self._interrupt(runs[task_id], CancelRequested("cancelled"))
                if now >= next_beat:
                    next_beat = now + conf.HEARTBEAT_INTERVAL
                    self._beat()
            except DatabaseError as exc:
                logger.warning("task executor: database trouble (%s)", exc)
                db.reset_connection(self.using)
            waits = [next_beat - now]
            if runs:
                waits.append(CANCEL_CHECK)
                waits += [current.deadline - now for current in runs.values() if current.deadline is not None]
            self._wake.wait(max(0.01, min(waits)))
            self._wake.clear()

    def _beat(self) -> None:
        Worker = models().Worker
        beat = db.retry_locked(
            lambda: Worker.objects.using(self.using).filter(pk=self.identity.id).update(
                heartbeat_at=timeutil.now(), tasks_done=self.tasks_done
            ),
            "heartbeat",
        )
        if not beat:
            logger.warning("this process was presumed lost by another; registering again")
            self._register()
        stats.flush(self.identity.id)

    def _interrupt(self, current: _Run, exc: Interrupt) -> None:
        with current.lock:
            if not current.active or current.stopped_by is not None:
                return
            current.stopped_by = exc
            logger.info("interrupting task=%s: %s", current.task["id"], type(exc).__name__)
            if current.runner is not None:
                current.runner.terminate()  # its answer never comes: the run's wait ends at once
            elif current.thread.ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(current.thread.ident), ctypes.py_object(type(exc)))
                current.async_sent = True


_executor: Executor | None = None
_executor_lock = threading.Lock()


def executor() -> Executor:
    """This process's executor (a forked child makes its own)."""
    global _executor
    if _executor is None or _executor.pid != os.getpid():
        with _executor_lock:
            if _executor is None or _executor.pid != os.getpid():
                _executor = Executor()
    return _executor


def run_by_id(task_id: uuid.UUID | str) -> tuple[str, dict[str, Any] | None]:
    """Claim, run and record one task by its id, in this thread (see ``Executor.run``)."""
    return executor().run(task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id)))

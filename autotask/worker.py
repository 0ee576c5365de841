"""The worker loop: claim, run, record. Nothing a task does, no bad row and no lost
connection ends the loop; only a stop request does.

One task runs at a time, in the main thread. A heartbeat thread keeps the
worker's lease alive and watches for a cancel request of the running task; a
cancel, a timeout or the end of the stop grace period interrupts the main
thread with a signal that raises ``TaskCancelled``, ``TaskTimeout`` or
``WorkerStopping`` in it. A task with a timeout runs in the worker's runner
process (``runner.py``), which the interrupt kills; any other task runs in the
main thread, and the exception is raised inside the task. Either way the
worker itself is never what gets killed.
"""

from __future__ import annotations

import datetime as dt
import logging
import resource
import signal
import threading
import time
import traceback
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, ProgrammingError, connections
from django.utils.module_loading import autodiscover_modules

from . import db, loader, queue, schedules, serialization, stats, timeutil
from .conf import conf
from .exceptions import TaskCancelled, TaskTimeout, WorkerStopping
from .queue import Outcome, WorkerIdentity
from .loader import full_name
from .runner import Runner, RunnerDied
from .supervisor import EXIT_OK, EXIT_RECYCLE
from .task import CANCELLED, DONE, ERROR, WAITING
from .wakeup import Waker

logger = logging.getLogger(__name__)

INTERRUPT_SIGNAL = signal.SIGUSR1
QUICK_TASK = 0.05  # seconds: while tasks are this quick, claim several at once
SCHEDULE_RECHECK = 1.0  # seconds between looks at the schedules while none is due


class Worker:
    def __init__(self, *, companion: bool = False, parent_fd: int | None = None) -> None:
        self.using = db.alias()
        self.identity = WorkerIdentity.new()
        self.companion = companion
        self.stopping = threading.Event()
        self.exit_code = EXIT_OK
        self.waker = Waker(self.using, on_parent_gone=self.stop)
        self.parent_fd = parent_fd
        self.runner = Runner()
        self.tasks_done = 0
        self.max_tasks = conf.WORKER_MAX_TASKS
        self.max_memory_mb = conf.WORKER_MAX_MEMORY_MB
        self._current: dict[str, Any] | None = None
        self._interrupt: BaseException | None = None
        self._in_task = False
        self._last_duration = 1.0
        self._next_maintenance = 0.0
        self._next_clean = 0.0
        self._registered = False
        self._schedule_waits = False
        self._next_schedule_due: dt.datetime | None = None
        self._schedules_recheck_at = 0.0
        self._main_thread = threading.main_thread()
        self._functions: dict[str, Any] = {}  # dotted path -> function, once imported

    # -- lifecycle -------------------------------------------------------------

    def stop(self) -> None:
        """Claim nothing new; let the running task finish within ``AUTOTASK_STOP_GRACE``."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.waker.wake()
        if self._current is not None:
            logger.info("stopping after the running task task=%s (grace %ss)", self._current["id"], conf.STOP_GRACE)
            timer = threading.Timer(conf.STOP_GRACE, self._interrupt_task, (WorkerStopping("the worker is stopping"),))
            timer.daemon = True
            timer.start()

    def run(self) -> int:
        """Run until stopped; return the exit code for the supervisor."""
        self._install_signal_handlers()
        if self.parent_fd is not None:
            self.waker.watch_parent(self.parent_fd)
        logger.info("worker started worker=%s companion=%s", self.identity.label, self.companion)
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="autotask-heartbeat", daemon=True)
        try:
            if not self._start_up():
                return self.exit_code
            self.waker.start()
            heartbeat.start()
            while not self.stopping.is_set():
                self._turn()
        finally:
            self.stopping.set()
            self.waker.close()
            self.runner.close()
            if heartbeat.is_alive():
                heartbeat.join(timeout=5)
            stats.flush(self.identity.id)  # the dashboard's run figures (autotask.stats)
            self._unregister()
            connections.close_all()
            logger.info("worker stopped worker=%s tasks_done=%s", self.identity.label, self.tasks_done)
        return self.exit_code

    def _turn(self) -> None:
        """One turn of the loop; a database error is logged and waited out, never raised."""
        try:
            if self._tick():
                return
            self._idle()
        except DatabaseError as exc:
            logger.warning("database error in worker loop (%s); reconnecting", exc, exc_info=True)
            db.reset_connection(self.using)
            self.stopping.wait(1.0)
        except Exception:
            logger.exception("unexpected error in worker loop")
            self.stopping.wait(1.0)

    def _start_up(self) -> bool:
        """Register this worker and store the schedules, waiting out database trouble."""
        autodiscover_modules("tasks")  # registers the schedules of every app's tasks.py
        while self._wait_for_tables():
            try:
                self._register()
                schedules.sync()
                return True
            except DatabaseError as exc:
                logger.warning("database error while starting (%s); retrying", exc)
                db.reset_connection(self.using)
                self.stopping.wait(1.0)
        return False

    def _wait_for_tables(self) -> bool:
        """Missing migrations never crash anything: wait, and say why."""
        from .models import MinuteStats, Schedule, Task, Worker as WorkerRow

        warned = False
        while not self.stopping.is_set():
            try:
                for model in (Task, Schedule, WorkerRow, MinuteStats):  # MinuteStats: the latest migration
                    model.objects.using(self.using).exists()
                if warned:
                    logger.warning("autotask's tables exist now; starting")
                return True
            except (ProgrammingError, DatabaseError) as exc:
                if not warned:
                    logger.warning("autotask's tables are missing (%s): run 'python manage.py migrate'; waiting", exc)
                    warned = True
                db.reset_connection(self.using)
                self.stopping.wait(5.0)
        return False

    def _register(self) -> None:
        from .models import Worker as WorkerRow

        now = timeutil.now()
        WorkerRow.objects.using(self.using).update_or_create(
            id=self.identity.id,
            defaults=dict(
                host=queue.HOST,
                pid=int(self.identity.label.rsplit(":", 1)[1]),
                companion=self.companion,
                started_at=now,
                heartbeat_at=now,
            ),
        )
        self._registered = True

    def _unregister(self) -> None:
        if not self._registered:
            return
        from .models import Worker as WorkerRow

        try:
            WorkerRow.objects.using(self.using).filter(pk=self.identity.id).delete()
        except DatabaseError:
            pass  # others will find the heartbeat stale

    # -- the loop ----------------------------------------------------------------

    def _tick(self) -> bool:
        """Do what is due now; return True if tasks ran."""
        self._maintain()
        now = timeutil.now()
        self._claim_schedules(now)
        # As many as the last run's time says fit in QUICK_TASK seconds: quick tasks
        # come in batches, and no batch holds tasks long from other workers.
        limit = min(conf.CLAIM_BATCH, int(QUICK_TASK / max(self._last_duration, 1e-6)))
        claimed = queue.claim(self.identity, max(1, limit))
        ran: list[tuple[dict[str, Any], Outcome]] = []
        batch_started = time.monotonic()
        for index, task in enumerate(claimed):
            if self.stopping.is_set():
                queue.release(self.identity, [t["id"] for t in claimed[index:]])
                break
            ran.append((task, self._execute(task)))
            # Quick runs are recorded together, one transaction (one commit) for
            # several; a slower one is recorded as soon as it ends.
            if time.monotonic() - batch_started >= QUICK_TASK or index == len(claimed) - 1:
                self._record(ran)
                ran, batch_started = [], time.monotonic()
            self._recycle_if_needed()
            if self._last_duration >= QUICK_TASK and index < len(claimed) - 1:
                # The batch's tasks are not all quick: the rest go back, for any worker to take.
                queue.release(self.identity, [t["id"] for t in claimed[index + 1:]])
                break
        self._record(ran)
        return bool(claimed)

    def _claim_schedules(self, now: dt.datetime) -> None:
        """Look at the schedules when one is due, and at least every SCHEDULE_RECHECK
        seconds (another worker may have stored one due sooner): not on every turn."""
        due = self._next_schedule_due
        if time.monotonic() < self._schedules_recheck_at and not self._schedule_waits and (due is None or due > now):
            return
        _, self._schedule_waits = schedules.claim_due(now)
        self._next_schedule_due = schedules.next_due_time()
        self._schedules_recheck_at = time.monotonic() + SCHEDULE_RECHECK

    def _idle(self) -> None:
        now = timeutil.now()
        self._next_schedule_due = schedules.next_due_time()
        candidates = [queue.next_due_time(), self._next_schedule_due]
        timeout = float(conf.HANDLE_TASK_IDLE_TIME)
        for due in candidates:
            if due is not None:
                timeout = min(timeout, max(0.0, (due - now).total_seconds()))
        if self._schedule_waits:
            timeout = max(timeout, 0.05)  # a due schedule waits for its running run to end
        timeout = min(timeout, max(0.0, self._next_maintenance - time.monotonic()))
        if timeout > 0:
            logger.debug("idle for up to %g s", round(timeout, 3))
            self.waker.wait(timeout)

    def _maintain(self) -> None:
        clock = time.monotonic()
        if clock >= self._next_maintenance:
            self._next_maintenance = clock + conf.HEARTBEAT_INTERVAL
            queue.recover_lost()
        if clock >= self._next_clean:
            self._next_clean = clock + conf.CLEAN_INTERVALL
            deleted = queue.delete_expired()
            if deleted:
                logger.info("removed expired tasks count=%s", deleted)

    def _recycle_if_needed(self) -> None:
        reason = None
        if self.max_tasks and self.tasks_done >= self.max_tasks:
            reason = f"ran {self.tasks_done} tasks"
        elif self.max_memory_mb:
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            runner_mb = self.runner.rss_mb()
            if rss_mb > self.max_memory_mb:
                reason = f"uses {rss_mb:.0f} MB"
            elif runner_mb > self.max_memory_mb:
                # The runner holds what timed tasks left behind: a new one starts on next need.
                logger.info("task runner uses %.0f MB: replacing it", runner_mb)
                self.runner.close()
        if reason:
            logger.info("worker replaces itself: %s", reason)
            self.exit_code = EXIT_RECYCLE
            self.stopping.set()

    # -- running one task --------------------------------------------------------

    def _execute(self, task: dict[str, Any]) -> Outcome:
        """Run one claimed task in this thread; never raises."""
        from .tasks import DelayedTask, _current_task

        started = time.monotonic()
        task["started_at"] = timeutil.now()
        outcome: Outcome
        try:
            func = self._functions.get(task["function"])
            if func is None:  # imported once per worker; only found functions are kept
                func = self._functions[task["function"]] = loader.resolve(task["function"])
            args, kwargs = serialization.loads_call(task["arguments"])
        except (ImportError, ValueError) as exc:
            outcome = Outcome(ERROR, error_message=str(exc), exception_class=full_name(type(exc)))
        else:
            logger.debug("task started task=%s function=%s attempt=%s", task["id"], task["function"], task["attempts"])
            token = _current_task.set(DelayedTask(task["id"]))
            self._current = task
            try:
                outcome = self._call(func, args, kwargs, task)
            finally:
                self._current = None
                _current_task.reset(token)
        task["finished_at"] = timeutil.now()
        self._last_duration = time.monotonic() - started
        self.tasks_done += 1
        self._leave_connection_clean()
        return outcome

    def _record(self, ran: list[tuple[dict[str, Any], Outcome]]) -> None:
        if not ran:
            return
        held = self._until_recorded(lambda: queue.finish(self.identity, ran))
        stats.record(ran, held)  # the dashboard's run figures (autotask.stats)
        for (task, outcome), was_held in zip(ran, held):
            self._log_outcome(task, outcome, was_held)

    def _call(self, func: Any, args: list[Any], kwargs: dict[str, Any], task: dict[str, Any]) -> Outcome:
        timeout = task["timeout"]
        in_runner = bool(timeout) and conf.TIMEOUT_MODE == "process"
        self._interrupt = None
        self._in_task = True
        try:
            try:
                if in_runner:
                    self.runner.start()  # outside the timeout: Django's set-up is not the task's time
                if timeout:
                    signal.setitimer(signal.ITIMER_REAL, timeout)
                if in_runner:
                    answer = self.runner.run(task)
                else:  # the same answer as the runner's; a failure raises here
                    answer = {"result": serialization.dumps(func(*args, **kwargs), "the result")}
            finally:
                self._in_task = False
                if timeout:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            if "error" in answer:
                return self._failed(task, answer["error"], answer["class"], answer["traceback"])
            return Outcome(DONE, result=answer["result"])
        except WorkerStopping:
            # Handed back unfinished: it runs again, and this run doesn't count.
            return Outcome(WAITING, error_message="handed back: its worker stopped", attempts_delta=-1)
        except TaskCancelled:
            return Outcome(CANCELLED, error_message="cancelled while running", exception_class=full_name(TaskCancelled))
        except RunnerDied as exc:
            return self._failed(task, str(exc), full_name(RunnerDied), "")
        except BaseException as exc:  # a task's failure, even SystemExit, is the task's
            message = f"timed out after {timeout:g} s" if isinstance(exc, TaskTimeout) else str(exc)
            trace = "" if in_runner else traceback.format_exc()  # in the runner's case, the worker's frames
            outcome = self._failed(task, message, full_name(type(exc)), trace)
            if isinstance(exc, KeyboardInterrupt):
                self.stop()
            return outcome

    @staticmethod
    def _failed(task: dict[str, Any], message: str, exception_class: str, trace: str) -> Outcome:
        """A failed run: ERROR, or WAITING for a retry if retries remain."""
        outcome = Outcome(ERROR, error_message=message, exception_class=exception_class, traceback=trace)
        if task["attempts"] <= task["retries"]:
            outcome.status = WAITING
            outcome.retry_at = timeutil.now() + dt.timedelta(seconds=conf.RETRY_DELAY)
        return outcome

    def _until_recorded(self, record: Any) -> Any:
        """Write a run's outcome, however long the database is away: a restart of the
        database server delays the record, it must never leave the task RUNNING."""
        pause = 0.5
        while True:
            try:
                return record()
            except (OperationalError, InterfaceError) as exc:
                logger.warning("can't record a task's outcome (%s); retrying in %.1fs", exc, pause)
                db.reset_connection(self.using)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _log_outcome(self, task: dict[str, Any], outcome: Outcome, held: bool) -> None:
        if not held:
            logger.warning("task=%s was taken over by another worker; its outcome here is dropped", task["id"])
        elif outcome.status == ERROR:
            logger.error(
                "task failed task=%s function=%s error=%s\n%s",
                task["id"], task["function"], outcome.error_message, outcome.traceback,
            )
        elif outcome.status == WAITING and outcome.attempts_delta == 0:
            logger.warning(
                "task failed, will retry task=%s function=%s attempt=%s error=%s",
                task["id"], task["function"], task["attempts"], outcome.error_message,
            )
        else:
            logger.info("task finished task=%s function=%s status=%s", task["id"], task["function"], outcome.status)

    def _leave_connection_clean(self) -> None:
        """A task that left a transaction open must not harm the next. (A broken
        connection needs no ping here: recording the outcome reconnects.)"""
        connection = connections[self.using]
        if connection.in_atomic_block or connection.needs_rollback:
            logger.warning("a task left the database connection unusable; reconnecting")
            db.reset_connection(self.using)

    # -- interrupts ----------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda signum, frame: self.stop())
        signal.signal(signal.SIGINT, lambda signum, frame: self.stop())
        signal.signal(INTERRUPT_SIGNAL, self._on_interrupt)
        signal.signal(signal.SIGALRM, self._on_timeout)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self._in_task and self._interrupt is not None:
            exc, self._interrupt = self._interrupt, None
            raise exc

    def _on_timeout(self, signum: int, frame: Any) -> None:
        if self._in_task:
            raise TaskTimeout("timed out")

    def _interrupt_task(self, exc: BaseException) -> None:
        if self._current is None:
            return
        self._interrupt = exc
        signal.pthread_kill(self._main_thread.ident, INTERRUPT_SIGNAL)

    # -- heartbeat -------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        from .models import Worker as WorkerRow

        next_beat = 0.0
        try:
            while not self.stopping.wait(0.25):
                current = self._current
                if current is not None:
                    try:
                        if queue.cancel_requested(current["id"]) and current is self._current:
                            self._interrupt_task(TaskCancelled("cancelled"))
                    except DatabaseError:
                        db.reset_connection(self.using)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + conf.HEARTBEAT_INTERVAL
                    try:
                        beat = db.retry_locked(
                            lambda: WorkerRow.objects.using(self.using)
                            .filter(pk=self.identity.id)
                            .update(heartbeat_at=timeutil.now(), tasks_done=self.tasks_done),
                            "heartbeat",
                        )
                        if not beat and not self.stopping.is_set():
                            logger.warning("this worker was presumed lost by another; registering again")
                            self._register()
                        stats.flush(self.identity.id)  # the dashboard's run figures (autotask.stats)
                    except DatabaseError as exc:
                        logger.warning("heartbeat failed (%s)", exc)
                        db.reset_connection(self.using)
        finally:
            connections.close_all()

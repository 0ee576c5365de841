"""The Celery side: the task that runs a row by its id, sending rows to the broker, the worker's hooks."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import uuid
from typing import Any, Iterable, Sequence

from celery import shared_task, signals
from django.db import DatabaseError
from django.utils.module_loading import import_string

from ... import db, timeutil
from ...conf import conf
from ...execution import by_id
from ...queue import handover
from . import TASK_NAME

logger = logging.getLogger(__name__)

CELERY_PRIORITIES = 10  # Celery's (and kombu's Redis transport's) priorities: 0 to 9


@functools.lru_cache(maxsize=None)
def _app_for(path: str) -> Any:
    return import_string(path)


def app() -> Any:
    """The Celery app of ``AUTOTASK_CELERY_APP``."""
    if not conf.CELERY_APP:
        raise RuntimeError("AUTOTASK_ENGINE is 'celery' but AUTOTASK_CELERY_APP is not set (e.g. 'proj.celery.app')")
    return _app_for(conf.CELERY_APP)


def celery_priority(priority: int, broker_url: str) -> int:
    """autotask's -100..100 (higher starts first) on Celery's 0..9: higher first on AMQP
    (RabbitMQ, with ``x-max-priority`` on the queue), lower first on Redis."""
    level = min(CELERY_PRIORITIES - 1, int((priority + 100) * (CELERY_PRIORITIES - 1) / 200 + 0.5))
    if broker_url.split(":", 1)[0] in ("redis", "rediss", "sentinel"):
        return CELERY_PRIORITIES - 1 - level
    return level


def send(row: dict[str, Any], celery_app: Any = None, producer: Any = None) -> None:
    """Send one row's message: its id (JSON), its queue, its priority, its due time as the ETA.

    The message's Celery id is the row's id too, so Celery's logs and monitors name the
    task as autotask does (every message of one row has that id: a resend, a duplicate)."""
    celery_app = celery_app or app()
    run_at = row["run_at"]
    eta = timeutil.aware(run_at) if run_at is not None and run_at > timeutil.now() else None
    celery_app.send_task(
        TASK_NAME, args=[str(row["id"])], task_id=str(row["id"]), queue=row["queue_name"],
        priority=celery_priority(row["priority"], str(celery_app.conf.broker_url or "")),
        eta=eta, serializer="json", retry=False, ignore_result=True, producer=producer,
    )


def send_rows(rows: Sequence[dict[str, Any]]) -> int:
    """Send ``rows`` and mark the sent ones QUEUED; a row whose send fails stays as it was
    (WAITING, for a dispatcher). Returns how many were sent. Never raises for a broker that is away."""
    celery_app = app()
    sent: list[uuid.UUID] = []
    # A row due much later waits in the table (a dispatcher sends it when due): a Celery
    # worker holds every ETA message it has in memory, and Redis delivers one again
    # after its visibility timeout (an hour).
    keep_back = timeutil.now() + dt.timedelta(seconds=conf.CELERY_ETA_LIMIT)
    rows = [row for row in rows if row["run_at"] is None or row["run_at"] <= keep_back]
    try:
        with celery_app.producer_or_acquire() as producer:
            # One quick try to connect: a broker that is away must not hold up the caller
            # (kombu's own retries take seconds); the dispatcher tries again soon.
            producer.connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
            for row in rows:
                send(row, celery_app, producer)
                sent.append(row["id"])
    except Exception as exc:  # the broker is away: the rest wait in the table
        logger.warning(
            "can't hand tasks to Celery (%s: %s): %s wait in the table for a Celery worker's dispatcher",
            type(exc).__name__, exc, len(rows) - len(sent),
        )
    handover.mark_queued(sent)
    return len(sent)


def empty_queues(names: Iterable[str]) -> set[str]:
    """Of the Celery queues ``names``, those in which the broker holds no message (a queue it
    doesn't know holds none)."""
    empty = set()
    with app().connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
        for name in names:
            channel = connection.channel()
            try:
                if not channel.queue_declare(queue=name, passive=True).message_count:
                    empty.add(name)
            except connection.channel_errors:  # not declared (AMQP's 404; Redis: no list)
                empty.add(name)
            finally:
                with contextlib.suppress(Exception):  # (AMQP closed the channel after a 404)
                    channel.close()
    return empty


def resend_lost(rows: Sequence[dict[str, Any]]) -> int:
    """Send again those of ``rows`` (handed over long ago, not started) whose queue is empty:
    their message is not waiting in the broker, so it was lost (a Redis without persistence
    restarted: its messages, and the bindings that route them, are gone until the Celery
    workers declare their queues again). A message that a busy Celery worker holds
    (prefetched) gets a second one, which runs nothing if the first ran. Returns how many."""
    if not rows:
        return 0
    try:
        empty = empty_queues({row["queue_name"] for row in rows})
    except Exception as exc:  # the broker is away: the next look tries again
        logger.warning("can't ask the broker for its queues (%s: %s)", type(exc).__name__, exc)
        return 0
    lost = [row for row in rows if row["queue_name"] in empty]
    if lost:
        logger.warning(
            "%s tasks handed to Celery over %ss ago have not started, and their queues (%s) are empty: sending them again",
            len(lost), conf.CELERY_RESEND_AFTER, ", ".join(sorted({row["queue_name"] for row in lost})),
        )
    return send_rows(lost)


def hand_over(task_ids: Sequence[uuid.UUID], rows: Sequence[dict[str, Any]] | None = None) -> None:
    """The engine's hook (after the commit that stored ``task_ids``): send those still WAITING,
    or ``rows`` (their ``handover.FIELDS``) as the caller who just stored them knows them: a
    message for a row that changed meanwhile (cancelled) runs nothing, and isn't marked QUEUED."""
    try:
        send_rows(rows if rows is not None else handover.waiting(task_ids))
    except Exception:  # a database error after the commit: the rows wait for a dispatcher
        logger.exception("hand-over of tasks=%s failed; they wait for a Celery worker's dispatcher", len(task_ids))


def run(self: Any, task_id: str) -> str:
    """The Celery task: run the autotask row ``task_id`` (its id only: the row holds the rest).

    A database error before the run (the claim) sends the message again a little later,
    so the row is never left QUEUED without one; once claimed, the outcome is written
    however long the database is away (``outcomes.until_recorded``)."""
    try:
        state, row = by_id.run_by_id(uuid.UUID(task_id))
    except DatabaseError as exc:
        delay = min(2 ** self.request.retries, 30)
        logger.warning("task=%s: database error before its run (%s); trying again in %ss", task_id, exc, delay)
        db.reset_connection(db.alias())  # (kept across tasks with CELERY_DB_REUSE_MAX: not so when broken)
        raise self.retry(exc=exc, countdown=delay, max_retries=None) from None
    if state == by_id.NOT_DUE and row is not None:
        # A message that came early (another clock, a duplicate): sent again for the row's time.
        send(row)
    return state


_installed = False


def install() -> None:
    """Register the task on every Celery app, and the worker's hooks (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    # acks_late: a worker that dies before it took the row leaves the message to the broker,
    # which delivers it again; a run that was under way is recovered by autotask (the lease).
    shared_task(name=TASK_NAME, bind=True, ignore_result=True, acks_late=True, serializer="json", typing=False)(run)
    signals.worker_ready.connect(_start_dispatcher, dispatch_uid="autotask.dispatcher.start", weak=False)
    signals.worker_shutdown.connect(_stop_dispatcher, dispatch_uid="autotask.dispatcher.stop", weak=False)


def _start_dispatcher(sender: Any = None, **kwargs: Any) -> None:
    from . import dispatcher

    dispatcher.start()


def _stop_dispatcher(sender: Any = None, **kwargs: Any) -> None:
    from . import dispatcher

    dispatcher.stop()

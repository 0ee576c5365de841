"""Inside every Celery worker (its main process): schedules, rows not handed over yet, lost runs.

One thread, started when the worker is ready, every
``AUTOTASK_CELERY_DISPATCH_INTERVAL`` seconds (sooner when a schedule is due):

- decides the due times of schedules (``schedules.claim_due``: each due time is
  claimed once across all workers, so every Celery worker can do it, and no
  celery beat is needed) and hands their runs over;
- hands over WAITING rows that are due and not handed over: their send failed
  (the broker was down when they were stored), or they became WAITING again
  without one (recovered, or run again from the admin);
- sends again the rows handed over and due more than ``AUTOTASK_CELERY_RESEND_AFTER``
  seconds ago that have not started, when their Celery queue is empty (the broker lost
  their message: ``wiring.resend_lost``);
- every ``AUTOTASK_HEARTBEAT_INTERVAL`` seconds recovers the runs of lost
  processes (``queue.recover_lost``: the lease), which then wait to be handed over;
- every ``AUTOTASK_CLEAN_INTERVALL`` seconds removes expired rows.

Database or broker trouble is logged, never raised: the next turn tries again.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import connections
from django.utils.module_loading import autodiscover_modules

from ... import db, queue, schedules, timeutil
from ...conf import conf
from ...queue import handover
from . import wiring

logger = logging.getLogger(__name__)

BATCH = 500  # rows handed over in one turn, at most
GRACE = 2.0  # seconds a just-stored row is left to the process that stored it


class Dispatcher:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="autotask-celery-dispatcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _serve(self) -> None:
        autodiscover_modules("tasks")  # registers the schedules of every app's tasks.py
        synced = False
        next_recovery = next_clean = next_resend = 0.0
        logger.info("autotask dispatcher started in this Celery worker")
        while not self._stop.is_set():
            wait = float(conf.CELERY_DISPATCH_INTERVAL)
            try:
                if not synced:
                    schedules.sync()
                    synced = True
                clock = time.monotonic()
                if clock >= next_recovery:
                    next_recovery = clock + conf.HEARTBEAT_INTERVAL
                    queue.recover_lost()
                if clock >= next_clean:
                    next_clean = clock + conf.CLEAN_INTERVALL
                    queue.delete_expired()
                if clock >= next_resend:
                    # (a look at every QUEUED row: not every turn)
                    next_resend = clock + max(conf.CELERY_RESEND_AFTER / 4, conf.CELERY_DISPATCH_INTERVAL)
                    wiring.resend_lost(handover.unstarted(BATCH, conf.CELERY_RESEND_AFTER))
                created, _ = schedules.claim_due(timeutil.now())
                grace = 0.0 if created else GRACE  # a schedule's run goes at once
                while rows := handover.due(BATCH, grace):
                    sent = wiring.send_rows(rows)
                    if sent < len(rows) or len(rows) < BATCH:
                        break
                due = schedules.next_due_time()
                if due is not None:
                    wait = min(wait, max(0.0, (due - timeutil.now()).total_seconds()))
            except Exception:
                logger.exception("autotask dispatcher: this turn failed; the next one tries again")
                db.reset_connection(db.alias())
            self._stop.wait(wait)
        connections.close_all()


_dispatcher: Dispatcher | None = None


def start() -> None:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = Dispatcher()
        _dispatcher.start()


def stop() -> None:
    global _dispatcher
    if _dispatcher is not None:
        _dispatcher.stop()
        _dispatcher = None

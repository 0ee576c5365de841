"""How long a finished task's record is kept: one rule for every way a task ends."""

from __future__ import annotations

import datetime as dt

from ..conf import conf
from ..task import CANCELLED, ERROR


def expires_at(status: str, finished_at: dt.datetime, ttl: float) -> dt.datetime | None:
    """When the record of a task that ended ``status`` at ``finished_at`` is removed (None: never).

    DONE: ``ttl`` seconds after it finished. ERROR and CANCELLED: the longer of
    its ``ttl`` and ``AUTOTASK_FAILED_TTL`` (None keeps failed tasks for good),
    so that last night's failure can still be looked at in the morning.
    """
    if status in (ERROR, CANCELLED):
        failed_ttl = conf.FAILED_TTL
        if failed_ttl is None:
            return None
        ttl = max(ttl, failed_ttl)
    return finished_at + dt.timedelta(seconds=ttl)

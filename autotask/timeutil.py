"""Clock and time-zone helpers that respect ``USE_TZ``.

Inside autotask, schedule arithmetic uses aware datetimes. What goes into
and out of the database follows ``USE_TZ`` as Django does: aware (UTC) when
it is True, naive local time in ``TIME_ZONE`` when it is False.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone


def now() -> dt.datetime:
    """The current time as the database columns expect it."""
    return timezone.now()


def aware(value: dt.datetime) -> dt.datetime:
    """``value`` as an aware datetime (a naive one is in ``TIME_ZONE``)."""
    if timezone.is_aware(value):
        return value
    return timezone.make_aware(value, timezone.get_default_timezone())


def to_db(value: dt.datetime) -> dt.datetime:
    """``value`` as the database columns expect it."""
    if settings.USE_TZ:
        return aware(value).astimezone(dt.timezone.utc)
    if timezone.is_aware(value):
        return timezone.make_naive(value, timezone.get_default_timezone())
    return value

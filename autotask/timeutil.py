"""Clock and time-zone helpers that respect ``USE_TZ``.

Inside autotask, schedule arithmetic uses aware datetimes. What goes into
and out of the database follows ``USE_TZ`` as Django does: aware (UTC) when
it is True, naive local time in ``TIME_ZONE`` when it is False.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.signals import setting_changed
from django.utils import timezone


_zone: list[dt.tzinfo | None] = []  # UTC with USE_TZ, else None; read once, forgotten on setting_changed


def now() -> dt.datetime:
    """The current time as the database columns expect it (``timezone.now()``, without
    its settings lookup: a worker asks several times for every task it runs)."""
    if not _zone:
        _zone.append(dt.timezone.utc if settings.USE_TZ else None)
    return dt.datetime.now(_zone[0])


def _forget_zone(setting: str, **kwargs: object) -> None:
    if setting == "USE_TZ":
        _zone.clear()


setting_changed.connect(_forget_zone, dispatch_uid="autotask.timeutil.zone")


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

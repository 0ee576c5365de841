"""What the queue's hand-written statements share: the tables, and how values go in."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from typing import Any, Callable

from django.conf import settings

HOST = socket.gethostname()


def models():
    from .. import models

    return models


def column_namer(connection: Any, model: Any) -> Callable[[str], str]:
    """``column(field_name)``: the quoted column of a field of ``model`` on ``connection``."""
    meta = model._meta
    quote = connection.ops.quote_name
    return lambda name: quote(meta.get_field(name).column)


def adapters(connection: Any) -> tuple[Callable[[uuid.UUID], Any], Callable[[dt.datetime], Any]]:
    """How ``connection`` takes a UUID and a datetime, for values already of their
    fields' types: what ``get_db_prep_value`` of UUIDField and DateTimeField ends
    with, without their checks (those were a fifth to a third of the time of an
    enqueue, a claim or a record)."""
    native = connection.features.has_native_uuid_field
    db_uuid = (lambda value: value) if native else (lambda value: value.hex)
    if connection.vendor == "sqlite" and settings.USE_TZ:
        # Django's adapter, less its per-call settings lookups: SQLite stores naive
        # text in the connection's zone (UTC, unless DATABASES sets TIME_ZONE).
        zone = connection.timezone

        def db_time(value: dt.datetime) -> str:
            if value.tzinfo is not zone and value.tzinfo is not None:
                value = value.astimezone(zone)
            return str(value.replace(tzinfo=None))

        return db_uuid, db_time
    return db_uuid, connection.ops.adapt_datetimefield_value



"""A run's output in the database: pieces appended as the run goes, read back as one text.

The capture (``execution/capture.py``) hands this module the new text of a
running task about every ``AUTOTASK_OUTPUT_FLUSH_INTERVAL`` seconds; each write
is an ``INSERT`` of a row of its own (``models.TaskOutput``), so a long output
never means rewriting a large row. An attempt keeps the first half of its
share of ``AUTOTASK_OUTPUT_MAX_BYTES`` as written ("head" rows), then only its
latest part: once its end outgrows that, the oldest end rows are deleted and
the newest row says how much was left out. Rows go with their task (a cascade).

``text(task_id)`` puts it together: the attempts in order, each under a header
line once there is more than one, a line saying how much was left out where
that happened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from . import db


@dataclass
class Piece:
    """One row to write: ``left_out`` is None for the beginning of an attempt."""

    task_id: uuid.UUID
    attempt: int
    text: str
    left_out: int | None = None
    keep_id: Any = None  # where to note the new row's id and length (a piece of the end: dropped later)


def _model() -> Any:
    from .models import TaskOutput

    return TaskOutput


def write(pieces: list[Piece], drop: Iterable[int]) -> None:
    """Insert ``pieces`` and delete the rows of ids ``drop``, in one short transaction.
    The id of each piece of an end goes to its ``keep_id`` (to drop it later)."""
    TaskOutput = _model()
    using = db.alias()
    drop = list(drop)

    def attempt() -> list[tuple[Piece, int]]:
        with db.write_transaction(using):
            if drop:
                TaskOutput.objects.using(using).filter(pk__in=drop).delete()
            beginnings = [piece for piece in pieces if piece.keep_id is None]
            TaskOutput.objects.using(using).bulk_create(
                [TaskOutput(task_id=p.task_id, attempt=p.attempt, text=p.text) for p in beginnings]
            )
            ends = []
            for piece in pieces:  # only runs that outgrew their first half: one INSERT each, for its id
                if piece.keep_id is not None:
                    row = TaskOutput.objects.using(using).create(
                        task_id=piece.task_id, attempt=piece.attempt, text=piece.text, left_out=piece.left_out
                    )
                    ends.append((piece, row.pk))
            return ends

    for piece, row_id in db.retry_locked(attempt, "output"):
        piece.keep_id.append((row_id, len(piece.text)))


def stored_length(task_id: uuid.UUID) -> int:
    """Characters of output stored for the task so far (its earlier attempts')."""
    from django.db.models import Sum
    from django.db.models.functions import Length

    found = _model().objects.using(db.alias()).filter(task_id=task_id).aggregate(n=Sum(Length("text")))["n"]
    return int(found or 0)


def text(task_id: uuid.UUID) -> str:
    """The task's output so far: every attempt's, in order."""
    rows = list(
        _model().objects.using(db.alias()).filter(task_id=task_id).order_by("id").values_list("attempt", "left_out", "text")
    )
    return assemble(rows)


def assemble(rows: list[tuple[int, int | None, str]]) -> str:
    # Runs in the order they wrote: consecutive rows of the same attempt number are one
    # run (a task run again from the admin counts its attempts from 1 again).
    runs: list[tuple[int, list[tuple[int | None, str]]]] = []
    for attempt, left_out, piece in rows:
        if not runs or runs[-1][0] != attempt:
            runs.append((attempt, []))
        runs[-1][1].append((left_out, piece))
    parts = []
    for attempt, pieces in runs:
        if len(runs) > 1:
            parts.append(f"--- attempt {attempt} ---\n")
        left_out = max((n for n, _ in pieces if n), default=0)
        marked = False
        for n, piece in pieces:
            if n is not None and left_out and not marked:
                if parts and not parts[-1].endswith("\n"):
                    parts.append("\n")
                parts.append(f"[... {left_out} characters left out ...]\n")
                marked = True
            parts.append(piece)
    return "".join(parts)

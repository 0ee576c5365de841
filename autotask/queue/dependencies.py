"""Dependencies between tasks (``func.using(after=[...])``).

A task stored with dependencies that have not all ended DONE is stored
BLOCKED, with ``dependencies_left`` counting them, and one ``TaskDependency``
row per dependency. The claim takes WAITING rows only (through the claim
index, whose first column is the status): a blocked task is never claimed,
never scanned, never polled for.

A dependency is marked ``has_dependents`` when a task that waits for it is
stored. Recording its outcome (``record.finish``, a lost worker's recovery, a
cancel) settles its dependents in the same transaction, and only then: other
tasks pay nothing. DONE takes one off each dependent's count, and those at 0
become WAITING (and workers are woken as for a new task); ERROR or CANCELLED
cancels the blocked dependents, with a message naming the dependency, and in
turn their own dependents, level after level: a few set-based statements per
level, never one per row. A dependency whose record is gone before it ended
DONE (deleted by hand) is found by the workers' clean-up (``cancel_orphans``, every
``AUTOTASK_CLEAN_INTERVALL``).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from typing import Any, Iterable, Sequence

from django.db import connections, transaction
from django.db.models import Exists, OuterRef

from .. import db, engine, signals, timeutil
from ..options import dependency_id
from ..task import BLOCKED, CANCELLED, DONE, ERROR, WAITING
from . import expiry
from .sql import adapters, column_namer, models as _models

logger = logging.getLogger(__name__)

CHUNK = 1000  # ids per IN (...) list


def _chunks(ids: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def attach(using: str, ids: Sequence[uuid.UUID], after: Iterable[Any]) -> bool:
    """Make the just inserted tasks ``ids`` wait for ``after`` (inside the storing transaction).

    An id that names no task is a ``ValueError`` (the caller's savepoint then stores nothing).
    Returns True if they ended CANCELLED at once (a dependency had already failed).
    """
    models = _models()
    Task = models.Task
    dependency_ids = list(dict.fromkeys(dependency_id(item) for item in after))
    tasks = Task.objects.using(using)
    # Locked, then read: a dependency's outcome is recorded either before this read (and
    # seen here) or after this commit (and then settles the rows written here).
    found: dict[uuid.UUID, tuple[str, str]] = {}
    for part in _chunks(sorted(dependency_ids)):
        # Locked in key order (as every caller does): two calls waiting for the same tasks can't deadlock.
        rows = tasks.filter(pk__in=part).order_by("pk").select_for_update()
        unmarked = []
        for pk, status, function, marked in rows.values_list("id", "status", "function", "has_dependents"):
            found[pk] = (status, function)
            if not marked:
                unmarked.append(pk)
        if unmarked:
            tasks.filter(pk__in=unmarked).update(has_dependents=True)
    missing = [str(pk) for pk in dependency_ids if pk not in found]
    if missing:
        raise ValueError(f"after=: no task {', '.join(missing)} (it never existed, or its record was removed)")
    models.TaskDependency.objects.using(using).bulk_create(
        [models.TaskDependency(dependent=new, dependency=pk) for new in ids for pk in dependency_ids],
        batch_size=CHUNK,
    )
    failed = [(pk, found[pk]) for pk in dependency_ids if found[pk][0] in (ERROR, CANCELLED)]
    new = tasks.filter(pk__in=ids)
    if failed:
        pk, (status, function) = failed[0]
        now = timeutil.now()
        ttl = new.values_list("ttl", flat=True).first()
        new.update(
            status=CANCELLED, finished_at=now, expires_at=expiry.expires_at(CANCELLED, now, ttl),
            error_message=_message(pk, function, status), exception_class="autotask.exceptions.TaskCancelled",
        )
        return True
    left = sum(1 for pk in dependency_ids if found[pk][0] != DONE)
    new.update(status=BLOCKED if left else WAITING, dependencies_left=left)
    return False


def _message(pk: Any, function: str | None, status: str | None) -> str:
    if status is None:
        return f"cancelled: its dependency {pk} is gone (its record was removed before it ended DONE)"
    return f"cancelled: its dependency {pk} ({function}) ended {status}"


def _release(using: str, done: Sequence[uuid.UUID]) -> tuple[int, list[Any]]:
    """Dependents of the ``done`` tasks: their counts go down, those at 0 become WAITING.
    Returns how many became WAITING, and the keys of all the dependents (as the database has them).

    The dependents' keys are read through the dependency index, then updated by primary key:
    each dependent's count goes down by its number of links to ``done``, and those at 0 are due.
    A few statements for a batch of finished tasks, whatever their number of dependents;
    hand-written (as ``record``'s), since they run in a chain's every link.
    """
    connection = connections[using]
    models = _models()
    Task, Dependency = models.Task, models.TaskDependency
    quote = connection.ops.quote_name
    task, link = column_namer(connection, Task), column_namer(connection, Dependency)
    tasks, links = quote(Task._meta.db_table), quote(Dependency._meta.db_table)
    db_uuid, _ = adapters(connection)
    released = 0
    candidates: list[Any] = []
    with connection.cursor() as cursor:
        for part in _chunks(list(done)):
            cursor.execute(
                f"SELECT {link('dependent')} FROM {links} WHERE {link('dependency')} IN ({', '.join(['%s'] * len(part))})",
                [db_uuid(pk) for pk in part],
            )
            links_to = Counter(value for (value,) in cursor.fetchall())
            candidates.extend(links_to)
            by_count: dict[int, list[Any]] = defaultdict(list)
            for dependent, count in links_to.items():
                by_count[count].append(dependent)
            for count, dependents in by_count.items():
                for ids in _chunks(dependents):
                    cursor.execute(
                        f"UPDATE {tasks} SET {task('dependencies_left')} = {task('dependencies_left')} - %s "
                        f"WHERE {task('id')} IN ({', '.join(['%s'] * len(ids))}) AND {task('status')} = %s",
                        [count, *ids, BLOCKED],
                    )
            for ids in _chunks(list(links_to)):
                cursor.execute(
                    f"UPDATE {tasks} SET {task('status')} = %s WHERE {task('id')} IN ({', '.join(['%s'] * len(ids))}) "
                    f"AND {task('status')} = %s AND {task('dependencies_left')} = 0",
                    [WAITING, *ids, BLOCKED],
                )
                released += cursor.rowcount
    return released, candidates


class Settled(list):
    """``settle``'s answer: the (id, function) of the tasks cancelled (for ``announce`` after
    the commit), and ``released``: how many became due."""

    released = 0


def settle(using: str, done: Sequence[uuid.UUID], failed: Sequence[uuid.UUID]) -> Settled:
    """Settle the dependents of tasks that just ended (inside the transaction that recorded them).

    ``done``: tasks that ended DONE; ``failed``: tasks that ended otherwise (or are gone).
    """
    models = _models()
    Task, Dependency = models.Task, models.TaskDependency
    tasks = Task.objects.using(using)
    links = Dependency.objects.using(using)
    released, candidates = _release(using, done) if done else (0, [])
    if released:
        _wake(using, candidates)
        logger.debug("released dependents count=%s", released)
    cancelled = Settled()
    cancelled.released = released
    frontier = list(failed)
    while frontier:
        ended = {pk: (status, function) for pk, status, function in tasks.filter(pk__in=frontier).values_list("id", "status", "function")}
        following = []
        for pk in frontier:
            status, function = ended.get(pk, (None, None))
            rows = list(
                tasks.filter(status=BLOCKED, pk__in=links.filter(dependency=pk).values("dependent"))
                .select_for_update()
                .values_list("id", "function", "ttl", "has_dependents")
            )
            if not rows:
                continue
            now = timeutil.now()
            by_ttl: dict[int, list[uuid.UUID]] = defaultdict(list)
            for dependent, _, ttl, _ in rows:
                by_ttl[ttl].append(dependent)
            for ttl, dependents in by_ttl.items():
                for part in _chunks(dependents):
                    tasks.filter(pk__in=part, status=BLOCKED).update(
                        status=CANCELLED, finished_at=now, expires_at=expiry.expires_at(CANCELLED, now, ttl),
                        error_message=_message(pk, function, status),
                        exception_class="autotask.exceptions.TaskCancelled",
                    )
            cancelled.extend((dependent, dependent_function) for dependent, dependent_function, _, _ in rows)
            following.extend(dependent for dependent, _, _, has_dependents in rows if has_dependents)
        frontier = following
    return cancelled


def announce(cancelled: Sequence[tuple[uuid.UUID, str]]) -> None:
    """``task_finished`` for the dependents ``settle`` cancelled (after the commit)."""
    if cancelled:
        logger.info("cancelled dependents of failed tasks count=%s", len(cancelled))
    for pk, function in cancelled:
        signals.announce_finished(pk, function, CANCELLED)


def _wake(using: str, candidates: Sequence[Any]) -> None:
    """Released tasks are new work: wake workers as a stored task does, or hand them to the
    engine (Celery) after the commit (those of ``candidates`` that are WAITING)."""
    if engine.handover is not None:
        ids = [value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)) for value in candidates]
        transaction.on_commit(lambda: engine.hand_over(ids), using=using)
        return
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # delivered at commit
            cursor.execute("SELECT pg_notify(%s, '')", [db.NOTIFY_CHANNEL])
    from ..execution import supervisor

    transaction.on_commit(supervisor.wake_companion, using=using)


def cancel_orphans() -> int:
    """Blocked tasks whose dependency's record is gone (deleted before it ended DONE) end
    CANCELLED, and their dependents in turn. A read through the status index: nothing when
    no task is blocked."""
    models = _models()
    using = db.alias()
    Task, Dependency = models.Task, models.TaskDependency
    blocked = Task.objects.using(using).filter(status=BLOCKED)
    if not blocked.exists():  # one probe of the status index: the usual answer
        return 0
    gone = list(
        Dependency.objects.using(using)
        .filter(Exists(blocked.filter(pk=OuterRef("dependent"))))
        .exclude(Exists(Task.objects.using(using).filter(pk=OuterRef("dependency"))))
        .values_list("dependency", flat=True)
        .distinct()[:CHUNK]
    )
    if not gone:
        return 0

    def attempt() -> list[tuple[uuid.UUID, str]]:
        with db.write_transaction(using):
            return settle(using, [], gone)

    cancelled = db.retry_locked(attempt, "dependencies")
    announce(cancelled)
    return len(cancelled)


def dependencies_of(pk: uuid.UUID) -> list[uuid.UUID]:
    """The ids a task waits (or waited) for, in the order they were given."""
    links = _models().TaskDependency.objects.using(db.alias())
    return list(links.filter(dependent=pk).order_by("id").values_list("dependency", flat=True))


def dependents_of(pk: uuid.UUID) -> list[uuid.UUID]:
    links = _models().TaskDependency.objects.using(db.alias())
    return list(links.filter(dependency=pk).order_by("id").values_list("dependent", flat=True))


def block_again(using: str, ids: Sequence[uuid.UUID]) -> None:
    """Tasks stored with dependencies that run again (the admin's retry) wait again for those
    not DONE (now; a gone one until ``cancel_orphans`` finds it). A read of their links and of
    the dependencies' statuses, then one update per count of dependencies left."""
    models = _models()
    tasks = models.Task.objects.using(using)
    links = list(models.TaskDependency.objects.using(using).filter(dependent__in=ids).values_list("dependent", "dependency"))
    wanted = list({dependency for _, dependency in links})
    done = set()
    for part in _chunks(wanted):
        done.update(tasks.filter(pk__in=part, status=DONE).values_list("id", flat=True))
    left: dict[uuid.UUID, int] = dict.fromkeys(ids, 0)
    for dependent, dependency in links:
        if dependency not in done:
            left[dependent] += 1
    by_count: dict[int, list[uuid.UUID]] = defaultdict(list)
    for dependent, count in left.items():
        by_count[count].append(dependent)
    for count, dependents in by_count.items():
        for part in _chunks(dependents):
            tasks.filter(pk__in=part, status=WAITING).update(
                dependencies_left=count, status=BLOCKED if count else WAITING
            )

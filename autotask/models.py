"""autotask's tables: task runs, schedules and workers."""

from __future__ import annotations

import os
import time
import uuid

from django.db import models

from .options import DEFAULT_QUEUE
from .task import FINISHED, RUNNING, STATUS_CHOICES, UNFINISHED, WAITING


def new_id() -> uuid.UUID:
    """A time-ordered UUID (the UUIDv7 layout): never reused, even after a rollback,
    and new rows go to the end of the primary key index."""
    return new_ids(1)[0]


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` time-ordered UUIDs, from one read of the random source."""
    millis = (time.time_ns() // 1_000_000 & ((1 << 48) - 1)) << 80
    randomness = os.urandom(10 * count)
    ids = []
    for start in range(0, 10 * count, 10):
        rand = int.from_bytes(randomness[start : start + 10], "big")
        value = millis | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | rand & ((1 << 62) - 1)
        ids.append(uuid.UUID(int=value))
    return ids


class PartialIndex(models.Index):
    """An index on the rows that match ``where`` where the database has partial
    indexes (PostgreSQL, SQLite), on every row elsewhere (MySQL/MariaDB).

    ``models.Index(condition=...)`` would do the same but warns (models.W037) on
    every ``migrate`` against MySQL. Queries that compare the indexed columns with
    ``=`` imply ``IS NOT NULL``, so both databases use the partial index for them.
    """

    def __init__(self, *, where: models.Q, **kwargs) -> None:
        super().__init__(**kwargs)
        self.where = where

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        return path, args, {**kwargs, "where": self.where}

    def create_sql(self, model, schema_editor, using="", **kwargs):
        partial = schema_editor.connection.features.supports_partial_indexes
        index = models.Index(fields=self.fields, name=self.name, condition=self.where if partial else None)
        return index.create_sql(model, schema_editor, using=using, **kwargs)


class TaskQuerySet(models.QuerySet):
    def due(self, now):
        """Waiting tasks whose time has come, in the order workers take them:
        highest priority first, then oldest due first."""
        return self.filter(status=WAITING, run_at__lte=now).order_by("-priority", "run_at")

    def waiting(self):
        return self.filter(status=WAITING)

    def running(self):
        return self.filter(status=RUNNING)

    def unfinished(self):
        return self.filter(status__in=UNFINISHED)

    def finished(self):
        return self.filter(status__in=FINISHED)

    def expired(self, now):
        """Finished tasks kept longer than their ttl."""
        return self.filter(expires_at__lte=now)


class Schedule(models.Model):
    """One row per ``@periodic_task`` or ``@cron_task`` function, keyed by its dotted path."""

    PERIODIC = "periodic"
    CRON = "cron"

    function = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=10, choices=[(PERIODIC, "periodic"), (CRON, "cron")])
    expression = models.CharField(max_length=255, help_text="the schedule as written")
    timezone = models.CharField(max_length=64, blank=True)
    signature = models.CharField(max_length=255, help_text="changes when the schedule's meaning changes")
    active = models.BooleanField(default=True, help_text="False once its function is gone")
    paused = models.BooleanField(default=False, help_text="paused in the admin: no runs until resumed")
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=10, blank=True)
    last_error = models.TextField(blank=True)
    # What each run's task row is stored with (``@periodic_task(timeout=..., args=...)``).
    timeout = models.FloatField(null=True, blank=True, help_text="seconds a run may take")
    retries = models.PositiveIntegerField(default=0, help_text="runs allowed after a failure")
    ttl = models.PositiveIntegerField(null=True, blank=True, help_text="seconds a run is kept (empty: AUTOTASK_SCHEDULE_RUN_TTL)")
    queue_name = models.CharField(max_length=100, default=DEFAULT_QUEUE)
    priority = models.SmallIntegerField(default=0)
    arguments = models.TextField(default='{"args":[],"kwargs":{}}', help_text="JSON: every run's arguments")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["active", "next_run_at"], name="autotask_schedule_due")]

    def __str__(self) -> str:
        return f"{self.function} ({self.expression})"

    def describe(self) -> str:
        """The stored schedule in words ("Mondays at 07:30", "every 15 seconds"), else its next three
        due times; read from the stored signature, so the function's module need not be imported."""
        from .schedules import REGISTRY, ScheduleSpec

        spec = ScheduleSpec.from_signature(self.function, self.signature) or REGISTRY.get(self.function)
        return spec.describe() if spec is not None else ""

    describe.short_description = "when"  # type: ignore[attr-defined]  # the admin's column title


class Task(models.Model):
    """A delayed call, or one run of a schedule, with its whole run record."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    function = models.CharField(max_length=255, help_text="dotted path of the function")
    name = models.CharField(max_length=200, blank=True, help_text="the name the task was registered under")
    queue_name = models.CharField(max_length=100, default=DEFAULT_QUEUE, help_text="workers can be limited to queues")
    priority = models.SmallIntegerField(default=0, help_text="-100 to 100: among due tasks, higher starts first")
    backend = models.CharField(
        max_length=100, blank=True, help_text="the TASKS alias a django.tasks task was enqueued through; '' for autotask's own"
    )
    arguments = models.TextField(default='{"args":[],"kwargs":{}}', help_text="JSON")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=WAITING)
    run_at = models.DateTimeField(help_text="not started before this time")
    retries = models.PositiveIntegerField(default=0, help_text="runs allowed after a failure")
    ttl = models.PositiveIntegerField(default=300, help_text="seconds the result is kept")
    timeout = models.FloatField(null=True, blank=True, help_text="seconds a run may take")
    attempts = models.PositiveIntegerField(default=0, help_text="runs started so far")
    losses = models.PositiveIntegerField(default=0, help_text="runs whose worker died")
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="removed after this time")
    result = models.TextField(null=True, blank=True, help_text="JSON")
    error_message = models.TextField(blank=True)
    exception_class = models.CharField(max_length=255, blank=True)
    traceback = models.TextField(blank=True)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the worker that ran it")
    runner_pid = models.PositiveIntegerField(null=True, blank=True, help_text="pid of the runner process that ran it")
    history = models.TextField(null=True, blank=True, help_text="JSON: the earlier attempts (autotask.history)")
    worker_id = models.UUIDField(null=True, blank=True, help_text="the worker that holds it while it runs")
    handed_over_at = models.DateTimeField(
        null=True, blank=True, help_text="with AUTOTASK_ENGINE = 'celery': when its message last went to the broker"
    )
    cancel_requested = models.BooleanField(default=False)
    # No index of its own: the unique (schedule, due_at) index below starts with it
    # (one index less to write for every task stored).
    schedule = models.ForeignKey(
        Schedule, null=True, blank=True, on_delete=models.CASCADE, related_name="runs", db_index=False
    )
    due_at = models.DateTimeField(null=True, blank=True, help_text="the schedule's due time this run is for")
    # Dependencies (``after=``, autotask.queue.dependencies): set when a task that waits for
    # this one is stored, so that recording the outcome of any other task reads nothing more.
    has_dependents = models.BooleanField(default=False, help_text="tasks wait for this one (after=)")
    dependencies_left = models.PositiveIntegerField(
        null=True, blank=True, help_text="dependencies not DONE yet; NULL for a task stored without after="
    )
    # The model instance a method task runs on (autotask.instances): 'app_label.modelname' and its key.
    object_model = models.CharField(max_length=100, null=True, blank=True, help_text="app_label.modelname")
    object_id = models.CharField(max_length=255, null=True, blank=True, help_text="the object's primary key")

    objects = TaskQuerySet.as_manager()

    class Meta:
        indexes = [
            # The claim walks it in its order: due tasks, highest priority first, then
            # oldest due first. The idle worker's "when is the next task due" reads the
            # first entry of each priority present (``queue.next_due_time``): never a scan.
            models.Index(fields=["status", "-priority", "run_at"], name="autotask_task_claim"),
            models.Index(fields=["expires_at"], name="autotask_task_expires"),
            # autotask.history(obj): one lookup of the object's tasks. Partial: the
            # tasks of no object (nearly all) do not write it (without this index, a PostgreSQL
            # bulk() measured about 5% faster).
            PartialIndex(
                fields=["object_model", "object_id"],
                name="autotask_task_object",
                where=models.Q(object_model__isnull=False),
            ),
        ]
        constraints = [
            # Each due time of a schedule runs once, however many workers race for it.
            models.UniqueConstraint(fields=["schedule", "due_at"], name="autotask_task_one_run_per_due_time"),
        ]

    def __str__(self) -> str:
        return f"{self.function} [{self.status}]"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class TaskOutput(models.Model):
    """A piece of a run's output (``autotask.output``): what a run printed and logged, appended
    as it goes, a row per write (about one a second while it prints), never a rewrite of a
    large row. Removed with its task."""

    id = models.BigAutoField(primary_key=True)
    # No index of its own: the (task, id) index below starts with it.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="output_parts", db_index=False)
    attempt = models.PositiveIntegerField()
    # Within the attempt: NULL for its beginning, else a piece of its end, with the
    # number of characters left out between the two when it was written.
    left_out = models.BigIntegerField(null=True, blank=True)
    text = models.TextField()

    class Meta:
        indexes = [models.Index(fields=["task", "id"], name="autotask_output_task")]

    def __str__(self) -> str:
        return f"output of {self.task_id}, attempt {self.attempt}"


class TaskDependency(models.Model):
    """``dependent`` waits for ``dependency`` (``after=``). No foreign keys: a dependency's
    record may be removed (its ttl) while the dependent's lives on, and the other way round."""

    dependent = models.UUIDField()
    dependency = models.UUIDField()

    class Meta:
        constraints = [
            # Its index also serves ``handle.dependencies`` (a dependent's rows).
            models.UniqueConstraint(fields=["dependent", "dependency"], name="autotask_dependency_once"),
        ]
        indexes = [models.Index(fields=["dependency"], name="autotask_dependency_dependents")]

    def __str__(self) -> str:
        return f"{self.dependent} after {self.dependency}"


class Dashboard(Task):
    """No table of its own: the admin's entry for autotask's dashboard (``autotask.admin``),
    so that the admin index and its navigation list it beside the tables."""

    class Meta:
        proxy = True
        verbose_name = verbose_name_plural = "dashboard"


class MinuteStats(models.Model):
    """What one worker recorded in one minute: runs by outcome and a histogram of pickup
    delays (start minus due time). Each worker upserts its rows once per heartbeat, so the
    dashboard's per-minute figures never scan the task table; rows older than two hours
    are removed."""

    minute = models.DateTimeField(help_text="the minute's start")
    worker_id = models.UUIDField()
    done = models.PositiveIntegerField(default=0, help_text="runs that ended DONE")
    failed = models.PositiveIntegerField(default=0, help_text="runs that ended ERROR")
    retried = models.PositiveIntegerField(default=0, help_text="runs that failed and will run again")
    cancelled = models.PositiveIntegerField(default=0, help_text="runs stopped by a cancel")
    pickup = models.TextField(default="{}", help_text="JSON: pickup delay bucket -> runs (autotask.stats)")

    class Meta:
        verbose_name_plural = "minute stats"
        constraints = [models.UniqueConstraint(fields=["minute", "worker_id"], name="autotask_minutestats_one_row")]

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} {self.worker_id}"


class Worker(models.Model):
    """A running worker process and its heartbeat."""

    id = models.UUIDField(primary_key=True, default=new_id, editable=False)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    companion = models.BooleanField(default=False, help_text="started by a Django process")
    queues = models.CharField(max_length=1000, blank=True, help_text="the queues it takes, comma-separated; empty: all")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    tasks_done = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"

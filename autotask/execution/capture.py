"""Capture of a run's output: what it prints and logs, per task, stored as it goes.

``begin(task_id, attempt)`` and ``end(capture)`` bracket one run (``run.running``
calls them). In between, in the thread that runs the task:

- ``sys.stdout`` and ``sys.stderr`` are replaced, once per process, by streams
  that hand what a capturing thread writes to its run's ``Capture`` and pass
  everything else on (the worker's heartbeat, other threads, other runs);
- a handler on the root logger adds the records of level ``AUTOTASK_OUTPUT_LOG_LEVEL``
  and above of that thread, except autotask's own; the worker's handlers still
  get them as before (the root level is lowered only with their levels kept).

In a runner process (``runner.py``), which runs one task at a time, file
descriptors 1 and 2 are a pipe instead (``redirect_fds``), so what C code and
child processes write is captured too; a thread reads it into the current run's
capture, and log records are written to that stderr, in order with the rest.

A run that writes nothing costs a thread-local assignment and an object: no
lock, no thread, no query. A run that writes starts (once per process) the
flusher thread, which writes new text every ``AUTOTASK_OUTPUT_FLUSH_INTERVAL``
seconds on its own database connection, outside any transaction of the task
(``output.write``). What a run wrote last is written by the worker's loop just
before it records the run's outcome (``wait_stored``), one transaction for a
batch of runs, so the output is complete once the task has ended.
"""

from __future__ import annotations

import codecs
import logging
import os
import sys
import threading
import uuid
from collections import deque
from typing import Any

from .. import db, output
from ..conf import conf

logger = logging.getLogger(__name__)

_local = threading.local()
_installed_streams: tuple[Any, Any] | None = None  # our sys.stdout and sys.stderr, once installed
_handler: OutputHandler | None = None
_flusher: _Flusher | None = None
_fd_mode: _FdReader | None = None  # in a runner process: the reader of fds 1 and 2
_start_lock = threading.Lock()


class Capture:
    """One run's output on its way to the database: the beginning as written, the end bounded."""

    __slots__ = (
        "task_id", "attempt", "lock", "head", "head_room", "tail", "tail_size", "tail_budget", "left_out",
        "tail_rows", "closing", "done", "used",
    )

    def __init__(self, task_id: uuid.UUID, attempt: int) -> None:
        self.task_id = task_id
        self.attempt = attempt
        self.used = False  # anything written yet: the rest is set up on the first write

    def add(self, text: str) -> None:
        text = db.storable_text(text)  # a NUL or lone surrogate failed the write, and dropped all it held
        if not self.used:
            self._start()
        with self.lock:
            if self.head_room > 0:
                taken = text[: self.head_room]
                self.head.append(taken)
                self.head_room -= len(taken)
                text = text[len(taken):]
            if text:
                self.tail.append(text)
                self.tail_size += len(text)
                while self.tail_size > self.tail_budget:  # keep the latest tail_budget characters
                    oldest = self.tail[0]
                    excess = self.tail_size - self.tail_budget
                    if len(oldest) <= excess:
                        self.tail.popleft()
                        self.tail_size -= len(oldest)
                        self.left_out += len(oldest)
                    else:
                        self.tail[0] = oldest[excess:]
                        self.tail_size -= excess
                        self.left_out += excess

    def _start(self) -> None:
        limit = max(2, int(conf.OUTPUT_MAX_BYTES))
        if self.attempt > 1:
            # The limit is per task: a retry has what the earlier attempts left of it, and at
            # least a quarter of it (at most 4,096 characters), for the end of its own story.
            try:
                used = output.stored_length(self.task_id)
            except Exception as exc:
                logger.warning("output of earlier attempts of task=%s not measured: %r", self.task_id, exc)
                used = 0
            limit = max(min(limit // 4, 4096), limit - used, 2)
        self.lock = threading.Lock()
        self.head: list[str] = []
        self.head_room = limit // 2
        self.tail: deque[str] = deque()
        self.tail_size = 0
        # The end is kept in rows that are never rewritten, so it is dropped a row at a time:
        # what is new is bounded by half the end's share, and rows are dropped while the
        # rest still holds that much. The end then keeps from a quarter to a half of the limit.
        self.tail_budget = max(1, (limit - limit // 2) // 2)
        self.left_out = 0  # characters of the end left out so far
        self.tail_rows: deque[tuple[int, int]] = deque()  # (id, length) of the end rows written
        self.closing = False
        self.done = threading.Event()
        self.used = True
        flusher().register(self)

    def take(self) -> tuple[list[output.Piece], list[int]]:
        """What is new, as rows to write, and the end rows it replaces (under the flusher's write lock)."""
        with self.lock:
            head, tail = "".join(self.head), "".join(self.tail)
            self.head.clear()
            self.tail.clear()
            self.tail_size = 0
        pieces = []
        drop = []
        if head:
            pieces.append(output.Piece(self.task_id, self.attempt, head))
        if tail:
            # The end rows written before, oldest first, go once the new text and they outgrow the budget.
            kept = sum(length for _, length in self.tail_rows) + len(tail)
            dropped = 0
            while self.tail_rows and kept - self.tail_rows[0][1] >= self.tail_budget:
                row_id, length = self.tail_rows.popleft()
                drop.append(row_id)
                kept -= length
                dropped += length
            with self.lock:
                self.left_out += dropped
                left_out = self.left_out
            pieces.append(output.Piece(self.task_id, self.attempt, tail, left_out=left_out, keep_id=self.tail_rows))
        return pieces, drop


class _Stream:
    """``sys.stdout`` / ``sys.stderr``: a capturing thread's text goes to its run, the rest passes on."""

    def __init__(self, original: Any) -> None:
        self._original = original

    def write(self, text: Any) -> Any:
        capture = getattr(_local, "capture", None)
        if capture is None or type(text) is not str:
            return self._original.write(text)
        capture.add(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if getattr(_local, "capture", None) is None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, encoding, isatty, buffer...
        return getattr(self._original, name)


# Loggers whose records are never a task's output: the worker's own, and those of Django's
# tasks framework (``django.tasks``; ``django_tasks``, its backport), which logs every
# run's start where a worker sends ``task_started`` (inside the run).
_NOT_OUTPUT = ("autotask.", "django.tasks.", "django_tasks.")


class OutputHandler(logging.Handler):
    """Adds a capturing thread's log records to its run (in a runner: writes them to fd 2)."""

    @staticmethod
    def takes(logger_name: str) -> bool:
        """Whether a record of this logger can be a run's output."""
        return not (logger_name + ".").startswith(_NOT_OUTPUT)  # these loggers and their children

    def handle(self, record: logging.LogRecord) -> bool:
        # Every record of the process comes here, most from no run (the worker's own):
        # those go no further (no filters, no lock).
        if _fd_mode is None and getattr(_local, "capture", None) is None:
            return False
        if not self.takes(record.name):
            return False
        return super().handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        if _fd_mode is not None:
            if _fd_mode.capture is not None:
                try:
                    sys.stderr.write(self.format(record) + "\n")
                except Exception:
                    self.handleError(record)
            return
        capture = getattr(_local, "capture", None)
        if capture is not None:
            try:
                capture.add(self.format(record) + "\n")
            except Exception:
                self.handleError(record)


def _install() -> None:
    """Our streams and log handler, once per process (the streams again if someone replaced them)."""
    global _installed_streams, _handler
    with _start_lock:
        if _fd_mode is None:
            if _installed_streams is None or sys.stdout is not _installed_streams[0]:
                sys.stdout = _Stream(sys.stdout)
            if _installed_streams is None or sys.stderr is not _installed_streams[1]:
                sys.stderr = _Stream(sys.stderr)
            _installed_streams = (sys.stdout, sys.stderr)
        if _handler is None:
            _handler = OutputHandler(_level())
            _handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
            root = logging.getLogger()
            if not root.handlers:
                # Python's last resort (warnings to stderr) stops once the root has a handler: keep it.
                keep = logging.StreamHandler(_fd_mode.original_stderr if _fd_mode else sys.__stderr__)
                keep.setLevel(logging.WARNING)
                keep.addFilter(lambda record: not record.name.startswith("autotask"))  # run_autotask logs those
                root.addHandler(keep)
            if root.getEffectiveLevel() > _handler.level:
                for existing in root.handlers:  # they keep seeing what they saw
                    if existing.level == logging.NOTSET:
                        existing.setLevel(root.getEffectiveLevel())
                root.setLevel(_handler.level)
            root.addHandler(_handler)


def _level() -> int:
    level = conf.OUTPUT_LOG_LEVEL
    return level if isinstance(level, int) else logging.getLevelName(str(level).upper())


def begin(task_id: uuid.UUID, attempt: int) -> Capture | None:
    """Start capturing this thread's output for a run; None with ``AUTOTASK_OUTPUT = False``."""
    if not conf.OUTPUT:
        return None
    if _handler is None or (_fd_mode is None and sys.stdout is not _installed_streams[0]):  # type: ignore[index]
        _install()
    capture = Capture(task_id, attempt)
    if _fd_mode is not None:
        _fd_mode.capture = capture
    _local.capture = capture
    return capture


def end(capture: Capture | None) -> None:
    """Stop capturing. What the run wrote last is stored by the flusher, with that of
    other runs that ended meanwhile; ``wait_stored`` waits for it (the worker, before it
    records the outcome). A runner process waits here: its worker records the outcome."""
    if capture is None:
        return
    _local.capture = None
    if _fd_mode is not None:
        _fd_mode.finish_run()
    if capture.used:
        flusher().close(capture, wait=_fd_mode is not None)


def wait_stored(task_ids: Any) -> None:
    """Store the last output of these runs, which ended, before their outcome is: here, in
    one transaction for them all (the worker's loop records a batch of quick runs at once),
    unless the flusher did already."""
    flusher = _flusher
    if flusher is None or not flusher.closing:
        return
    ended = [capture for capture in (flusher.closing.pop(task_id, None) for task_id in task_ids) if capture is not None]
    if ended:
        flusher.store(ended)


class _Flusher:
    """The process's writer of runs' output: every interval, and when runs end. What it
    has to write at one time goes in one transaction, whatever the number of runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.captures: list[Capture] = []
        self.closing: dict[uuid.UUID, Capture] = {}  # ended runs whose last output the worker waits for
        self.wake = threading.Event()
        self.write_lock = threading.Lock()  # one writer at a time: the flusher, or a worker's loop
        threading.Thread(target=self._loop, name="autotask-output", daemon=True).start()

    def register(self, capture: Capture) -> None:
        with self.lock:
            self.captures.append(capture)

    def close(self, capture: Capture, wait: bool) -> None:
        capture.closing = True  # nothing is added to it any more
        if not wait:  # the worker stores it with the outcome (wait_stored)
            self.closing[capture.task_id] = capture
            return
        self.wake.set()
        if not capture.done.wait(60):
            logger.warning("output of task=%s not stored within 60 s", capture.task_id)

    def _loop(self) -> None:
        while True:
            self.wake.wait(float(conf.OUTPUT_FLUSH_INTERVAL))
            self.wake.clear()
            with self.lock:
                captures = list(self.captures)
            self.store(captures)

    def store(self, captures: list[Capture]) -> None:
        """Write what is new of ``captures``; those that ended are done then."""
        with self.write_lock:
            captures = [capture for capture in captures if not capture.done.is_set()]
            closed = [capture for capture in captures if capture.closing]
            self._write(captures)
            if closed:
                with self.lock:
                    for capture in closed:
                        self.captures.remove(capture)
                for capture in closed:
                    capture.done.set()
                    self.closing.pop(capture.task_id, None)

    def _write(self, captures: list[Capture]) -> None:
        from django.db import connections

        pieces: list[output.Piece] = []
        drop: list[int] = []
        for capture in captures:
            new, old = capture.take()
            pieces += new
            drop += old
        if not pieces and not drop:
            return
        for attempt in (1, 2):
            try:
                output.write(pieces, drop)
                return
            except Exception as exc:  # never the run's failure, nor the worker's
                connections[db.alias()].close()  # a broken or stale connection: the next write opens a new one
                if attempt == 2:
                    logger.warning("output of %s runs could not be stored: %r", len(captures), exc)


def flusher() -> _Flusher:
    global _flusher
    if _flusher is None:
        with _start_lock:
            if _flusher is None:
                _flusher = _Flusher()
    return _flusher


# -- a runner process: fds 1 and 2 --------------------------------------------------------

_END = "\x00autotask: end of run\x00"


class _FdReader:
    """Reads what anything in this process (and its children) writes to fds 1 and 2."""

    def __init__(self) -> None:
        self.capture: Capture | None = None
        self.original_stderr = os.fdopen(os.dup(2), "w", buffering=1, closefd=True)
        read_end, write_end = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
            except (AttributeError, ValueError):
                pass
        self._read_end = read_end
        self._ended = threading.Event()
        threading.Thread(target=self._loop, name="autotask-output-fds", daemon=True).start()

    def finish_run(self) -> None:
        """The run ended: take what it wrote up to now, then capture nothing more."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        self._ended.clear()
        os.write(1, _END.encode())
        self._ended.wait(10)
        self.capture = None

    def _loop(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        while True:
            data = os.read(self._read_end, 65536)
            if not data:
                return
            pending += decoder.decode(data)
            while True:
                at = pending.find(_END)
                if at < 0:
                    break
                self._deliver(pending[:at])
                pending = pending[at + len(_END):]
                self._ended.set()
            keep = next((n for n in range(len(_END) - 1, 0, -1) if pending.endswith(_END[:n])), 0)
            if keep:
                self._deliver(pending[:-keep])
                pending = pending[-keep:]
            else:
                self._deliver(pending)
                pending = ""

    def _deliver(self, text: str) -> None:
        if not text:
            return
        capture = self.capture
        if capture is not None:
            capture.add(text)
        else:  # between runs (the runner's own messages, a child that outlived its run)
            self.original_stderr.write(text)


def redirect_fds() -> None:
    """In a runner process: capture fds 1 and 2 for its runs (with ``AUTOTASK_OUTPUT``)."""
    global _fd_mode
    if not conf.OUTPUT or _fd_mode is not None:
        return
    _fd_mode = _FdReader()
    # The process's log handlers that wrote to stdout or stderr keep writing where they did,
    # not into a run's output (it gets the records from our handler, once).
    loggers = [logging.getLogger()] + [
        found for found in logging.Logger.manager.loggerDict.values() if isinstance(found, logging.Logger)
    ]
    for handler in {handler for found in loggers for handler in found.handlers}:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.stdout):
            handler.setStream(_fd_mode.original_stderr)

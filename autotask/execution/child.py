"""What a worker process and its supervisor agree on: exit codes, and when to start it again.

Shared by the companion's supervisor (``supervisor.py``) and run_autotask's
(``pool.py``). A worker process gets the read end of a pipe whose write end
only its supervisor holds: it reads EOF when the supervisor ends, however it
ends (kill -9 included), and stops. Its exit code tells the supervisor what to
do: ``EXIT_RECYCLE`` asks for a new process at once; any other end that wasn't
asked for is a crash, after which it is started again after a back-off that
grows while it keeps crashing.
"""

from __future__ import annotations

import time

#: The worker process's exit codes, read by its supervisor.
EXIT_OK = 0  # stopped as asked (parent gone, signal)
EXIT_RECYCLE = 3  # replaced itself (max tasks or memory, or a run it had to give up): start a new one at once

MAX_BACKOFF = 60.0


class Restarts:
    """When to start a worker process again after it ended: at once after a recycle or a
    first crash, then after 2, 4 ... 60 s while it keeps crashing within a minute of its start."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.failures = 0

    def started_now(self) -> None:
        self.started = time.monotonic()

    def backoff(self, exit_code: int) -> float:
        """Seconds to wait before starting it again, now that it ended with ``exit_code``."""
        if exit_code == EXIT_RECYCLE:
            self.failures = 0
            return 0.0
        lived = time.monotonic() - self.started
        self.failures = self.failures + 1 if lived < 60 else 1
        return min(MAX_BACKOFF, 2.0 ** (self.failures - 1)) if self.failures > 1 else 0.0

    def lived(self) -> float:
        return time.monotonic() - self.started

"""The test suite on several databases at once: ``python -m tests.run_suites sqlite postgresql mysql [pytest args]``.

What ``make test`` runs. Each database gets its own pytest process, test
database (``AUTOTASK_TEST_SUFFIX``) and run folder (``AUTOTASK_TEST_DIR``), so
the passes share nothing: the suite mostly waits on the worker processes it
starts, and three passes at once take little longer than the slowest one. A
pass that restarts its database server (tests/test_faults.py) only touches the
server of its own pass. One database runs in the foreground, its output as it
comes; several print each pass's output whole when it ends, then a summary.
Exits non-zero if any pass failed.

The test databases and run folders have fixed names, so a second suite on the
same machine would destroy the first one's databases: it waits for it instead
(a lock on a file, released when the first ends, however it ends).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
import time
from typing import IO

DATABASES = ("sqlite", "postgresql", "mysql")


def main(argv: list[str]) -> int:
    dbs = [arg for arg in argv if arg in DATABASES]
    pytest_args = [arg for arg in argv if arg not in DATABASES]
    if not dbs:
        print(f"usage: python -m tests.run_suites {{{','.join(DATABASES)}}}... [pytest args]", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "pytest", *pytest_args]
    lock = _wait_for_other_suites()  # noqa: F841 (held until this process exits)
    if len(dbs) == 1:
        print(f"=== tests on {dbs[0]}", flush=True)
        return subprocess.call(command, env=_env(dbs[0]))
    passes = {}
    for db in dbs:
        log = tempfile.TemporaryFile(mode="w+")
        passes[db] = (subprocess.Popen(command, env=_env(db), stdout=log, stderr=subprocess.STDOUT), log, time.monotonic())
    print(f"=== tests on {', '.join(dbs)} at once; each pass's output follows when it ends", flush=True)
    results = {}
    while len(results) < len(passes):
        for db, (process, log, started) in passes.items():
            if db not in results and process.poll() is not None:
                results[db] = (process.returncode, time.monotonic() - started)
                log.seek(0)
                print(f"\n=== tests on {db} (exit code {process.returncode}, {results[db][1]:.0f} s)", flush=True)
                sys.stdout.write(log.read())
                sys.stdout.flush()
        time.sleep(0.5)
    print("\n=== summary: " + ", ".join(f"{db} {'passed' if code == 0 else 'FAILED'}" for db, (code, _) in results.items()))
    return 0 if all(code == 0 for code, _ in results.values()) else 1


def _wait_for_other_suites() -> IO[str]:
    """The lock of the suite's runs on this machine, once no other run holds it."""
    lock = open(os.path.join(tempfile.gettempdir(), "autotask-test-suites.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("=== another run of the test suite is under way on this machine; waiting for it to end", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
    return lock


def _env(db: str) -> dict[str, str]:
    env = dict(os.environ, AUTOTASK_TEST_DB=db)
    if "AUTOTASK_TEST_SUFFIX" not in os.environ:
        env["AUTOTASK_TEST_SUFFIX"] = db
    env.setdefault("AUTOTASK_TEST_DIR", "/tmp/autotask-tests")
    env["AUTOTASK_TEST_DIR"] = os.path.join(env["AUTOTASK_TEST_DIR"], db)
    return env


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A stand-in for a web server process: ``django.setup()`` starts its companion.

It prints ``companion <pid>`` once the companion runs, then reads commands from
stdin: ``enqueue <key>`` stores ``record(key)`` and prints the task id.
"""

import os
import sys
import time

import django

if __name__ == "__main__":
    django.setup()
    from autotask.execution import supervisor

    sup = supervisor.current()
    deadline = time.monotonic() + 60
    # In host scope, a process that doesn't hold the host's lock has no companion.
    while sup is not None and sup.process is None and (sup.lock is None or sup.lock.held) and time.monotonic() < deadline:
        time.sleep(0.01)
    print(f"web {os.getpid()}", flush=True)
    print(f"companion {sup.process.pid if sup and sup.process else 'none'}", flush=True)
    from tests.tasks import record

    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "enqueue":
            print(f"task {record(arg).id}", flush=True)
        elif command == "companion":
            print(f"companion {sup.process.pid if sup and sup.process else 'none'}", flush=True)
        elif command == "exit":
            break

"""Like gunicorn --preload: load the app, then fork serving children.

Prints ``child <pid> companion <pid>`` for each child, then waits for stdin to close.
"""

import os
import sys
import time

import django

if __name__ == "__main__":
    django.setup()
    from autotask.execution import supervisor

    children = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            sup = supervisor.current()
            deadline = time.monotonic() + 60
            while (sup is None or sup.process is None) and time.monotonic() < deadline:
                time.sleep(0.01)
                sup = supervisor.current()
            line = f"child {os.getpid()} companion {sup.process.pid if sup and sup.process else 'none'}\n"
            os.write(1, line.encode())  # one write: the two children's lines never interleave
            sys.stdin.read()
            os._exit(0)
        children.append(pid)
    sys.stdin.read()
    for pid in children:
        os.waitpid(pid, 0)

"""Entry point of the companion worker: ``python -m autotask.execution.process READ_FD PARENT_PID [--wake-socket PATH]``.

Started by ``supervisor.Supervisor`` with the read end of its parent's pipe
(EOF: the parent is gone; bytes: wake-ups); a host's companion also listens
for wake-ups on a socket (``hostscope.py``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m autotask.execution.process")
    parser.add_argument("read_fd", type=int)
    parser.add_argument("parent_pid", type=int)
    parser.add_argument("--wake-socket", default=None, help="a host companion's socket for wake-ups")
    args = parser.parse_args(argv)
    if os.getppid() != args.parent_pid:
        return 0  # the parent died before we got here
    import django

    django.setup()
    from autotask.execution.loop import Worker

    if not logging.getLogger().handlers and not logging.getLogger("autotask").handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s autotask-companion[%(process)d] %(levelname)s %(name)s: %(message)s")
    worker = Worker(companion=True, parent_fd=args.read_fd)
    if args.wake_socket:
        worker.waker.watch_socket(args.wake_socket)
    return worker.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

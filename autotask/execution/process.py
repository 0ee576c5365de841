"""Entry point of the companion worker: ``python -m autotask.execution.process READ_FD PARENT_PID``.

Started by ``supervisor.Supervisor`` with the read end of its parent's pipe.
"""

from __future__ import annotations

import logging
import os
import sys


def main(argv: list[str]) -> int:
    read_fd, parent_pid = int(argv[0]), int(argv[1])
    if os.getppid() != parent_pid:
        return 0  # the parent died before we got here
    import django

    django.setup()
    from autotask.execution.loop import Worker

    if not logging.getLogger().handlers and not logging.getLogger("autotask").handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s autotask-companion[%(process)d] %(levelname)s %(name)s: %(message)s")
    return Worker(companion=True, parent_fd=read_fd).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

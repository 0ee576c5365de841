"""Which management command this process runs, if any.

Its own module so that ``apps.py`` (the companion's start) and ``checks.py``
(the missing-tables warning) can both ask without importing each other.
"""

from __future__ import annotations

import sys


def running_command() -> str | None:
    """The management command this process is running (found on the call stack), or None."""
    from django.core.management import ManagementUtility

    code = ManagementUtility.execute.__code__
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is code:
            argv = getattr(frame.f_locals.get("self"), "argv", None) or []
            return argv[1] if len(argv) > 1 else "help"
        frame = frame.f_back
    return None

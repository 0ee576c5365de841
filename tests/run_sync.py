"""Store the schedules of tests.schedule_tasks, starting at a given wall-clock time (for races)."""

import sys
import time

import django

if __name__ == "__main__":
    django.setup()
    import tests.schedule_tasks  # noqa: F401
    from autotask import schedules

    start_at = float(sys.argv[1])
    while time.time() < start_at:
        time.sleep(0.001)
    schedules.sync()
    print("synced", flush=True)

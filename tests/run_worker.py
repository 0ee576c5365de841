"""A dedicated worker for tests: ``python -m tests.run_worker`` (what run_autotask does).

``AUTOTASK_TEST_IMPORT`` names modules to import first (to register their schedules);
``AUTOTASK_TEST_QUEUES`` the queues it takes (comma-separated; default all);
``AUTOTASK_TEST_QUICK_TASK`` how quick (seconds) a task must be to be batched, for tests
that need a batch whatever the machine's speed.
"""

import importlib
import os
import sys

import django

if __name__ == "__main__":
    django.setup()
    for module in filter(None, os.environ.get("AUTOTASK_TEST_IMPORT", "").split(",")):
        importlib.import_module(module)
    from django.core.management import call_command

    if os.environ.get("AUTOTASK_TEST_QUICK_TASK"):
        from autotask.execution import slots

        slots.QUICK_TASK = float(os.environ["AUTOTASK_TEST_QUICK_TASK"])

    queues = [name for name in os.environ.get("AUTOTASK_TEST_QUEUES", "").split(",") if name]
    call_command("run_autotask", verbosity=2, queues=queues)
    sys.exit(0)

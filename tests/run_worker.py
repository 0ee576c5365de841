"""A dedicated worker for tests: ``python -m tests.run_worker`` (what run_autotask does).

``AUTOTASK_TEST_IMPORT`` names modules to import first (to register their schedules).
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

    call_command("run_autotask", verbosity=2)
    sys.exit(0)

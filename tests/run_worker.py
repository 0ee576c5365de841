"""A dedicated worker for tests: ``python -m tests.run_worker`` (what run_autotask does)."""

import sys

import django

if __name__ == "__main__":
    django.setup()
    from django.core.management import call_command

    call_command("run_autotask", verbosity=2)
    sys.exit(0)

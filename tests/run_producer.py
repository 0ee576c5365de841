"""Enqueue ``record_retrying(f"{prefix}{i}")`` for i in range(count), one call at a time."""

import sys

import django

if __name__ == "__main__":
    django.setup()
    from tests.tasks import record_retrying

    count, prefix = int(sys.argv[1]), sys.argv[2]
    for i in range(count):
        record_retrying(f"{prefix}{i}")
    print("produced", count, flush=True)

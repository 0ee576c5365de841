"""A stand-in for a web process (as tests/run_web.py): django.setup() starts its companion.

``python autotask_web.py MARKS QUIET COUNT OUT``: warm the companion up with one
task, stay quiet QUIET seconds, then enqueue COUNT marks 100-200 ms apart (from
this process, so its pipe wakes the companion) and write their ids and client
times to OUT as JSON.
"""

import json
import random
import sys
import time

import django

if __name__ == "__main__":
    marks, quiet, count, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    django.setup()
    from autotask.execution import supervisor
    from autotask_bench.tasks import mark

    assert supervisor.current() is not None, "no companion was started"
    mark(marks, "warm").wait(timeout=120)
    time.sleep(max(quiet, 1.0))  # as for the dedicated worker: measure it idle
    sent = []
    for i in range(count):
        t0 = time.time()
        task = mark(marks, f"lat{i}")
        sent.append([f"lat{i}", t0, str(task.id)])
        time.sleep(random.uniform(0.1, 0.2) if quiet == 0 else random.uniform(0.3, 0.4))
    task.wait(timeout=60)
    with open(out, "w") as f:
        json.dump(sent, f)

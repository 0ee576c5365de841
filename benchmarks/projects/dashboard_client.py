"""Times the admin dashboard's data endpoint: ``python dashboard_client.py REQUESTS OUT.json``.

Run by bench_autotask.py's dashboard scenario, in the autotask virtualenv, with
DJANGO_SETTINGS_MODULE=autotask_bench.settings_admin and the scenario's database:
a logged-in superuser's GET of /admin/autotask/dashboard/data/ through Django's
test client (the whole view: the admin's checks, the queries, the JSON).
"""

import json
import statistics
import sys
import time

import django

if __name__ == "__main__":
    requests, out = int(sys.argv[1]), sys.argv[2]
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    setup_test_environment()  # the test client on a real database, without a test database
    call_command("migrate", verbosity=0)
    user = User.objects.filter(username="bench").first() or User.objects.create_superuser("bench", "b@example.com", "pw")
    client = Client()
    client.force_login(user)
    url = reverse("admin:autotask_dashboard_data")
    for _ in range(3):  # warm-up: connections, caches of the database and of Python
        assert client.get(url).status_code == 200
    times, body = [], None
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
        body = response.json()
    times.sort()
    result = {
        "requests": requests,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
        "max_ms": round(times[-1], 1),
        "counts": {status: count["text"] for status, count in body["counts"].items()},
        "view_ms": body["took_ms"],
    }
    with open(out, "w") as f:
        json.dump(result, f)

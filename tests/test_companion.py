"""The companion worker: started by Django processes, watched, restarted, never orphaned."""

import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from autotask.models import Task

from . import tasks
from .conftest import ROOT, subprocess_env, wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Web:
    """A process that called django.setup() with autostart on (tests/run_web.py)."""

    def __init__(self, processes, **env):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.run_web"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1", **env), text=True, start_new_session=True,
        )
        processes.started.append(self.process)
        self.pid = int(self.read("web"))
        companion = self.read("companion")
        self.companion = int(companion) if companion != "none" else None

    def read(self, word: str) -> str:
        line = self.process.stdout.readline()
        assert line.startswith(word + " "), line
        return line.split()[1]

    def ask(self, command: str, word: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read(word)


def test_a_django_process_starts_one_companion_that_runs_its_tasks(processes):
    web = Web(processes)
    assert alive(web.companion)
    task_id = web.ask("enqueue from-web", "task")
    wait_until(lambda: Task.objects.filter(pk=task_id, status="DONE").exists(), 60, "the companion to run the task")
    assert Note.objects.get(key="from-web").pid == web.companion


def test_a_killed_companion_is_replaced(processes):
    web = Web(processes)
    os.kill(web.companion, signal.SIGKILL)
    new = wait_until(
        lambda: (lambda pid: pid if pid not in ("none", str(web.companion)) else None)(web.ask("companion", "companion")),
        60, "a new companion",
    )
    assert alive(int(new))
    task_id = web.ask("enqueue after-restart", "task")
    wait_until(lambda: Task.objects.filter(pk=task_id, status="DONE").exists(), 60, "the new companion to run the task")


def test_a_killed_django_process_leaves_no_companion(processes):
    web = Web(processes)
    os.kill(web.pid, signal.SIGKILL)
    web.process.wait(timeout=30)
    wait_until(lambda: not alive(web.companion), 60, "the orphaned companion to exit")


def test_forked_serving_processes_each_get_their_own_companion(processes):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.run_fork"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1"), text=True, start_new_session=True,
    )
    processes.started.append(process)
    children = {}
    while len(children) < 2:  # the children's lines (anything else printed is skipped)
        line = process.stdout.readline()
        assert line, "tests.run_fork ended before both children reported"
        if match := re.fullmatch(r"child (\d+) companion (\d+)\n", line):
            children[int(match[1])] = int(match[2])
    companions = set(children.values())
    assert len(companions) == 2 and all(alive(pid) for pid in companions)
    for child, companion in children.items():
        with open(f"/proc/{companion}/stat") as stat:
            assert int(stat.read().split(")")[-1].split()[1]) == child  # its parent is the serving child


def test_multiprocessing_helpers_get_no_companion_of_their_own():
    result = subprocess.run(
        [sys.executable, "-m", "tests.run_multiprocessing"], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1"),
    )
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert lines["parent"].isdigit(), result.stdout + result.stderr  # the Django process has one
    assert lines["process"] == "none" and lines["pool"] == "none", result.stdout + result.stderr


def _startup_log(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "django", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1", AUTOTASK_LOG_LEVEL="DEBUG"),
    )
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    "args",
    [("migrate", "--check"), ("shell", "-c", "pass"), ("check",), ("companion_status",), ("run_autotask", "--help")],
    ids=lambda a: a[0],
)
def test_management_commands_start_no_companion(args):
    output = _startup_log(*args)
    assert "companion worker start=False" in output, output
    assert "start=True" not in output
    if args[0] == "companion_status":
        assert "companion=False" in output


def test_runserver_starts_one_companion_in_its_serving_child_only(processes, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "runserver.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}"], cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT, env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1", AUTOTASK_LOG_LEVEL="DEBUG"),
            start_new_session=True,
        )
    processes.started.append(server)
    wait_until(lambda: "companion started" in log.read_text(), 120, "runserver's companion")
    text = log.read_text()
    assert "reason=the autoreloader's parent process of runserver" in text
    assert len(re.findall(r"start=True", text)) == 1, text


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid``, with their command lines."""
    found = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    found[int(entry)] = cmdline.read().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return found


def companions_of(pid: int) -> list[int]:
    return [child for child, cmdline in children(pid).items() if "autotask.execution.process" in cmdline]


def test_gunicorn_preload_gives_each_serving_worker_its_own_companion(processes):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    master = processes.start(
        "-m", "gunicorn", "--preload", "--workers", "2", "--bind", f"127.0.0.1:{port}", "tests.wsgi:application",
        env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1"), name="gunicorn",
    )

    def serving_workers() -> dict[int, list[int]]:
        """Each gunicorn worker with its companions, once there are two workers with one each."""
        workers = {pid: companions_of(pid) for pid in children(master.pid) if pid not in companions_of(master.pid)}
        return workers if len(workers) == 2 and all(len(c) == 1 for c in workers.values()) else {}

    workers = wait_until(serving_workers, 120, "two gunicorn workers, each with one companion")
    assert len(companions_of(master.pid)) == 1  # the master loaded the app before forking: it keeps one
    # A worker killed by a signal: its companion ends with it, and its replacement gets its own.
    victim, [victim_companion] = next(iter(workers.items()))
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not alive(victim_companion), 60, "the killed worker's companion to end")
    replaced = wait_until(lambda: (w := serving_workers()) and victim not in w and w, 120, "a new worker with a companion")
    assert all(companion != victim_companion for [companion] in replaced.values())
    handle = tasks.add(20, 22)
    assert handle.wait(timeout=60) == 42  # run by one of the companions (no other worker runs)
    every = [pid for [pid] in replaced.values()] + companions_of(master.pid)
    assert int(handle.worker.rsplit(":", 1)[1]) in every
    master.send_signal(signal.SIGTERM)
    master.wait(timeout=60)
    wait_until(lambda: not any(alive(pid) for pid in every), 60, "every companion to end with gunicorn")


def test_a_companion_that_replaces_itself_is_restarted_at_once(processes):
    web = Web.__new__(Web)
    web.process = subprocess.Popen(
        [sys.executable, "-m", "tests.run_web"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        env=subprocess_env(AUTOTASK_TEST_AUTOSTART="1", AUTOTASK_TEST_MAX_TASKS="2"), text=True, start_new_session=True,
    )
    processes.started.append(web.process)
    web.pid, web.companion = int(web.read("web")), int(web.read("companion"))
    ids = [web.ask(f"enqueue r{i}", "task") for i in range(6)]
    wait_until(lambda: Task.objects.filter(pk__in=ids, status="DONE").count() == 6, 120, "six tasks over recycled companions")
    assert len(set(Note.objects.values_list("pid", flat=True))) >= 2
    assert Note.objects.count() == 6


def test_host_scope_one_companion_serves_every_django_process_and_another_takes_over(processes):
    # Only the host companion's socket can wake it: no database poll, no idle wake-up within the test.
    scope = dict(AUTOTASK_TEST_COMPANION_SCOPE="host", AUTOTASK_TEST_POLL_INTERVAL="3600", AUTOTASK_TEST_IDLE_TIME="3600")
    owner = Web(processes, **scope)
    others = [Web(processes, **scope) for _ in range(2)]
    assert owner.companion and [web.companion for web in others] == [None, None]
    assert sum(len(companions_of(web.pid)) for web in [owner, *others]) == 1
    task_id = others[0].ask("enqueue from-another-process", "task")
    wait_until(lambda: Task.objects.filter(pk=task_id, status="DONE").exists(), 60, "the host's companion to run it")
    assert Note.objects.get(key="from-another-process").pid == owner.companion
    os.kill(owner.pid, signal.SIGKILL)
    wait_until(lambda: not alive(owner.companion), 60, "the owner's companion to end with it")

    def new_companion():
        pids = {web.pid: web.ask("companion", "companion") for web in others}
        started = {pid: int(c) for pid, c in pids.items() if c != "none"}
        return started if len(started) == 1 else None

    [(new_owner, companion)] = wait_until(new_companion, 60, "another process to take over").items()
    assert sum(len(companions_of(web.pid)) for web in others) == 1 and companions_of(new_owner) == [companion]
    sender = next(web for web in others if web.pid != new_owner)
    task_id = sender.ask("enqueue after-takeover", "task")
    wait_until(lambda: Task.objects.filter(pk=task_id, status="DONE").exists(), 60, "the new companion to run it")
    assert Note.objects.get(key="after-takeover").pid == companion

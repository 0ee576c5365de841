"""The admin and the dashboard in a real headless Chromium, against a live server and real workers.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and
Selenium (the ``test`` extra). Without them the tests are skipped on a laptop and
fail in CI (``CI=true``). Screenshots go to ``artifacts/screenshots/``.
"""

import datetime as dt
import os
import shutil
import signal
import time

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from django.utils import timezone

from autotask.models import Schedule, Task
from autotask.task import CANCELLED, DONE, ERROR, RUNNING, WAITING

from . import tasks, tasks_admin
from .conftest import ROOT, wait_until
from .models import Note

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the module (a fresh profile, nothing from the network)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        missing = f"Selenium is not installed ({exc})"
    else:
        missing = None if CHROMIUM and CHROMEDRIVER else "chromium and chromedriver are not on PATH (apt-get install chromium chromium-driver)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests can't run in CI: {missing}")
        pytest.skip(missing)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


# -- helpers -----------------------------------------------------------------------------------


class Page:
    """The browser on the live server, read through small scripts (never a stale element)."""

    def __init__(self, browser, live_server):
        self.browser, self.base = browser, live_server.url

    def open(self, path):
        self.browser.get(self.base + path)

    def js(self, script, *args):
        return self.browser.execute_script(script, *args)

    def text(self, selector):
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null", selector)

    def click(self, selector):
        from selenium.common.exceptions import StaleElementReferenceException

        for attempt in range(5):  # the dashboard redraws itself: an element may be replaced under us
            try:
                return self.browser.find_element("css selector", selector).click()
            except StaleElementReferenceException:
                if attempt == 4:
                    raise

    def log_in(self, username):
        self.open("/admin/login/")
        self.browser.delete_all_cookies()
        self.open("/admin/login/?next=/admin/")
        self.browser.find_element("name", "username").send_keys(username)
        self.browser.find_element("name", "password").send_keys("pw")
        self.click("input[type=submit]")
        wait_until(lambda: self.text("#user-tools"), 30, f"{username} to be logged in")

    def act(self, path, action, ids=(), select_all=False):
        """Run an admin action from a changelist, as a person does."""
        from selenium.webdriver.support.select import Select

        self.open(path)
        if select_all:
            self.click("#action-toggle")
            if self.js("return !!document.querySelector('.actions .question a')"):
                self.click(".actions .question a")  # "Select all N tasks"
        for pk in ids:
            self.click(f'input.action-select[value="{pk}"]')
        Select(self.browser.find_element("name", "action")).select_by_value(action)
        self.click('button[name="index"]')

    def message(self):
        return wait_until(lambda: self.text("ul.messagelist"), 30, "the action's message")

    def card(self, status):
        return self.text(f'#at-counts [data-status="{status}"] .at-value')

    def screenshot(self, name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


@pytest.fixture
def page(browser, live_server):
    return Page(browser, live_server)


def staff(username, *codenames, superuser=False):
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", "pw")
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="autotask", codename__in=codenames))
    return user


def status_of(handle):
    return Task.objects.get(pk=handle.id).status


DASHBOARD = reverse("admin:autotask_dashboard")
TASKS = reverse("admin:autotask_task_changelist")
SCHEDULES = reverse("admin:autotask_schedule_changelist")


# -- the tests ---------------------------------------------------------------------------------


def test_the_dashboard_follows_real_workers(page, processes):
    staff("admin", superuser=True)
    page.log_in("admin")
    page.open(DASHBOARD)
    wait_until(lambda: int(page.js("return document.getElementById('at-dashboard').dataset.updates || 0")) >= 2,
               30, "the dashboard to update itself")
    assert page.card(DONE) == "0" and "No worker has registered" in page.text("#at-workers")

    processes.worker()
    tasks.sleep_for.bulk([(0.2,)] * 15)
    failed = [tasks.fail_with_value_error(f"broken <{i}>") for i in range(3)]
    seen = set()

    def finished():
        seen.add((page.card(DONE), page.card(RUNNING)))
        return page.card(DONE) == "15" and page.card(ERROR) == "3"

    wait_until(finished, 120, "the counts to show every run", interval=0.05)
    done_values = {done for done, _ in seen if done not in ("0", "15")}
    assert done_values, f"the DONE count never showed a value between 0 and 15 while the worker ran: {seen}"
    assert ("0", "1") in seen or any(running == "1" for _, running in seen)
    wait_until(lambda: page.js("return Number(document.querySelector('#at-chart svg').dataset.total)") >= 18, 60,
               "the chart to count the runs")
    assert page.js("return document.querySelectorAll('#at-chart rect.at-done').length") >= 1
    assert page.js("return document.querySelectorAll('#at-chart rect.at-failed').length") >= 1
    assert page.js("return document.querySelectorAll('#at-workers .at-alive').length") == 1
    assert page.text("#at-p50") not in ("-", None)
    links = page.js("return [...document.querySelectorAll('#at-failures a')].map(a => a.getAttribute('href'))")
    assert {f"{TASKS}{handle.id}/change/" for handle in failed} == set(links)
    assert "broken <2>" in page.text("#at-failures")  # shown as text, not markup
    page.screenshot("dashboard")

    # Hidden tab: no more requests; visible again: at once.
    page.js("Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
            "document.dispatchEvent(new Event('visibilitychange'))")
    time.sleep(1.0)  # let a request already under way end
    paused_at = page.js("return document.getElementById('at-dashboard').dataset.updates")
    time.sleep(2.0)  # four refresh intervals
    assert page.js("return document.getElementById('at-dashboard').dataset.updates") == paused_at
    assert page.js("return document.getElementById('at-dashboard').dataset.paused") == "1"
    page.js("Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
            "document.dispatchEvent(new Event('visibilitychange'))")
    wait_until(lambda: page.js("return document.getElementById('at-dashboard').dataset.updates") != paused_at,
               30, "the dashboard to update again")

    # The admin's dark theme: the same page, the admin's dark colours.
    light_bar = page.js("return getComputedStyle(document.querySelector('#at-chart rect.at-done')).fill")
    page.js("localStorage.setItem('theme', 'dark')")
    page.open(DASHBOARD)
    wait_until(lambda: page.js("return document.querySelector('#at-chart rect.at-done')"), 30, "the chart")
    background = page.js("return getComputedStyle(document.body).backgroundColor")
    assert sum(int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3]) < 200, background
    assert page.js("return getComputedStyle(document.querySelector('#at-chart rect.at-done')).fill") != light_bar
    page.screenshot("dashboard-dark")
    page.js("localStorage.setItem('theme', 'light')")

    page.open(DASHBOARD)
    wait_until(lambda: page.js("return document.querySelector('#at-failures a')"), 30, "the failures")
    page.click("#at-failures a")
    wait_until(lambda: "ValueError" in (page.text("#content-main") or ""), 30, "the failed task's page")
    assert "Traceback (most recent call last)" in page.text("#content-main")
    page.screenshot("task")


def test_every_action_through_the_browser(page, processes):
    staff("admin", superuser=True)
    # Two workers: one will be busy with the slow task.
    worker, _ = (processes.worker(AUTOTASK_TEST_IMPORT="tests.schedules_admin") for _ in range(2))
    wait_until(lambda: Schedule.objects.filter(function__startswith="tests.schedules_admin").count() == 2, 60,
               "the workers to store the schedules")
    later = tasks_admin.due_in_an_hour(1)
    failing = tasks_admin.fail_until_noted("fixed")
    wait_until(lambda: status_of(failing) == ERROR, 60, "the failing task to fail")
    slow = tasks_admin.work_slowly("slow")
    wait_until(lambda: Note.objects.filter(key="slow").exists(), 60, "the slow task to start")
    page.log_in("admin")

    # run_tasks_now, on a selected row
    page.act(TASKS + "?status__exact=WAITING", "run_tasks_now", [later.id])
    assert "1 task due now" in page.message()
    wait_until(lambda: status_of(later) == DONE, 60, "the task run now to run")

    # cancel_tasks, from the running task's own page; the page follows the task by itself
    page.open(reverse("admin:autotask_task_change", args=[slow.id]))
    page.click('button[name="cancel_tasks"]')
    assert "1 running task asked to stop" in page.message()
    wait_until(lambda: status_of(slow) == CANCELLED, 60, "the worker to stop the cancelled task")
    wait_until(lambda: "Cancelled" in page.text(".field-status"), 30, "the task's page to show it cancelled")

    # retry_tasks
    Note.objects.create(key="fixed")
    page.act(TASKS + "?status__exact=ERROR", "retry_tasks", [failing.id])
    assert "1 task will run again" in page.message()
    wait_until(lambda: status_of(failing) == DONE, 60, "the retried task to succeed")

    # delete_finished_tasks, on everything the filter matches ("Select all N")
    now = timezone.now()
    Task.objects.bulk_create([Task(function="tests.tasks.noop", status=DONE, run_at=now, created_at=now) for _ in range(120)])
    page.act(TASKS + "?function=tests.tasks.noop", "delete_finished_tasks", select_all=True)
    wait_until(lambda: "Delete 120 finished tasks" in (page.text("#autotask-delete-summary") or ""), 30, "the question")
    page.click('input[type="submit"]')
    assert "120 finished tasks deleted" in page.message()
    assert not Task.objects.filter(function="tests.tasks.noop").exists()
    assert [status_of(later), status_of(slow), status_of(failing)] == [DONE, CANCELLED, DONE]

    # run_schedules_now: one extra run, and the next due time stays
    rarely = Schedule.objects.get(function="tests.schedules_admin.rarely")
    page.act(SCHEDULES, "run_schedules_now", [rarely.pk])
    assert "1 schedule runs now" in page.message()
    wait_until(lambda: Note.objects.filter(key="rarely").count() == 1, 60, "the extra run")
    assert Schedule.objects.get(pk=rarely.pk).next_run_at == rarely.next_run_at

    # pause_schedules: no more runs, also after the worker restarts
    ticking = Schedule.objects.get(function="tests.schedules_admin.every_second_admin")
    wait_until(lambda: Note.objects.filter(key="every_second_admin").count() >= 2, 60, "the periodic schedule to run")
    page.act(SCHEDULES, "pause_schedules", [ticking.pk])
    assert "1 schedule paused" in page.message()
    wait_until(lambda: not Task.objects.filter(schedule=ticking, status__in=(WAITING, RUNNING)).exists(), 60,
               "the last run to end")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(30)
    processes.worker(AUTOTASK_TEST_IMPORT="tests.schedules_admin")
    runs = Note.objects.filter(key="every_second_admin").count()
    time.sleep(2.5)  # two of its due times pass
    assert Note.objects.filter(key="every_second_admin").count() == runs
    assert Schedule.objects.get(pk=ticking.pk).paused is True

    # resume_schedules: it runs again, from its next due time
    page.act(SCHEDULES, "resume_schedules", [ticking.pk])
    assert "1 schedule resumed" in page.message()
    wait_until(lambda: Note.objects.filter(key="every_second_admin").count() > runs, 60, "the resumed schedule to run")
    assert "paused" not in page.text("#result_list")


def test_what_each_staff_user_may_see_and_do(page):
    tasks_admin.due_in_an_hour(1)
    staff("viewer", "view_task", "view_schedule", "view_worker")
    staff("operator", "view_task", "change_task")
    staff("nobody")

    page.log_in("viewer")
    page.open(TASKS)
    assert page.text("#result_list") and page.js("return document.querySelector('select[name=action]')") is None
    page.open(DASHBOARD)
    wait_until(lambda: page.card(WAITING) == "1", 30, "the dashboard's counts")

    page.log_in("operator")
    page.open(TASKS)
    offered = page.js("return [...document.querySelectorAll('select[name=action] option')].map(o => o.value)")
    assert {"cancel_tasks", "retry_tasks", "run_tasks_now"} <= set(offered) and "delete_finished_tasks" not in offered

    page.log_in("nobody")
    for path in (TASKS, DASHBOARD):
        page.open(path)
        assert "403" in page.browser.title or "Forbidden" in (page.text("body") or ""), path

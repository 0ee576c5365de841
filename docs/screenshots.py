"""Takes the documentation's screenshots (docs/_static/, shown in README.rst and docs/) of the example project: ``python docs/screenshots.py``.

Runs the example project (``example/``, on a fresh SQLite database in a
temporary directory) with ``runserver``, stores a few batches of its tasks,
and saves the admin dashboard and a task's page, in the light theme, with
headless Chromium and Selenium (``pip install -e '.[test]'``) to
``docs/_static/dashboard.png`` and ``docs/_static/task.png``.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "_static"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="autotask-shots-"))
    project = work / "example"
    shutil.copytree(ROOT / "example", project, ignore=shutil.ignore_patterns("db.sqlite3*", "__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=project, env=env, check=True)
    subprocess.run([*manage, "demo_login"], cwd=project, env=env, check=True)
    port = free_port()
    server = subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}"], cwd=project, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1200,1000",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={work / 'profile'}"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        browser.get(base + "/")  # the first visit stores a batch of tasks
        for _ in range(3):
            time.sleep(8)
            browser.execute_script("document.querySelector('form button[type=submit]').click()")  # "Run some tasks"
        browser.get(base + "/admin/login/?next=/admin/autotask/dashboard/")
        browser.find_element("name", "username").send_keys("demo")
        browser.find_element("name", "password").send_keys("demo")
        browser.find_element("css selector", "input[type=submit]").click()
        browser.execute_script("localStorage.setItem('theme', 'light')")
        time.sleep(6)
        browser.get(base + "/")
        browser.execute_script("document.querySelector('form button[type=submit]').click()")  # build_report runs in 2 s
        time.sleep(1)  # the form's POST
        browser.get(base + "/admin/autotask/dashboard/")
        time.sleep(1.5)
        browser.execute_script("document.querySelector('#nav-sidebar') && document.querySelector('#toggle-nav-sidebar').click()")
        time.sleep(1)
        OUT.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(OUT / "dashboard.png"))
        link = browser.execute_script(
            "const a = [...document.querySelectorAll('#at-failures a')][0]; return a && a.href")
        browser.get(link or base + "/admin/autotask/task/")
        time.sleep(1)
        browser.save_screenshot(str(OUT / "task.png"))
    finally:
        browser.quit()
        os.killpg(server.pid, 15)
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    for name in ("dashboard.png", "task.png"):
        shrink(OUT / name)
    print("saved", OUT / "dashboard.png", OUT / "task.png")


def shrink(path: Path) -> None:
    """A palette of 64 colours: a few dozen KB instead of a hundred (needs Pillow; skipped without)."""
    try:
        from PIL import Image
    except ImportError:
        print("pip install pillow to make the screenshots smaller")
        return
    Image.open(path).convert("RGB").quantize(64, dither=Image.Dither.NONE).save(path, optimize=True)


if __name__ == "__main__":
    main()

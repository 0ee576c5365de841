"""Sphinx configuration of autotask's documentation: ``make docs``.

The html build imports autotask's modules (autodoc) with Django set up on
``docs/settings.py``. The doctest build (``sphinx-build -b doctest``) runs the
pages' examples for real: it migrates a SQLite database in a temporary folder
and starts one ``manage.py run_autotask`` worker against it, stopped when the
build ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(DOCS), str(DOCS / "_ext"), str(ROOT)]

os.environ.setdefault("AUTOTASK_DOCS_DIR", tempfile.mkdtemp(prefix="autotask-docs-"))
os.environ["DJANGO_SETTINGS_MODULE"] = "settings"

import django  # noqa: E402

django.setup()

import autotask  # noqa: E402

project = "autotask"
author = "autotask's authors"
copyright = "autotask's authors"
release = version = autotask.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "autotask_docs",
]
exclude_patterns = ["_build", ".venv*"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_title = f"autotask {release}"
try:
    import furo  # noqa: F401

    html_theme = "furo"
except ImportError:
    html_theme = "alabaster"

autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True}
# Examples: `.. doctest::` blocks and `>>>` blocks are run by `sphinx-build -b doctest`.
import doctest as _doctest  # noqa: E402

doctest_default_flags = _doctest.ELLIPSIS | _doctest.NORMALIZE_WHITESPACE


def start_worker(app) -> None:
    """For the doctest build: a migrated database and one real worker, alive before the first example."""
    if app.builder.name != "doctest":
        return
    from django.core.management import call_command

    from autotask import queue

    call_command("migrate", verbosity=0)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(DOCS), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    # The examples' worker takes the queue "default" only: one example shows what wait() says
    # about a task in a queue no worker takes. Its log (failures the examples cause) goes to a file.
    log_path = Path(os.environ["AUTOTASK_DOCS_DIR"]) / "worker.log"
    with open(log_path, "wb") as log:
        app._autotask_worker = subprocess.Popen(
            [sys.executable, "-m", "django", "run_autotask", "--queue", "default"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while not queue.alive_workers():
        if app._autotask_worker.poll() is not None:
            raise RuntimeError(f"the documentation's worker (run_autotask) exited:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError("the documentation's worker (run_autotask) sent no heartbeat within 120 s")
        time.sleep(0.1)


def stop_worker(app, exception) -> None:
    worker = getattr(app, "_autotask_worker", None)
    if worker is not None:
        worker.terminate()
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    from django.db import connections

    connections.close_all()
    shutil.rmtree(os.environ["AUTOTASK_DOCS_DIR"], ignore_errors=True)


def setup(app) -> None:
    app.connect("builder-inited", start_worker)
    app.connect("build-finished", stop_worker)

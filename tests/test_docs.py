"""The documentation (docs/) says what the code does: every system check, signal, command
and README link is there. (The settings table and the commands' options are written from
the code when the pages are built; ``make docs`` runs the pages' examples.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands

import autotask
from autotask import signals

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def test_every_system_check_id_in_the_code_is_documented_and_no_other():
    in_code = set()
    for path in (ROOT / "autotask").rglob("*.py"):
        in_code |= set(re.findall(r'id="(autotask\.[EWI]\d{3})"', path.read_text()))
    documented = set(re.findall(r"``(autotask\.[EWI]\d{3})``", (DOCS / "reference" / "checks.rst").read_text()))
    assert in_code, "no check ids found in autotask/"
    assert in_code == documented, f"only in the code: {in_code - documented}; only in the docs: {documented - in_code}"


def test_every_signal_is_documented():
    names = [name for name, value in vars(signals).items() if type(value).__name__ == "Signal"]
    assert set(names) >= {"task_enqueued", "task_started", "task_finished"}
    page = (DOCS / "reference" / "signals.rst").read_text()
    missing = [name for name in names if f"``{name}(" not in page]
    assert not missing, f"signals missing from docs/reference/signals.rst: {missing}"


def test_every_management_command_has_its_reference():
    ours = sorted(name for name, app in get_commands().items() if app == "autotask")
    assert "run_autotask" in ours
    page = (DOCS / "reference" / "commands.rst").read_text()
    missing = [name for name in ours if f".. autotask-command:: {name}\n" not in page]
    assert not missing, f"commands missing from docs/reference/commands.rst: {missing}"


def test_every_public_name_of_the_package_is_in_the_reference():
    reference = "".join(path.read_text() for path in (DOCS / "reference").glob("*.rst"))
    missing = [name for name in autotask.__all__ if name not in reference]
    assert not missing, f"autotask.{missing} missing from docs/reference/"


def test_the_readme_s_links_and_images_point_to_files_that_exist():
    readme = (ROOT / "README.rst").read_text()
    targets = re.findall(r"<((?:docs/|RELEASES)[^>]*)>`_", readme) + re.findall(r"^\.\. image:: (\S+)", readme, re.M)
    assert len(targets) > 20
    missing = [target for target in targets if not (ROOT / target).exists()]
    assert not missing, f"README.rst points to missing files: {missing}"


def test_every_page_is_in_a_contents_tree():
    index = (DOCS / "index.rst").read_text()
    for folder in ("topics", "howto", "reference", "explanation"):
        assert f"   {folder}/*\n" in index, f"docs/index.rst has no glob toctree for {folder}/"
    for page in ("tutorial", "development", "releases"):
        assert f"   {page}\n" in index
        assert (DOCS / f"{page}.rst").exists()


def test_every_setting_the_pages_name_exists():
    from autotask.conf import SETTINGS

    pages = [ROOT / "README.rst", *DOCS.rglob("*.rst")]
    named = {name for page in pages if "_build" not in page.parts for name in re.findall(r"AUTOTASK_[A-Z_]+[A-Z]", page.read_text())}
    unknown = {name for name in named if name[len("AUTOTASK_"):] not in SETTINGS and not name.startswith("AUTOTASK_TEST_")}
    assert not unknown, f"the documentation names settings autotask doesn't have: {sorted(unknown)}"


def test_the_readme_is_valid_restructuredtext():
    """It is the package's long description too: a code host or an index renders it as it is."""
    core = pytest.importorskip("docutils.core")
    core.publish_string(
        (ROOT / "README.rst").read_text(), writer="null", settings_overrides={"halt_level": 2, "report_level": 2}
    )

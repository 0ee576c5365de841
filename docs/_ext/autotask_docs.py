"""Directives that write reference tables from autotask's code, so the documentation can't drift from it.

- ``.. autotask-settings::``: every ``AUTOTASK_*`` setting of ``autotask.conf.SETTINGS``,
  with its default and meaning.
- ``.. autotask-command:: NAME``: the ``--help`` of a management command.
"""

from __future__ import annotations

import os

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList


def _default(name: str, default: object) -> str:
    if name == "WORKER_EXECUTABLE":
        return "the running interpreter"
    if name == "FAILED_TTL":
        return f"``{default!r}`` (7 days)"
    return f"``{default!r}``"


class SettingsTable(Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from autotask.conf import SETTINGS

        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 30 20 50", "", "   * - setting", "     - default", "     - meaning"]
        for name, spec in SETTINGS.items():
            meaning = spec.doc
            if spec.choices:
                meaning += "; one of " + ", ".join(f"``{c!r}``" for c in spec.choices)
            lines += [
                f"   * - ``AUTOTASK_{name}``",
                f"     - {_default(name, spec.default)}",
                f"     - {meaning.replace('*', chr(92) + '*')}",
            ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="autotask.conf.SETTINGS"), self.content_offset, container)
        return container.children


class CommandHelp(Directive):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        from django.core.management import load_command_class

        name = self.arguments[0]
        os.environ["COLUMNS"] = "100"
        parser = load_command_class("autotask", name).create_parser("manage.py", name)
        text = parser.format_help()
        return [nodes.literal_block(text, text, language="text")]


def setup(app) -> dict:
    app.add_directive("autotask-settings", SettingsTable)
    app.add_directive("autotask-command", CommandHelp)
    return {"parallel_read_safe": True}

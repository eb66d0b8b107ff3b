"""The README is the front door: its configuration table and commands must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from mlmon.cli import build_parser
from mlmon.config_docs import BEGIN, END, config_table
from mlmon.demo.scenarios import SCENARIOS

README = Path(__file__).resolve().parents[3] / "README.md"


def test_configuration_table_matches_the_settings_classes() -> None:
    text = README.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == config_table(), "run `python -m mlmon.config_docs` and paste the table into README.md"


def test_readme_commands_exist() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text and "docker compose up" in text
    makefile = (README.parent / "Makefile").read_text()
    for target in ("demo", "test", "bench", "lint"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[arg-type]
    for used in re.findall(r"`mlmon ([a-z-]+)", text):
        assert used in commands, f"README mentions `mlmon {used}` which does not exist"


def test_every_scenario_is_documented() -> None:
    text = README.read_text()
    for name in SCENARIOS:
        assert f"| `{name}` |" in text, name

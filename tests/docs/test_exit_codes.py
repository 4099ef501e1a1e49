"""docs/reference/exit-codes.md is the table tools/exit_codes_doc.py writes from the CLI's error
classes: a new, renumbered or reworded error fails here until the page is regenerated."""

from __future__ import annotations

import importlib
import pkgutil

import gitops
from gitops.errors import GitopsError
from tools import exit_codes_doc


def test_the_exit_code_page_is_generated_from_the_error_classes():
    page = exit_codes_doc.PAGE.read_text()
    assert exit_codes_doc.render(page) == page, "run .venv/bin/python tools/exit_codes_doc.py"


def test_every_error_class_and_stop_signal_has_its_row():
    from gitops.cli import STOP_SIGNALS

    table = exit_codes_doc.table()
    for cls in exit_codes_doc.error_classes():
        assert f"| {cls.exit_code} | `{cls.__name__}` |" in table
    for signum in STOP_SIGNALS:
        assert f"| {128 + signum} | |" in table


def test_a_renumbered_error_makes_the_page_out_of_date(monkeypatch):
    page = exit_codes_doc.PAGE.read_text()
    renumbered = exit_codes_doc.error_classes()[-1]
    monkeypatch.setattr(renumbered, "exit_code", 99)
    assert exit_codes_doc.render(page) != page


def test_every_exit_code_is_declared_in_gitops_errors():
    """The page reads gitops.errors only: an error with its own code elsewhere would be missing."""
    for module in pkgutil.walk_packages(gitops.__path__, "gitops."):
        if not module.name.endswith(".__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    elsewhere, pending = [], [GitopsError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "exit_code" in vars(cls) and cls.__module__ != "gitops.errors":
            elsewhere.append(f"{cls.__module__}.{cls.__name__}")
    assert elsewhere == []

"""The import contracts in `.importlinter` hold: the loop runs one way (a domain imports only
the domains upstream of it; the core imports no domain) and evaluator generation stays pure.
Run by hand: `.venv/bin/lint-imports`."""

import re
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_are_kept(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    exit_code = lint_imports(config_filename=str(ROOT / ".importlinter"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    summary = re.search(r"Contracts: (\d+) kept, (\d+) broken", report)
    assert summary is not None and exit_code == 0, report
    assert (int(summary[1]), int(summary[2])) == (2, 0), report

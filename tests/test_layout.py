"""The layout a contributor relies on: `harness/` holds what a user runs, the benchmarks live beside it."""

import ast
from pathlib import Path

from tests.conftest import ROOT


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}


def test_the_harness_imports_no_benchmark_code_and_holds_none():
    importing = [
        path
        for path in (ROOT / "harness").rglob("*.py")
        if any(name.split(".")[0] == "benchmarks" for name in _imports(path))
    ]
    assert importing == []
    assert not [path.name for path in (ROOT / "harness").rglob("*bench*")]
    assert {"training.py", "suite.py", "index.py", "tuning.py", "data.py"} <= {
        p.name for p in (ROOT / "benchmarks").glob("*.py")
    }

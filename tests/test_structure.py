"""The architecture, checked: layers that import one way, small modules, no cycles.

docs/architecture.md explains the layers; this file is what keeps it true. Deferred
imports (inside functions) count like top-level ones: they are still dependencies.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hptrack"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60

# What each layer may import from hptrack (besides itself). A layer is a top-level
# module or subpackage of hptrack; `_json` and `errors` sit at the bottom.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_json": set(),
    "identity": {"_json", "errors"},
    "spec": {"_json", "errors"},
    "store": {"_json", "errors", "identity", "spec", "_version"},
    "query": {"_json", "_csv", "errors", "identity", "spec", "store"},
    "run": {"_json", "errors", "identity", "spec", "store", "query"},  # verify reads recorded scores
    "_format": {"_json", "errors", "query", "store"},
    "_csv": set(),
    "report": {"_json", "errors", "query", "store", "_format", "_csv", "_version"},
    "search": {"_json", "errors", "identity", "spec", "store", "query", "run"},
    "cli": {
        "_json",
        "_csv",
        "errors",
        "identity",
        "spec",
        "store",
        "query",
        "run",
        "search",  # a spec's successive halving runs through the drop-in (lazily: run and resume)
        "report",
        "_format",
        "_version",
    },
    "_version": set(),
    "__init__": {"errors", "query", "search", "_version"},
    "__main__": {"cli"},
}
# Third-party imports allowed per layer (scikit-learn only where models are fitted,
# or lazily where a spec's metrics are checked; click only in the CLI).
HEAVY = {"sklearn", "click", "jinja2", "sqlite_utils", "pandas", "numpy", "scipy", "joblib", "distributed"}
ALLOWED_HEAVY: dict[str, set[str]] = {
    "identity": {"numpy", "sklearn"},
    "spec": {"numpy", "sklearn", "scipy"},
    "store": {"sqlite_utils", "numpy"},  # numpy: trial means exactly as scikit-learn (writer)
    "query": {"numpy", "pandas", "sklearn"},
    "run": {"numpy", "sklearn", "joblib", "distributed", "scipy"},
    "report": {"jinja2"},
    "search": {"numpy", "sklearn", "joblib", "scipy"},
    "cli": {"click"},
}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


MODULES = dict(_modules())


def _layer(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``module`` imports (absolute names), with the line, deferred ones too."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                yield (candidate if candidate in MODULES else target), node.lineno


def test_every_module_is_small() -> None:
    too_big = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not too_big, f"modules over {MAX_MODULE_LINES} lines: {too_big}"


def test_no_function_is_long() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = (
                    node.body[1:] if ast.get_docstring(node) is not None and len(node.body) > 1 else node.body
                )
                n = node.end_lineno - body[0].lineno + 1  # type: ignore[operator]  (code, not docstring)
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name} ({n})")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_layers_import_one_way() -> None:
    wrong = []
    for module, path in MODULES.items():
        layer = _layer(module)
        allowed = ALLOWED[layer] | {layer}
        for target, line in _imports(module, path):
            top = target.split(".")[0]
            if top == "hptrack":
                if target == "hptrack" and layer != "__init__":
                    wrong.append(f"{module}:{line} imports the package root")
                elif target != "hptrack" and _layer(target) not in allowed:
                    wrong.append(f"{module}:{line} imports {target}")
            elif top in HEAVY and top not in ALLOWED_HEAVY.get(layer, set()):
                wrong.append(f"{module}:{line} imports {target}")
    assert not wrong, "imports against the layers (docs/architecture.md):\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph = {
        module: {t for t, _ in _imports(module, path) if t in MODULES and t != module}
        for module, path in MODULES.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("import hptrack", ["sklearn", "numpy", "pandas", "jinja2", "sqlite_utils", "click"]),
        ("import hptrack.cli", ["sklearn", "numpy", "pandas", "jinja2", "sqlite_utils"]),
    ],
)
def test_light_imports(code: str, absent: list[str]) -> None:
    check = f"{code}; import sys; print([m for m in {absent!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout

"""The shape of the code, read from its source: imports follow the data flow, Ray and Optuna stay in the search
package, the explorer reaches no training or search code, nothing imports in a circle, no module is over 500 lines.

Imports are collected with ``ast`` from every module of ``vixray`` and ``dashboards``, those inside functions too
(a lazy import is still a dependency); imports under ``if TYPE_CHECKING:`` are annotations only and do not count.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("vixray", "dashboards")
MAX_LINES = 500

# The data flow, upstream first: a module may import modules of its own stage or of earlier stages only.
STAGES: list[tuple[str, ...]] = [
    ("vixray.entry",),
    ("vixray.store", "vixray.prose"),
    ("vixray.data",),
    ("vixray.labels", "vixray.calendar", "vixray.split"),
    ("vixray.features",),  # the calendar block reads vixray.calendar
    ("vixray.config",),
    ("vixray.dataset",),
    ("vixray.windows", "vixray.device", "vixray.optim"),
    ("vixray.models",),
    ("vixray.train", "vixray.metrics"),
    ("vixray.baselines",),
    ("vixray.crossval", "vixray.figures", "vixray.snooping", "vixray.backtest"),
    ("vixray.importance",),
    ("vixray.search", "vixray.holdout"),
    ("vixray.console",),
    ("vixray.cli",),  # every command; `vixray dashboard` starts the explorer, the one import of dashboards
    ("vixray.evaluate", "vixray.__main__"),  # `python -m` entry points over the CLI
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def _imports(module: str) -> frozenset[str]:
    """Every top-level package (``ray``) and project module (``vixray.data.layout``) a module imports."""
    tree = ast.parse(_modules()[module].read_text())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pkg import sub`` imports the submodule; ``from pkg import name`` imports the package
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in _modules() else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return frozenset(found)


def _project_imports(module: str) -> set[str]:
    return {name for name in _imports(module) if name.split(".")[0] in PACKAGES and name in _modules()}


def _stage(module: str) -> tuple[int, str]:
    for rank, group in enumerate(STAGES):
        for prefix in group:
            if module == prefix or module.startswith(prefix + "."):
                return rank, prefix
    raise AssertionError(f"{module} belongs to no stage of the data flow: add it to STAGES")


def test_every_module_has_a_stage():
    for module in _modules():
        if module.startswith("vixray.") and module != "vixray":
            _stage(module)


@pytest.mark.parametrize("module", [m for m in _modules() if m.startswith("vixray.")])
def test_imports_point_down_the_data_flow(module):
    rank, group = _stage(module)
    for target in _project_imports(module):
        if target.startswith("dashboards"):
            assert module == "vixray.cli", f"{module} imports the explorer ({target})"
            continue
        target_rank, target_group = _stage(target)
        assert target_rank < rank or target_group == group, (
            f"{module} (stage {rank}, {group}) imports {target} (stage {target_rank}, {target_group}): "
            "an arrow against the data flow"
        )


def test_ray_and_optuna_are_imported_in_vixray_search_only():
    for module in _modules():
        heavy = {name.split(".")[0] for name in _imports(module)} & {"ray", "optuna"}
        if heavy:
            assert module.startswith("vixray.search."), f"{module} imports {sorted(heavy)}"


def test_vectorbt_is_imported_by_the_backtest_only_and_inside_its_functions():
    for module in _modules():
        if "vectorbt" in {name.split(".")[0] for name in _imports(module)}:
            assert module == "vixray.backtest", f"{module} imports vectorbt"
    top = [
        line
        for line in (REPO / "vixray" / "backtest.py").read_text().splitlines()
        if "import vectorbt" in line
    ]
    assert top and all(line.startswith("    ") for line in top)  # never at module level: it takes seconds


def test_the_explorer_reaches_no_training_search_or_holdout_code():
    forbidden = (
        "vixray.train",
        "vixray.models",
        "vixray.search",
        "vixray.holdout",
        "vixray.crossval",
        "vixray.cli",
    )
    for module in _modules():
        if module.startswith("dashboards"):
            heavy = {name.split(".")[0] for name in _imports(module)} & {"torch", "ray", "optuna", "vectorbt"}
            assert not heavy, f"{module} imports {sorted(heavy)}"
            for target in _project_imports(module):
                assert not target.startswith(forbidden), f"{module} imports {target}"


def test_no_module_imports_in_a_circle():
    graph = {module: _project_imports(module) - {module} for module in _modules()}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target] if target in path else [module, target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if state.get(target) is None:
                walk(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])


def test_no_module_is_over_500_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (one job per module): {long}"


def test_the_checks_see_the_imports_they_judge():
    # the collector finds lazy imports and skips TYPE_CHECKING ones, or the tests above would prove nothing
    assert "vixray.train" in _project_imports("vixray.crossval")  # imported inside cross_validate
    assert "vixray.search" in _project_imports("vixray.cli.training")  # inside cmd_tune
    assert "vixray.search" not in _project_imports("vixray.console")  # under TYPE_CHECKING
    assert {"ray", "optuna"} <= {n.split(".")[0] for n in _imports("vixray.search.sampler")}

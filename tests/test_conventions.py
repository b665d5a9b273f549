"""House rules a newcomer would check: formatting, lint, license, and the package's four rooms."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "workflow" / "manymodels"
ROOMS = ("experiment", "task", "results", "search", "engine")
# Which rooms each room may import: results and engine use experiment and task; task uses experiment;
# the searches read scores as results does (their verdicts) and the engine's plan asks them what to fit.
ALLOWED = {"experiment": set(), "task": {"experiment"}, "results": {"experiment", "task"},
           "search": {"experiment", "task", "results"}, "engine": {"experiment", "task", "search"}}


def test_snakefiles_are_formatted():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    assert snakefmt, "snakefmt is pinned in requirements.txt"
    result = subprocess.run([snakefmt, "--check", "Snakefile", "workflow/rules"], cwd=REPO, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_snakemake_lint_is_clean(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from conftest import TINY_CONFIG
    from workflow_helpers import make_workflow, snakemake

    root = make_workflow(tmp_path / "wf", TINY_CONFIG)
    result = snakemake(root, "--lint", check=False)
    assert result.returncode == 0 and "Congratulations, your workflow is in a good condition!" in result.stdout + \
        result.stderr, result.stdout + result.stderr


def test_license_is_mit():
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License") and "THE SOFTWARE IS PROVIDED \"AS IS\"" in text


def _imports(path: Path) -> set[str]:
    """The manymodels modules a file imports (absolute names)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found |= {name} | {f"{name}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("manymodels")}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def test_the_package_shows_its_rooms_first():
    entries = sorted(p.name for p in PACKAGE.iterdir() if not p.name.startswith("__pycache__"))
    assert entries == ["__init__.py", "__main__.py", *sorted(ROOMS)]


def test_imports_point_one_way_between_rooms():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        own = _room(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for name in _imports(path):
            other = _room(name)
            if own and other and other != own and other not in ALLOWED[own]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not wrong, wrong


def test_no_import_cycles_between_modules():
    modules = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in PACKAGE.rglob("*.py")}
    graph = {m: {n for n in _imports(p) if n in modules and n != m} for m, p in modules.items()}
    seen, stack, cycles = set(), [], []

    def visit(node):
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()

    for module in sorted(graph):
        visit(module)
    assert not cycles, cycles


def test_every_function_a_rule_or_a_decision_names_exists():
    """Rules, the plan and the searches reach package functions by 'module:function' strings (run
    in a worker); each must name a function that imports, or a job fails only when it runs."""
    import importlib

    pattern = re.compile(r"""["'](manymodels\.[A-Za-z_.]+):([A-Za-z_]+)["']""")
    named = {match.groups() for path in [*(REPO / "workflow").rglob("*.smk"), *PACKAGE.rglob("*.py")]
             for match in pattern.finditer(path.read_text())}
    named |= {tuple(cls.decide.split(":")) for cls in importlib.import_module("manymodels.search").SEARCHES.values()}
    assert len(named) >= 25
    missing = [f"{module}:{name}" for module, name in sorted(named)
               if not callable(getattr(importlib.import_module(module), name, None))]
    assert not missing, missing


def test_a_family_search_is_named_only_in_its_module_and_the_schema():
    """Adding a search that proposes a family's configurations is one module in search/ and one key
    in the schema: no other module, rule or script uses its key as a string (Optuna's is 'optuna')."""
    import importlib
    import io
    import tokenize

    searches = importlib.import_module("manymodels.search").SEARCHES
    keys = {key for key, cls in searches.items() if cls.scope == "family"}
    assert "optuna" in keys
    naming = []
    for path in [*PACKAGE.rglob("*.py"), *(REPO / "workflow").rglob("*.smk"), *(REPO / "scripts").rglob("*.py")]:
        if path.parent.name == "search" and path.parent.parent == PACKAGE:
            continue
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type == tokenize.STRING and any(re.fullmatch(rf"""[rbfu]*(["']){key}\1""", token.string)
                                                     for key in keys):
                naming.append(f"{path.relative_to(REPO)}:{token.start[0]} {token.string}")
    assert not naming, naming

"""The package layout's rules, read from the source: one-way imports, no cycles, torch only in the SB3 adapter.

Every import statement counts, also one inside a function: a cycle dodged by a late import is still a cycle.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nngym", "envs", "agents")
ALGORITHMS = {"agents.ppo", "agents.a2c", "agents.dqn", "agents.reinforce", "agents.recurrent_ppo"}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = module_files()


def imported_names(path: Path, module: str) -> set[str]:
    """Every module name an import statement in ``path`` names (top-level and inside functions alike)."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def project_imports(module: str) -> set[str]:
    """The project modules ``module`` imports (names that are modules of the three packages), itself excluded."""
    return {n for n in imported_names(MODULES[module], module) if n in MODULES and n != module}


GRAPH = {m: project_imports(m) for m in MODULES}


def external_imports(module: str) -> set[str]:
    """Top-level names of the third-party packages ``module`` imports."""
    return {n.split(".")[0] for n in imported_names(MODULES[module], module)} - set(PACKAGES) - {""}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert len(MODULES) > 50
    assert cycles(GRAPH) == []


def _violations(sources: set[str], forbidden) -> list[tuple[str, str]]:
    return sorted((m, n) for m in sources for n in GRAPH[m] if forbidden(n))


def test_dependencies_point_one_way():
    of = lambda prefix: {m for m in MODULES if m == prefix or m.startswith(prefix + ".")}  # noqa: E731
    nngym, envs, common = of("nngym"), of("envs"), of("agents.common")
    baselines, experiments = of("agents.baselines"), of("agents.experiments")
    assert _violations(nngym, lambda n: not n.startswith("nngym")) == []  # the library stands alone
    assert _violations(envs, lambda n: n.startswith("agents")) == []
    upper = ALGORITHMS | baselines | experiments | {"agents"}
    assert _violations(common, lambda n: n in upper) == []
    assert _violations(ALGORITHMS, lambda n: n in baselines | experiments) == []
    assert _violations(baselines, lambda n: n in experiments) == []


def test_only_the_sb3_adapter_imports_torch_and_only_the_ray_layer_imports_ray():
    heavy = {"torch": {"agents.baselines.sb3"}, "stable_baselines3": {"agents.baselines.sb3"}}
    heavy["sb3_contrib"] = {"agents.baselines.sb3"}
    heavy["sbx"] = heavy["jax"] = heavy["flax"] = {"agents.baselines.sbx"}
    heavy["ray"] = {"agents.experiments.sweep_ray", "agents.experiments.tune"}
    for package, allowed in heavy.items():
        importers = {m for m in MODULES if package in external_imports(m)}
        assert importers <= allowed, (package, sorted(importers - allowed))


def test_scripts_are_thin_and_import_no_other_script():
    scripts = {p.stem for p in (ROOT / "scripts").glob("*.py")}
    for path in (ROOT / "scripts").glob("*.py"):
        text = path.read_text()
        names = {n.split(".")[0] for n in imported_names(path, path.stem)}
        assert not names & scripts, (path.name, names & scripts)
        assert "spec_from_file_location" not in text and "import scripts" not in text, path.name


def test_every_module_imports_on_its_own():
    """Each module in a fresh interpreter state (the project's modules dropped from sys.modules before each)."""
    optional = {name for name in ("torch", "stable_baselines3", "sb3_contrib", "ray", "sbx", "jax", "flax")}
    missing = {name for name in optional if importlib.util.find_spec(name) is None}
    modules = [m for m in MODULES if not external_imports(m) & missing]
    if len(modules) < len(MODULES):
        pytest.skip(f"optional packages missing: {sorted(missing)}")
    code = f"""
import importlib, sys
failed = []
for name in {modules!r}:
    for loaded in [m for m in sys.modules if m.split(".")[0] in {PACKAGES!r}]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as e:  # report every module that fails, not only the first
        failed.append(f"{{name}}: {{type(e).__name__}}: {{e}}")
print("\\n".join(failed))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ""

"""The plan of the package, checked on its source (an AST walk over src/vito_hf, nothing imported).

Layers, lowest first; a module imports only modules of its own unit (a subpackage, or a top-level module) and
of lower layers. From DESIGN.md ("data <- curation/training/evaluation <- hub/study <- scripts") and the code:

    0  the modeling files (import only each other, with one dot: remote code); leaf helpers that import nothing
       of the package: atomic_files (write, then rename), hub_access, published_paths
    1  clip_store (the store's schema, shared by curation and data), presets (architectures as VitoConfigs)
    2  vito_hf itself (the public API: the model classes and presets, registered with the Auto classes)
    3  data (reading a clip store, samplers, views)
    4  curation, training, evaluation (siblings: none imports another)
    5  hub (renders cards from run files, publishes; reads training's run-summary file name and curation's
       store card)
    6  study (runs curation, training, evaluation and writes the cards)
    7  cli (argument parsing shared by the scripts, which sit above everything)

Imports under `if TYPE_CHECKING:` are annotations only and not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vito_hf

PACKAGE = Path(vito_hf.__file__).parent
MODELING_FILES = {
    "vito_hf.configuration_vito", "vito_hf.modeling_vito", "vito_hf.image_processing_vito",
    "vito_hf.video_processing_vito",
}
LAYERS = {
    **dict.fromkeys(MODELING_FILES, 0),
    "vito_hf.atomic_files": 0,
    "vito_hf.hub_access": 0,
    "vito_hf.published_paths": 0,
    "vito_hf.clip_store": 1,
    "vito_hf.presets": 1,
    "vito_hf": 2,
    "vito_hf.data": 3,
    "vito_hf.curation": 4,
    "vito_hf.training": 4,
    "vito_hf.evaluation": 4,
    "vito_hf.hub": 5,
    "vito_hf.study": 6,
    "vito_hf.cli": 7,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _runtime_imports(tree: ast.AST):
    """Import nodes, skipping the bodies of `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (item for child in node.orelse for item in _runtime_imports_of(child))
            continue
        yield from _runtime_imports_of(node)


def _runtime_imports_of(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _runtime_imports(node)


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The package modules an import statement loads (a `from package import submodule` names the submodule)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = (module if is_package else module.rsplit(".", 1)[0]).split(".")
            base = base[: len(base) - node.level + 1]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source for alias in node.names]
    targets = []
    for name in names:
        if name.split(".")[0] != "vito_hf":
            continue
        while name not in MODULES:
            name = name.rsplit(".", 1)[0]
        targets.append(name)
    return targets


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {
            target for node in _runtime_imports(tree) for target in _targets(module, path.name == "__init__.py", node)
            if target != module
        }
    return graph


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


GRAPH = _graph()


def test_every_unit_has_a_layer():
    assert {_unit(module) for module in MODULES} == set(LAYERS)


def test_no_import_cycle_between_modules():
    assert not _cycles(GRAPH)


def test_no_import_cycle_between_subpackages():
    units = {}
    for module, targets in GRAPH.items():
        units.setdefault(_unit(module), set()).update(_unit(t) for t in targets if _unit(t) != _unit(module))
    assert _cycles(units) == []


def test_no_upward_or_sideways_import():
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if _unit(target) != _unit(module)
        and not LAYERS[_unit(target)] < LAYERS[_unit(module)]
        and not {module, target} <= MODELING_FILES
    )
    assert wrong == []


def test_modeling_files_import_only_each_other_with_one_dot():
    for module in MODELING_FILES:
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1 and f"vito_hf.{node.module}" in MODELING_FILES, f"{module}: {ast.unparse(node)}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                assert not any(t in MODULES and t not in MODELING_FILES for t in _targets(module, False, node)), module


def test_one_module_renames_into_place():
    renaming = sorted(
        module for module, path in MODULES.items()
        if any(
            isinstance(node, ast.Attribute) and node.attr in {"replace", "rename"}
            and isinstance(node.value, ast.Name) and node.value.id == "os"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    )
    assert renaming == ["vito_hf.atomic_files"]

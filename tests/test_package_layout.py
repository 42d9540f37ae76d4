"""The package's shape, checked from its source: imports point down the layers, no family
imports another, nothing under infer/ imports a training task, no import circles (imports
inside functions count too, so none can dodge a circle), and files stay short.

Layers, low to high (DESIGN.md): a module imports only its own layer or lower ones.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "flowvox"
MAX_LINES = 450
LAYERS = {  # top-level part of flowvox -> layer
    "errors": 0, "utils": 0, "flow": 0, "_version": 0,
    "nn": 1, "audio": 1, "text": 1,
    "data": 2,
    "train": 3,
    "vocoders": 4,
    "models": 5,
    "infer": 6,
    "eval": 7, "bench": 7,
    "serve": 8,
    "cli": 9, "__main__": 9,
}  # fmt: skip
FAMILIES = ("infill", "aligned", "fastpitch", "tta", "t2s")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every flowvox module ``path`` imports, at module level or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "flowvox"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "flowvox":
                continue
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


ROOT_LAYER = 8.5  # `flowvox` itself re-exports the Synthesizer; only the CLI may import it


def layer(module: str) -> float:
    if module == "flowvox":
        return ROOT_LAYER
    return LAYERS[module.split(".")[1]]


def family(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "models" and parts[2] in FAMILIES else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(root: str) -> None:
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return out


def test_no_import_circles(graph):
    found = cycles(graph)
    assert found == [], "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_finds_circles():
    toy = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(toy) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_point_down_the_layers(graph):
    upward = [
        f"{src} -> {dst}"
        for src, targets in graph.items()
        for dst in targets
        if src != "flowvox" and layer(dst) > layer(src)
    ]
    assert upward == [], "\n".join(upward)


def test_no_family_imports_another(graph):
    crossing = [
        f"{src} -> {dst}"
        for src, targets in graph.items()
        for dst in targets
        if family(src) and family(dst) and family(src) != family(dst)
    ]
    assert crossing == [], "\n".join(crossing)


def test_inference_imports_no_training_task(graph):
    training = [
        f"{src} -> {dst}"
        for src, targets in graph.items()
        if src.startswith("flowvox.infer")
        for dst in targets
        if dst.startswith("flowvox.train") or (family(dst) and dst.rsplit(".", 1)[1] == "task")
    ]
    assert training == [], "\n".join(training)


def test_nothing_imports_the_command_line(graph):
    into_cli = [
        f"{src} -> {dst}"
        for src, targets in graph.items()
        if not src.startswith(("flowvox.cli", "flowvox.__main__"))
        for dst in targets
        if dst.startswith("flowvox.cli")
        or (dst.startswith("flowvox.serve") and not src.startswith("flowvox.serve"))
    ]
    assert into_cli == [], "\n".join(into_cli)


def test_files_stay_short():
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}, f"over {MAX_LINES} lines: {long}"

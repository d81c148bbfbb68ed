"""The library's shape: it never imports Qt (it must run on servers, in training jobs and in
notebooks), and its layers point one way, without import circles."""

from __future__ import annotations

import ast
from pathlib import Path

import alexnet_tf
from tests.fresh_imports import imported_after, package_modules

QT_PACKAGES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "superqt", "qtpy")


def test_importing_every_library_module_imports_no_qt():
    modules = package_modules(alexnet_tf, skip=("alexnet_tf.resources",))
    assert "alexnet_tf.model" in modules and "alexnet_tf.training.loop" in modules
    qt = imported_after(modules, QT_PACKAGES)
    assert qt == [], f"alexnet_tf imports Qt: {qt}"


# The library's layers, lowest first: a module may import modules of its own layer or of the
# layers below it, never above. An entry names a module or a whole package (its sub-modules
# too), relative to alexnet_tf; the longest entry that matches a module decides its layer.
# A new module or package goes into the layer of what it imports and what imports it.
LAYERS = (
    ("base", ("errors", "schema", "fileio", "paths", "machine", "labels", "quiet", "stopping",
              "metrics", "jobfolder", "layer_names", "predictions", "folder_walk",
              "destinations", "temporaries")),  # no TensorFlow
    ("images", ("images", "preprocess", "serving")),
    ("model", ("model",)),
    ("weights", ("weights",)),
    ("speed choice", ("speed",)),  # which path to run, from the cache; no TensorFlow
    # The engines: TensorFlow's compiled passes; the LiteRT flatbuffer, its checked cache and
    # its classifier (no TensorFlow: the first answer runs on them alone).
    ("forward", ("forward", "flatbuffer_cache", "litert_classifier")),
    ("inference", ("inference", "render", "gradcam", "batches")),
    ("data", ("data",)),
    ("training", ("training",)),
    ("uses of a model", ("export", "folder_evaluation", "flatbuffer_build")),
    ("explain", ("explain",)),  # what units see: atlas, comparison, preferred images, attributions
    ("speed measurement", ("speed_measurement",)),  # times forward and training's own steps
    ("desktop", ("desktop",)),
    ("cli", ("cli",)),
)  # fmt: skip
# The package itself: its public names are lazy re-exports (``__getattr__``), not imports.
UNLAYERED = ("alexnet_tf",)
PACKAGE_DIR = Path(alexnet_tf.__file__).resolve().parent


def test_library_layers_point_one_way_without_circles():
    problems = layering_problems(import_graph(PACKAGE_DIR), LAYERS)
    assert problems == [], "alexnet_tf's imports break its layers:\n" + "\n".join(problems)


def test_the_layer_check_names_what_is_wrong():
    """The check itself, on a made-up package: every kind of problem is named."""
    graph = {
        "alexnet_tf.paths": {"alexnet_tf.speed"},  # up
        "alexnet_tf.speed": {"alexnet_tf.paths", "alexnet_tf.machine"},
        "alexnet_tf.machine": {"alexnet_tf.speed"},  # a circle with speed, same layer or not
        "alexnet_tf.jobfolder": set(),  # in no layer
        "alexnet_tf.cli.run": {"alexnet_tf.gone"},  # a module that does not exist
    }
    layers = (("base", ("paths", "machine")), ("speed", ("speed",)), ("cli", ("cli",)))
    problems = "\n".join(layering_problems(graph, layers))
    assert "alexnet_tf.paths (base) imports alexnet_tf.speed (speed), a higher layer" in problems
    assert "import circle: alexnet_tf.machine -> alexnet_tf.speed -> alexnet_tf.machine" in (
        problems
    )
    assert "alexnet_tf.jobfolder is in no layer" in problems
    assert "alexnet_tf.cli.run imports alexnet_tf.gone, which does not exist" in problems


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports anywhere (function bodies too), from the
    source: ``from .x import y`` counts as an import of ``x.y`` when that is a module."""
    package = package_dir.name
    files = {}
    for path in package_dir.rglob("*.py"):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    graph = {}
    for module, path in files.items():
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(here[: len(here) - node.level + 1])
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                for alias in node.names:
                    name = f"{source}.{alias.name}"
                    imported.add(name if name in files else source)
        graph[module] = {
            name for name in imported if name.split(".")[0] == package and name != module
        }
    return graph


def _layer_of(module: str, layers) -> tuple[int, str] | None:
    relative = module.split(".", 1)[1] if "." in module else ""
    best = None
    for index, (name, entries) in enumerate(layers):
        for entry in entries:
            if relative == entry or relative.startswith(entry + "."):
                if best is None or len(entry) > best[2]:
                    best = (index, name, len(entry))
    return best and best[:2]


def layering_problems(graph: dict[str, set[str]], layers) -> list[str]:
    """What breaks the layers: modules in no layer, imports of missing modules or of a higher
    layer, and import circles (each named by its modules)."""
    problems = []
    for module in sorted(graph):
        if module not in UNLAYERED and _layer_of(module, layers) is None:
            problems.append(
                f"{module} is in no layer: add it to LAYERS in tests/core/test_layering.py "
                "(and to the table in docs/architecture.md)"
            )
    for module in sorted(graph):
        own = _layer_of(module, layers)
        for target in sorted(graph[module]):
            if target not in graph:
                problems.append(f"{module} imports {target}, which does not exist")
                continue
            theirs = _layer_of(target, layers)
            if own and theirs and theirs[0] > own[0]:
                problems.append(
                    f"{module} ({own[1]}) imports {target} ({theirs[1]}), a higher layer"
                )
    problems.extend(f"import circle: {' -> '.join(c)}" for c in _circles(graph))
    return problems


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle through each group of modules that import each other (Tarjan's strongly
    connected components; a group of two or more, or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in graph[module]:
                groups.append(set(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_circle_through(group, graph) for group in groups]


def _circle_through(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        module = frontier.pop(0)
        for target in sorted(graph[module] & group):
            if target == start:
                return [*paths[module], start]
            if target not in paths:
                paths[target] = [*paths[module], target]
                frontier.append(target)
    return sorted(group)


def test_the_first_answer_path_imports_no_tensorflow():
    # classify with a cached flatbuffer and the app's first top-5 run on these alone.
    fast_path = [
        "alexnet_tf.litert_classifier",
        "alexnet_tf.flatbuffer_cache",
        "alexnet_tf.predictions",
        "alexnet_tf.cli.classify",
        "alexnet_tf.batches",
    ]
    heavy = imported_after(fast_path, ("tensorflow", "keras"))
    assert heavy == [], f"the LiteRT path imports {heavy}"

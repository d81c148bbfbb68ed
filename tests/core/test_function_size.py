"""The training engine and the app's jobs stay in parts a reader can hold: no function in
``CHECKED`` over ``MAX_LINES`` lines (docstring and comments included). A long function there mixed
several jobs before (the epoch loop was 125 lines of steps, progress, metrics, checkpoints,
watchdog and best epoch); split it rather than raise the limit."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 80
CHECKED = ("alexnet_tf/training", "app/jobs")


def _long_functions(folder: Path):
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)"


def test_no_function_in_the_training_engine_or_app_jobs_is_over_80_lines():
    long = [found for folder in CHECKED for found in _long_functions(ROOT / folder)]
    assert long == [], "split these functions:\n" + "\n".join(long)

"""``alexnet-studio classify`` answers from the cached flatbuffer without importing TensorFlow,
prints what the TensorFlow path prints, stays quiet, and survives a damaged cache."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from alexnet_tf.flatbuffer_cache import cache_files, load_cached, model_source
from tests.cli import ROOT
from tests.litert_fixtures import install_built_models
from tests.photos import sample_photo

pytestmark = pytest.mark.slow

# The CLI in a fresh interpreter, reporting afterwards whether TensorFlow was ever imported.
PROBE = (
    "import sys\n"
    "from app.launch import main\n"
    "status = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print('TENSORFLOW', 'tensorflow' in sys.modules)\n"
    "sys.exit(status)\n"
)


def _run(args, engine: str, quiet_terminal: bool = False, home: Path | None = None):
    import subprocess
    import sys

    env = dict(os.environ, ALEXNET_STUDIO_ENGINE=engine)
    if home is not None:
        env["ALEXNET_STUDIO_HOME"] = str(home)
    if quiet_terminal:
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's terminal: the app keeps it quiet
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines and lines[-1].startswith("TENSORFLOW"), result.stderr
    return result, lines[-1] == "TENSORFLOW True", "\n".join(lines[:-1])


@pytest.fixture
def job(studio_home):
    return install_built_models(studio_home)


def _classify_args(which: str, job: Path, csv: Path) -> list:
    """The classify command both engines answer: two photos, top 3, JSON lines and a CSV."""
    photos = [sample_photo("china.jpg"), sample_photo("flower.jpg")]
    model = [] if which == "imagenet" else ["--model", job]
    return ["classify", *photos, *model, "--json", "--top", "3", "--csv", csv]


@pytest.fixture(scope="module")
def tensorflow_answers(tmp_path_factory):
    """TensorFlow's answer (ALEXNET_STUDIO_ENGINE=tensorflow) to ``_classify_args``, per model,
    run once for the module in a data folder holding the same built models: returns
    ``answer(which) -> (process, imported TensorFlow, output, CSV lines)``. Several tests
    compare with it; each TensorFlow process costs an import of 3-6 s and a model load."""
    home = tmp_path_factory.mktemp("tensorflow-home")
    job = install_built_models(home)
    answers = {}

    def answer(which: str):
        if which not in answers:
            csv = home / f"{which}.csv"
            ran = _run(_classify_args(which, job, csv), "tensorflow", home=home)
            answers[which] = (*ran, csv.read_text().splitlines() if csv.exists() else [])
        return answers[which]

    return answer


def _replaced(path: Path, inode: int) -> bool:
    """Whether ``path`` is now another file than inode ``inode`` (written atomically anew)."""
    try:
        return path.stat().st_ino != inode
    except FileNotFoundError:
        return False


def _records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def _same_answers(fast: list[dict], slow: list[dict]) -> None:
    assert [r["image"] for r in fast] == [r["image"] for r in slow]
    for mine, theirs in zip(fast, slow, strict=True):
        assert mine["model"] == theirs["model"]
        assert [p["index"] for p in mine["predictions"]] == [
            p["index"] for p in theirs["predictions"]
        ]
        assert [p["label"] for p in mine["predictions"]] == [
            p["label"] for p in theirs["predictions"]
        ]
        for a, b in zip(mine["predictions"], theirs["predictions"], strict=True):
            assert abs(a["probability"] - b["probability"]) < 1e-4


@pytest.mark.parametrize("which", ["imagenet", "job"])
def test_classify_answers_without_tensorflow_and_as_tensorflow_does(
    job, tmp_path, which, tensorflow_answers
):
    args = _classify_args(which, job, tmp_path / "fast.csv")
    fast, fast_tf, fast_out = _run(args, "auto", True)
    slow, slow_tf, slow_out, slow_csv = tensorflow_answers(which)
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert not fast_tf, "the LiteRT path imported TensorFlow"
    assert slow_tf
    assert fast.stderr == "", "LiteRT's or TensorFlow's start-up lines reached the terminal"
    _same_answers(_records(fast_out), _records(slow_out))
    assert all(len(r["predictions"]) == 3 for r in _records(fast_out))
    fast_csv = (tmp_path / "fast.csv").read_text().splitlines()
    assert fast_csv[0] == slow_csv[0] and len(fast_csv) == len(slow_csv) == 3
    for mine, theirs in zip(fast_csv[1:], slow_csv[1:], strict=True):
        mine, theirs = mine.split(","), theirs.split(",")
        assert mine[0] == theirs[0] and mine[1:3] == theirs[1:3]  # image, label_1, index_1


def test_bf16_keeps_tensorflow(job):
    result, imported, _ = _run(["classify", sample_photo(), "--precision", "bf16"], "auto")
    assert result.returncode == 0, result.stderr
    assert imported


def test_a_damaged_cache_gives_tensorflows_answer_and_is_rebuilt(job, tmp_path, tensorflow_answers):
    args = _classify_args("imagenet", job, tmp_path / "answers.csv")
    _, expected_tf, expected, _ = tensorflow_answers("imagenet")
    assert expected_tf
    _, flatbuffer = cache_files(model_source(None))
    with open(flatbuffer, "r+b") as file:
        file.seek(flatbuffer.stat().st_size // 2)
        file.write(b"\x7f" * 256)
    damaged = flatbuffer.stat().st_ino
    result, imported, output = _run(args, "auto", True)
    assert result.returncode == 0 and result.stderr == ""
    assert imported, "a damaged flatbuffer must not be used: TensorFlow answers instead"
    assert _records(output) == _records(expected)
    # ... and a background process converts the model again for the next run.
    deadline = time.monotonic() + 900
    while not _replaced(flatbuffer, damaged):  # a cheap look: a rebuild replaces the file
        assert time.monotonic() < deadline, "the flatbuffer was not rebuilt"
        time.sleep(0.2)
    while load_cached(None)[0] is None:  # then checked in full (hashes 0.2 GB), as a run does
        assert time.monotonic() < deadline, "the rebuilt flatbuffer is not usable"
        time.sleep(0.5)
    result, imported, output = _run(args, "auto")
    assert not imported
    _same_answers(_records(output), _records(expected))

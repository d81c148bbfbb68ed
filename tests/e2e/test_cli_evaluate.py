"""`alexnet-studio evaluate` as a user runs it, and what a mistyped command does."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.cli import CLI, ROOT, run_cli
from tests.eval_folders import file_under, ranked_classes, write_images
from tests.model_fixtures import make_job

LABELS = ["blobs", "stripes", "checkers"]


def _no_constants(name):
    raise AssertionError(f"the JSON holds {name}")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    return make_job(tmp_path_factory.mktemp("job") / "job", LABELS)


@pytest.mark.slow
def test_report_json_csv_and_bad_files(job, tmp_path, capsys):
    from alexnet_tf.cli import run
    from alexnet_tf.inference import Classifier

    paths = write_images(tmp_path / "loose", 6, seed=5)
    ranks = ranked_classes(Classifier.load(job), paths)
    root = tmp_path / "val"
    for i, (path, ranked) in enumerate(zip(paths, ranks, strict=True)):
        file_under(root, path, LABELS[ranked[0] if i < 4 else ranked[2]])  # 4 of 6 right
    bad = root / LABELS[0] / "notes.jpg"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text("a text file named .jpg")
    (root / "misc").mkdir()

    out = tmp_path / "per_image.csv"
    result = run_cli("evaluate", root, "--model", job, "--json", "--csv", out)
    assert result.returncode == 1, result.stderr  # one file could not be read
    report = json.loads(result.stdout, parse_constant=_no_constants)
    assert report["top1"] == pytest.approx(4 / 6) and report["num_examples"] == 6
    assert report["unmatched_folders"] == ["misc"]
    assert [e["image"] for e in report["errors"]] == [str(bad)]
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 7 and sum(int(r["top1"] or 0) for r in rows) == 4
    assert rows[-1]["image"] == str(bad) and "not an image" in rows[-1]["error"]

    # The readable report (in this process: the same command without a second TF start-up).
    assert run(["evaluate", str(root), "--model", str(job)]) == 1
    printed = capsys.readouterr()
    assert "Top-1 accuracy: 66.7% (4 of 6)" in printed.out
    assert re.search(r"Speed: \d+\.\d images/s", printed.out)
    assert "match no class of the model (not evaluated): misc" in printed.out
    assert f"{bad}: error: not an image file this app can read" in printed.err


def test_without_weights_or_matching_folders_nothing_is_evaluated(tmp_path):
    (tmp_path / "cats").mkdir()
    result = run_cli("evaluate", tmp_path)
    assert result.returncode == 2 and "No ImageNet weights are installed" in result.stderr


@pytest.mark.slow
def test_sigterm_stops_cleanly_with_a_message(job, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "val" / "blobs"
    folder.mkdir(parents=True)
    from PIL import Image

    for i in range(100):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    # A terminal on stderr, so that progress is shown, as for a user.
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*CLI, "evaluate", str(tmp_path / "val"), "--model", str(job), "--crops", "10"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=follower, text=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 300
    while b"evaluating 32/100" not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if ready:
            seen += os.read(leader, 4096)
    assert b"evaluating 32/100" in seen, seen[-2000:]
    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=300)
    while True:  # the rest of what went to the terminal
        ready, _, _ = select.select([leader], [], [], 0.5)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    text = seen.decode(errors="replace")
    assert process.returncode == 130, text[-2000:]
    assert "stopping after the current batch" in text
    done = int(re.search(r"cancelled after (\d+) of 100 images; no report was made", text)[1])
    assert 32 <= done < 100
    assert stdout == ""  # no half report


def test_a_mistyped_command_is_named_and_never_opens_the_window(tmp_path):
    code = (
        "import sys\n"
        "from app.launch import main\n"
        "status = main(['evalute', 'photos'])\n"
        "print(status, 'PySide6' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert "unknown command 'evalute' (did you mean 'evaluate'?)" in result.stderr
    assert run_cli("frobnicate").returncode == 2


@pytest.mark.slow
def test_an_existing_path_named_like_a_command_still_opens_the_app(tmp_path):
    """A photo whose name is a typo of a command (no extension, as some cameras write) opens."""
    from tests.model_fixtures import install_random_weights
    from tests.photos import sample_photo

    install_random_weights()
    (tmp_path / "evalute").write_bytes(sample_photo().read_bytes())
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ALEXNET_STUDIO_EXIT_AFTER_SHOWN": "1"}
    result = run_cli("evalute", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["shown"].endswith("evalute") and shown["visible"]

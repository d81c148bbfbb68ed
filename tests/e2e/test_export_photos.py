"""Exports take a plain photo and agree with `classify`, in an interpreter without this project.

The examples of docs/export.md are run as they stand, in a fresh Python that imports only
TensorFlow, NumPy and Pillow, with a deliberately sensitive model (fc8 scaled up, so the
probabilities swing with any difference in the input).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli import ROOT, run_cli
from tests.model_fixtures import make_job
from tests.photos import sample_photo

pytestmark = pytest.mark.slow
LABELS = {"labels": ["blobs", "stripes", "checkers"]}
TOLERANCE = 1e-3  # the bound; measured differences are below 1e-4
CHECK = """
import json as _json, sys as _sys
assert not any(m.split(".")[0] in ("alexnet_tf", "app") for m in _sys.modules), "project imported"
print("RESULT " + _json.dumps(probabilities.tolist()))
"""


def doc_example(name: str) -> str:
    """The Python block after ``<!-- example: NAME -->`` in docs/export.md."""
    text = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"docs/export.md has no example {name!r}"
    return match.group(1)


# One fresh interpreter runs every example, each in a namespace of its own (as if alone):
# a second interpreter only paid TensorFlow's import again (3-6 s).
RUNNER = """
import json, sys
for name, code in json.loads(sys.stdin.read()).items():
    print("EXAMPLE " + name, flush=True)
    exec(compile(code, "docs/export.md: " + name, "exec"), {"__name__": "__main__"})
"""


def run_fresh(examples: dict[str, str], cwd: Path) -> dict[str, tuple[str, dict]]:
    """Run each of ``examples`` (name -> code) in one new interpreter in ``cwd``; per name, its
    output and the RESULT/EXTRA values it printed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", RUNNER], input=json.dumps(examples), cwd=cwd, env=env,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, tuple[list[str], dict]] = {}
    lines, values = [], {}  # anything before the first example (nothing, so far)
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key == "EXAMPLE":
            lines, values = found[value] = [], {}
        elif key in ("RESULT", "EXTRA"):
            values[key] = json.loads(value)
        else:
            lines.append(line)
    assert list(found) == list(examples), result.stdout[-3000:]
    return {name: ("\n".join(lines), values) for name, (lines, values) in found.items()}


def portrait_png(folder: Path) -> Path:
    """A real photo, cut to portrait and saved as PNG (the other resize order, another codec)."""
    path = folder / "portrait.png"
    Image.open(sample_photo("flower.jpg")).crop((100, 0, 400, 427)).save(path)
    return path


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A finished 3-class job folder whose softmax is very peaked."""
    return make_job(tmp_path_factory.mktemp("job") / "job", LABELS["labels"], fc8_scale=20, seed=7)


def classify_json(*args) -> dict[str, np.ndarray]:
    """``classify --json`` probabilities per image, in class-index order."""
    result = run_cli("classify", *args, "--json")
    assert result.returncode == 0, result.stderr
    found = {}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        row = np.zeros(len(record["predictions"]))
        for p in record["predictions"]:
            row[p["index"]] = p["probability"]
        found[Path(record["image"]).name] = row
    return found


def test_savedmodel_and_tflite_of_a_job_agree_with_classify(job, tmp_path):
    from alexnet_tf.export import export_model

    here = tmp_path / "deploy"
    here.mkdir()
    photo = here / "photo.jpg"
    photo.write_bytes(sample_photo("china.jpg").read_bytes())
    portrait = portrait_png(here)
    export_model(job, "savedmodel", here / "alexnet_savedmodel")
    export_model(job, "tflite", here / "alexnet.tflite")
    expected = classify_json(photo, portrait, "--model", job, "--top", "3")

    extra = """
import numpy as _np
_sm = tf.saved_model.load("alexnet_savedmodel")
_bytes = [open(n, "rb").read() for n in ("photo.jpg", "portrait.png")]
_out = _sm.signatures["serve_image_bytes"](images=tf.constant(_bytes))
from PIL import Image as _Image
_arrays = [_np.asarray(_Image.open(n).convert("RGB"))[None] for n in ("photo.jpg", "portrait.png")]
_rgb = [_sm.signatures["serve_rgb"](images=tf.constant(a))["probabilities"][0].numpy().tolist()
        for a in _arrays]
print("EXTRA " + _json.dumps({"bytes": _out["probabilities"].numpy().tolist(), "rgb": _rgb,
      "top": [t.decode() for t in _out["top_label"].numpy()]}))
"""
    ran = run_fresh(
        {"savedmodel": doc_example("savedmodel") + CHECK + extra,
         "tflite": doc_example("tflite") + CHECK},
        here,
    )  # fmt: skip
    output, values = ran["savedmodel"]
    assert re.search(r"^(blobs|stripes|checkers): \d+\.\d%$", output, re.M), output
    differences = {"savedmodel doc": np.abs(values["RESULT"] - expected["photo.jpg"]).max()}
    for index, name in enumerate(("photo.jpg", "portrait.png")):
        for kind in ("bytes", "rgb"):
            got = np.asarray(values["EXTRA"][kind][index])
            differences[f"{kind} {name}"] = np.abs(got - expected[name]).max()
        assert values["EXTRA"]["top"][index] == LABELS["labels"][int(expected[name].argmax())]

    assert json.loads((here / "labels.json").read_text())["labels"] == LABELS["labels"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        import tensorflow as tf

        signature = tf.lite.Interpreter(str(here / "alexnet.tflite")).get_signature_list()
    assert signature == {"classify": {"inputs": ["image"], "outputs": ["probabilities"]}}
    _, values = ran["tflite"]
    differences["tflite"] = np.abs(values["RESULT"] - expected["photo.jpg"]).max()
    print("max |export - classify|:", differences)  # shown with -s: the measured numbers
    assert max(differences.values()) < TOLERANCE, differences


def test_imagenet_model_exports_from_the_command_line(tmp_path):
    """``--imagenet`` exports the installed model with its 1000 names (the SavedModel and TFLite
    paths are the ones tested above on a job's model; here the cheap keras format)."""
    from alexnet_tf.images import load_image
    from alexnet_tf.inference import Classifier
    from tests.model_fixtures import install_random_weights

    install_random_weights()
    result = run_cli("export", "--imagenet", "--format", "keras", "--out", tmp_path / "in.keras")
    assert result.returncode == 0, result.stderr
    assert "exported the ImageNet model (keras)" in result.stdout
    labels = json.loads((tmp_path / "labels.json").read_text())["labels"]
    assert len(labels) == 1000 and labels[281] == "tabby, tabby cat"
    photo = load_image(sample_photo())
    exported = Classifier.load(tmp_path / "in.keras").classify(photo)
    assert exported == Classifier.load(None).classify(photo)


def test_export_needs_a_job_or_imagenet_and_installed_weights(tmp_path):
    result = run_cli("export", "--format", "keras", "--out", tmp_path / "x.keras")
    assert result.returncode == 2 and "JOB_DIR" in result.stderr
    result = run_cli("export", "--imagenet", "--format", "keras", "--out", tmp_path / "x.keras")
    assert result.returncode == 1 and "No ImageNet weights are installed" in result.stderr
    assert not (tmp_path / "x.keras").exists()

"""Hostile files: models and weights that would run code or exhaust memory.

Models with Lambda layers or unknown classes, in .keras and .h5, are refused by
``Classifier.load``, by ``classify --model`` and by the app's model worker, and their code
never runs (each Lambda would create a marker file; the control shows it does when loaded
with safe mode off). .npy files whose pickle names anything but dicts, lists and arrays are
refused without running it; caffemodels with absurd sizes or broken structure are refused at
once, within a 2 GiB address-space limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import h5py
import keras
import numpy as np
import pytest
from keras.src.saving import serialization_lib
from PIL import Image

from alexnet_tf.errors import ModelLoadError, WeightsError
from alexnet_tf.inference import Classifier
from alexnet_tf.weights import store
from tests.cli import run_cli
from tests.synthetic_weights import field_bytes, field_varint

MARKER_VARIABLE = "ALEXNET_HOSTILE_MARKER"  # where the hostile Lambda writes its marker


def _tiny_model(with_lambda: bool) -> keras.Model:
    inputs = keras.Input((227, 227, 3))
    # What a hostile Lambda runs: it creates the file named by the environment variable. A
    # Python lambda, so Keras stores its bytecode (a named function would be stored by name),
    # and self-contained: it runs with no globals of this module.
    marking = lambda t: (  # noqa: E731
        t
        if __import__("pathlib").Path(__import__("os").environ["ALEXNET_HOSTILE_MARKER"]).touch()
        is None
        else t
    )
    x = keras.layers.Lambda(marking)(inputs) if with_lambda else inputs
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="fc")(x))


def _edit_keras_config(source, destination, edit) -> None:
    """Copy a .keras zip, passing its config.json through ``edit(config) -> config``."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = edit(json.loads(members["config.json"]))
    members["config.json"] = config if isinstance(config, bytes) else json.dumps(config).encode()
    with zipfile.ZipFile(destination, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


def _dense_layer(config) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")


def _unknown_class(config):
    _dense_layer(config)["class_name"] = "EvilLayer"
    return config


def _foreign_module(config):
    _dense_layer(config).update(module="os", class_name="system", registered_name=None)
    return config


def _unregistered_custom(config):
    _dense_layer(config).update(module=None, registered_name="alexnet_tf>EvilLayer")
    return config


def _unsafe_switch(config):
    """A 'layer' that is Keras' own switch for turning safe mode off."""
    _dense_layer(config).update(module="keras.config", class_name="enable_unsafe_deserialization")
    return config


def _deeply_nested(config):
    return b'{"class_name": "Functional", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Hostile model files by case name, plus the marker path their Lambdas would create."""
    folder = tmp_path_factory.mktemp("hostile-models")
    marker = folder / "code-ran"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MARKER_VARIABLE, str(marker))
        hostile = _tiny_model(with_lambda=True)  # building it runs the Lambda once
        hostile.save(folder / "lambda.keras")
        hostile.save(folder / "lambda.h5")
    marker.unlink()
    plain = _tiny_model(with_lambda=False)
    plain.save(folder / "plain.keras")
    plain.save(folder / "plain.h5")
    files = {"lambda.keras": folder / "lambda.keras", "lambda.h5": folder / "lambda.h5"}
    for name, edit in [
        ("unknown-class.keras", _unknown_class),
        ("foreign-module.keras", _foreign_module),
        ("unregistered-custom.keras", _unregistered_custom),
        ("unsafe-switch.keras", _unsafe_switch),
        ("deeply-nested.keras", _deeply_nested),
    ]:
        _edit_keras_config(folder / "plain.keras", folder / name, edit)
        files[name] = folder / name
    # .h5: the model's config is the file's model_config attribute
    files["unknown-class.h5"] = folder / "unknown-class.h5"
    os.link(folder / "plain.h5", files["unknown-class.h5"])
    with h5py.File(files["unknown-class.h5"], "r+") as h5:
        h5.attrs["model_config"] = json.dumps(_unknown_class(json.loads(h5.attrs["model_config"])))
    files["h5-named-keras.keras"] = folder / "h5-named-keras.keras"  # judged by content
    os.link(folder / "lambda.h5", files["h5-named-keras.keras"])
    return files, marker


CASES = {
    "lambda.keras": "refused by safe mode: the file contains Python code",
    "lambda.h5": "legacy HDF5 (.h5) Keras model",
    "h5-named-keras.keras": "legacy HDF5 (.h5) Keras model",
    "unknown-class.h5": "legacy HDF5 (.h5) Keras model",
    "unknown-class.keras": "uses layers this app does not know",
    "foreign-module.keras": "uses os.system, which is neither part of Keras nor of this app",
    "unregistered-custom.keras": "uses 'alexnet_tf>EvilLayer', a class this app does not know",
    "unsafe-switch.keras": "calls a Keras function that is not part of a model",
    "deeply-nested.keras": "damaged Keras model file",
}


@pytest.mark.parametrize("case", CASES)
def test_hostile_model_is_refused_by_name_and_reason_and_runs_nothing(models, case, monkeypatch):
    files, marker = models
    monkeypatch.setenv(MARKER_VARIABLE, str(marker))
    with pytest.raises(ModelLoadError) as caught:
        Classifier.load(files[case])
    message = str(caught.value)
    assert message.startswith(f"{files[case]}: ")
    assert CASES[case] in message
    assert not marker.exists()
    assert serialization_lib.in_safe_mode() is not False  # safe mode was not switched off


def test_fine_tuning_from_a_hostile_job_model_is_refused_and_runs_nothing(
    models, tmp_path, monkeypatch
):
    from alexnet_tf.model import build_alexnet
    from alexnet_tf.training.initial_weights import apply_init

    files, marker = models
    monkeypatch.setenv(MARKER_VARIABLE, str(marker))
    job = tmp_path / "job"  # a "finished job" whose model someone replaced
    (job / "model").mkdir(parents=True)
    os.link(files["lambda.keras"], job / "model" / "model.keras")
    with pytest.raises(ModelLoadError, match="refused by safe mode"):
        apply_init(build_alexnet(2), str(job))
    assert not marker.exists()


def test_the_lambda_files_really_run_code_when_safe_mode_is_off(models, monkeypatch):
    """The control: Keras with safe mode off runs the Lambda of both files."""
    files, marker = models
    monkeypatch.setenv(MARKER_VARIABLE, str(marker))
    for name in ("lambda.keras", "lambda.h5"):
        keras.saving.load_model(files[name], compile=False, safe_mode=False)
        assert marker.exists(), name
        marker.unlink()


def test_safe_mode_is_still_on_after_a_file_asks_to_turn_it_off(models, monkeypatch):
    files, marker = models
    monkeypatch.setenv(MARKER_VARIABLE, str(marker))
    with pytest.raises(ModelLoadError):
        Classifier.load(files["unsafe-switch.keras"])
    # Keras itself would refuse the Lambda now, not only this app's check of config.json
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(files["lambda.keras"], compile=False, safe_mode=True)
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["lambda.keras", "unknown-class.h5"])
def test_classify_command_refuses_a_hostile_model(models, case, tmp_path, monkeypatch):
    files, marker = models
    monkeypatch.setenv(MARKER_VARIABLE, str(marker))
    image = tmp_path / "photo.png"
    Image.fromarray(np.full((32, 32, 3), 99, np.uint8)).save(image)
    result = run_cli("classify", "--model", files[case], image)
    assert result.returncode == 2
    assert f"error: {files[case]}: " in result.stderr
    assert CASES[case] in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_app_model_worker_reports_the_refusal(models, monkeypatch):
    """The app's path (model chooser -> model worker -> notice): the worker emits the
    library's message, which the window shows as a notice."""
    from app.model_worker import ModelWorker

    files, marker = models
    monkeypatch.setenv(MARKER_VARIABLE, str(marker))
    worker = ModelWorker()
    failures, loaded = [], []
    worker.model_load_failed.connect(failures.append)
    worker.model_loaded.connect(loaded.append)
    for case in ("lambda.h5", "foreign-module.keras"):
        worker.load_model(str(files[case]))
    assert loaded == [] and worker.classifier is None
    assert len(failures) == 2
    for case, message in zip(("lambda.h5", "foreign-module.keras"), failures, strict=True):
        assert message.startswith(f"{files[case]}: ") and CASES[case] in message
    assert not marker.exists()


# --- hostile weight files ----------------------------------------------------------------


class _Runs:
    """Pickles as a call of ``function(*arguments)``: what a hostile .npy would carry."""

    def __init__(self, function, *arguments):
        self.call = (function, arguments)

    def __reduce__(self):
        return self.call


def _hostile_payloads(marker):
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    return {
        "eval": _Runs(eval, touch),
        "exec": _Runs(exec, touch),
        "subprocess": _Runs(subprocess.Popen, ["touch", str(marker)]),
        "numpy-load": _Runs(np.load, str(marker)),  # a numpy name outside the stand-ins
        "int": 7,
        "text": "conv1",
        "none": None,
    }


@pytest.mark.parametrize("payload", list(_hostile_payloads("x")))
def test_npy_holding_anything_but_dicts_lists_and_arrays_runs_nothing(tmp_path, payload):
    marker = tmp_path / "code-ran"
    zeros = np.zeros(2, np.float32)
    layers = {"conv1": [zeros, _hostile_payloads(marker)[payload]], "fc8": [zeros, zeros]}
    path = tmp_path / "bvlc_alexnet.npy"
    np.save(path, layers, allow_pickle=True)  # pickles the payload; runs nothing
    with pytest.raises(WeightsError) as caught:
        store.import_weights_file(path)
    assert str(caught.value).startswith(f"{path}: refused: ")
    assert not marker.exists() and not store.weights_installed()


def _blob(dims=None, legacy=None, data: bytes = b"", data_field=field_bytes) -> bytes:
    out = b""
    if legacy is not None:
        out += b"".join(field_varint(f, d) for f, d in zip((1, 2, 3, 4), legacy, strict=True))
    if dims is not None:
        packed = b"".join(field_varint(1, d)[1:] for d in dims)  # packed varints
        out += field_bytes(7, field_bytes(1, packed))
    return out + data_field(5, data)


def _caffemodel(*blobs: bytes, name: str = "conv1", kind: bytes = b"Convolution") -> bytes:
    layer = field_bytes(1, name.encode()) + field_bytes(2, kind)
    layer += b"".join(field_bytes(7, blob) for blob in blobs)
    return field_bytes(1, b"AlexNet") + field_bytes(100, layer)


def _nested(depth: int) -> bytes:
    inner = b""
    for _ in range(depth):
        inner = field_bytes(7, inner)
    return inner


ABSURD_CAFFEMODELS = {
    # a blob that claims 10**12 floats (4 TB) and holds 4 bytes
    "tera-floats": (_caffemodel(_blob(legacy=(10**6, 10**6, 1, 1), data=b"\0" * 4)), "absurd"),
    "huge-dim": (_caffemodel(_blob(dims=(1 << 40,), data=b"\0" * 4)), "absurd shape"),
    # eight dims of 2**16: 2**128 values, which int64 arithmetic wraps round to 0
    "wrapping-dims": (_caffemodel(_blob(dims=(1 << 16,) * 8)), "absurd shape"),
    "million-dims": (_caffemodel(_blob(dims=(1,) * 1_000_000)), "more than 8 dimensions"),
    # a layer whose length field claims 2**60 bytes
    "exabyte-field": (
        field_bytes(1, b"AlexNet") + b"\xa2\x06" + field_varint(1, 1 << 60)[1:] + b"abc",
        "only 3 remain",
    ),
    "float-data-as-varint": (
        _caffemodel(_blob(dims=(1,), data=b"", data_field=lambda f, _: field_varint(f, 7))),
        "wire type 0",
    ),
    "deep-nesting": (_caffemodel(_nested(10_000)), "needs 1 values, has 0"),
    "truncated": (_caffemodel(_blob(dims=(2,), data=b"\0" * 8))[:-3], "truncated"),
}


@pytest.mark.parametrize("case", ABSURD_CAFFEMODELS)
def test_absurd_caffemodel_is_refused_by_name_and_reason(tmp_path, case):
    content, reason = ABSURD_CAFFEMODELS[case]
    path = tmp_path / "bvlc_alexnet.caffemodel"
    path.write_bytes(content)
    with pytest.raises(WeightsError) as caught:
        store.import_weights_file(path)
    assert str(caught.value).startswith(f"{path}: ") and reason in str(caught.value)
    assert not store.weights_installed()


_BOUNDED_READER = """
import resource, sys
from pathlib import Path
limit = 2 * 1024**3  # 2 GiB of address space: any attempt to honour a claim would fail
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from alexnet_tf.errors import WeightsError
from alexnet_tf.weights.caffemodel import read_caffemodel_weights
for path in sorted(Path(sys.argv[1]).iterdir()):
    try:
        read_caffemodel_weights(path)
    except WeightsError as error:
        print(path.name, "refused:", error)
    else:
        print(path.name, "ACCEPTED")
"""


def test_absurd_caffemodels_are_refused_within_bounded_memory(tmp_path):
    for case, (content, _) in ABSURD_CAFFEMODELS.items():
        (tmp_path / f"{case}.caffemodel").write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-c", _BOUNDED_READER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,  # about hanging forever, not speed
    )
    assert result.returncode == 0, result.stderr[-2000:]  # no MemoryError, no crash
    lines = result.stdout.splitlines()
    assert len(lines) == len(ABSURD_CAFFEMODELS)
    for case, (_, reason) in ABSURD_CAFFEMODELS.items():
        line = next(line for line in lines if line.startswith(f"{case}.caffemodel "))
        assert "refused:" in line and reason in line, line

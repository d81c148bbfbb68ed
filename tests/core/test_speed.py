"""Execution paths chosen per machine: the cache key, the choice from measured figures, the
variable that forces a path, and fp32 results that do not depend on the path.

The real measurement runs in tests/e2e/test_speed_info.py; here the figures are the ones the
issue reports for the two CPU kinds, so the choices they imply are checked without timing.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from alexnet_tf import speed
from alexnet_tf.machine import describe_machine

# Figures measured on the two CPUs of the issue (images/s; ms for one image).
EPYC_AVX2 = {
    "inference": {"single_ms": {"xla": 22.2, "graph": 25.0},
                  "batch_images_per_s": {"xla": 74.7, "graph": 78.0}},
    "training": {"fp32": {"xla": 22.6, "graph": 21.4}, "bf16": {"xla": 21.6, "graph": 2.1}},
}  # fmt: skip
XEON_AMX = {
    "inference": {"single_ms": {"xla": 35.0, "graph": 24.5},
                  "batch_images_per_s": {"xla": 60.0, "graph": 105.0}},
    "training": {"fp32": {"xla": 42.0, "graph": 53.0}, "bf16": {"xla": 42.0, "graph": 91.0}},
}  # fmt: skip


def entry_for(machine, figures: dict) -> dict:
    entry = {
        "key": machine.key(),
        "measured_at": "2026-12-04T10:00:00",
        "bf16_units": list(machine.bf16_units),
        "settings": {"train_batch": 4, "inference_batch": 8, "rounds": 2},
        "seconds": 12.0,
        **figures,
    }
    entry["choice"] = speed.choose(entry)
    return entry


@pytest.fixture
def measured_automatically(monkeypatch):
    """As a user runs: no path forced (the test suite forces XLA by default)."""
    monkeypatch.delenv(speed.FORCE_ENV, raising=False)


def test_figures_of_each_cpu_pick_its_own_paths():
    machine = describe_machine()
    epyc = entry_for(machine, EPYC_AVX2)["choice"]
    assert epyc == {
        "single": "xla", "batch": "graph", "train": {"fp32": "xla", "bf16": "xla"},
        "precision": "fp32",
    }  # fmt: skip
    xeon = entry_for(machine, XEON_AMX)["choice"]
    assert xeon == {
        "single": "graph", "batch": "graph", "train": {"fp32": "graph", "bf16": "graph"},
        "precision": "bf16",
    }  # fmt: skip


def test_precision_advice_says_what_was_measured():
    machine = describe_machine()
    xeon = speed.precision_advice(entry_for(machine, XEON_AMX))
    assert "bf16 trains 1.72x as fast as fp32 on this machine (faster: recommended" in xeon
    epyc = speed.precision_advice(entry_for(machine, EPYC_AVX2))
    assert "(slower; measured 21.6 vs 22.6 images/s)" in epyc
    assert "Not measured" in speed.precision_advice(None)


def test_cache_is_keyed_by_device_and_versions(measured_automatically):
    machine = describe_machine()
    assert speed.read_measurement(machine) is None
    assert speed.inference_path(1) == speed.DEFAULT_PATH == "xla"
    speed.save_measurement(entry_for(machine, XEON_AMX))
    assert speed.read_measurement(machine)["choice"]["single"] == "graph"
    assert speed.inference_path(1) == "graph" and speed.train_path("bf16") == "graph"
    # Any part of the key changing means: not measured (so measured again), never reused.
    for change in (
        {"tensorflow": "2.22.0"},
        {"project": "0.2.0"},
        {"cpu_model": "Intel(R) Xeon(R) Platinum 8480+"},
        {"cpu_flags": (*machine.cpu_flags, "amx_bf16")},
        {"gpus": ("NVIDIA A100-SXM4-40GB",)},
        {"onednn": "0"},
    ):
        other = dataclasses.replace(machine, **change)
        assert speed.read_measurement(other) is None, change
        speed.save_measurement(entry_for(other, EPYC_AVX2))
    # Both machines' entries live side by side; this one's is unchanged.
    assert speed.read_measurement(machine)["choice"]["single"] == "graph"
    text = speed.cache_path().read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_a_damaged_cache_means_not_measured(measured_automatically):
    speed.cache_path().write_text("{not json")
    assert speed.read_measurement() is None
    assert speed.train_path("fp32") == "xla"


def test_the_environment_variable_forces_a_path(monkeypatch):
    speed.save_measurement(entry_for(describe_machine(), XEON_AMX))
    monkeypatch.setenv(speed.FORCE_ENV, "xla")
    assert speed.inference_path(1) == speed.train_path("bf16") == "xla"
    assert speed.start_background_measurement() is None  # forced: nothing to measure
    monkeypatch.setenv(speed.FORCE_ENV, "graph")
    assert speed.inference_path(32) == speed.train_path("fp32") == "graph"
    monkeypatch.setenv(speed.FORCE_ENV, "fast")
    with pytest.raises(speed.ExecutionSettingError, match="xla, graph or auto"):
        speed.inference_path(1)


def test_fp32_top5_is_the_same_on_both_paths(monkeypatch):
    import keras

    from alexnet_tf.forward import CompiledForward
    from alexnet_tf.model import build_alexnet

    keras.utils.set_random_seed(7)
    model = build_alexnet(num_classes=50)
    batch = np.random.default_rng(3).normal(0, 50, (3, 227, 227, 3)).astype(np.float32)
    top5 = {}
    for path in speed.PATHS:
        monkeypatch.setenv(speed.FORCE_ENV, path)
        forward = CompiledForward(model)
        assert forward.paths == {"single": path, "batch": path}
        probabilities = np.concatenate([forward(batch[:1])["prob"], forward(batch[1:])["prob"]])
        top5[path] = np.argsort(-probabilities, axis=1)[:, :5]
    np.testing.assert_array_equal(top5["xla"], top5["graph"])


def test_bf16_inference_stays_close_to_fp32():
    from alexnet_tf.forward import CompiledForward
    from alexnet_tf.model import build_alexnet

    model = build_alexnet(num_classes=10)
    batch = np.random.default_rng(5).normal(0, 50, (2, 227, 227, 3)).astype(np.float32)
    exact = CompiledForward(model, ("fc7", "prob"))(batch)
    rough = CompiledForward(model, ("fc7", "prob"), precision="bf16")(batch)
    assert rough["prob"].dtype == np.float32 and rough["fc7"].dtype == np.float32
    np.testing.assert_allclose(rough["prob"].sum(axis=1), 1.0, rtol=1e-3)
    np.testing.assert_allclose(rough["prob"], exact["prob"], atol=0.05)

"""Strategy selection: what a training process runs on, and clear errors for impossible asks.

Logical CPU devices must be configured before TensorFlow initialises its devices, so the
cases that configure them run in fresh interpreters.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from alexnet_tf.training.strategy import StrategyError, is_chief_process, select_strategy

SCRIPT = """
import json, sys
from alexnet_tf.training.strategy import select_strategy, StrategyError
case = sys.argv[1]
if case == "split":
    choice = select_strategy(2)
    import tensorflow as tf
    print(json.dumps({"kind": choice.kind, "replicas": choice.num_replicas,
                      "description": choice.description,
                      "devices": len(tf.config.list_logical_devices("CPU"))}))
elif case == "too-late":
    import tensorflow as tf
    tf.constant(1.0) + 1.0  # initialises the devices
    try:
        select_strategy(2)
    except StrategyError as error:
        print(json.dumps({"error": str(error)}))
"""


def _run(case: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, case], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_default_is_the_cpu_and_says_so():
    choice = select_strategy()
    assert choice.kind == "cpu"
    assert "CPU" in choice.description
    assert choice.num_replicas == 1 and choice.is_chief


def test_cpu_replicas_split_the_cpu_into_mirrored_logical_devices():
    info = _run("split")
    assert info["kind"] == "cpu-replicas"
    assert info["replicas"] == 2 and info["devices"] == 2
    assert "2 logical CPU devices" in info["description"]


def test_splitting_the_cpu_after_tensorflow_started_is_a_clear_error():
    info = _run("too-late")
    assert "before TensorFlow" in info["error"] or "once TensorFlow" in info["error"]
    assert "cpu_replicas=2" in info["error"]


@pytest.mark.parametrize("replicas", [0, -1, 1.5, True])
def test_replica_count_must_be_a_positive_integer(replicas):
    with pytest.raises(StrategyError, match="Received: cpu_replicas="):
        select_strategy(replicas)


def test_malformed_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(StrategyError, match="TF_CONFIG is not valid JSON"):
        select_strategy()


def test_cpu_replicas_and_several_workers_cannot_be_combined(monkeypatch):
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"index": 1}}))
    assert not is_chief_process()
    with pytest.raises(StrategyError, match="cannot be combined with a multi-worker"):
        select_strategy(2)

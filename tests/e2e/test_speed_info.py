"""The commands as a user runs them: TensorFlow's C++ start-up lines stay off the terminal
(unless asked for), the real measurement fills the cache, and `info` says what it chose
(`train --help` points there). Timings are never asserted: only what was chosen from what
was measured."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from alexnet_tf import speed
from alexnet_tf.machine import describe_machine
from alexnet_tf.quiet import NATIVE_LOG, VERBOSE_ENV
from tests.cli import ROOT, run_cli
from tests.core.test_speed import XEON_AMX, entry_for
from tests.model_fixtures import install_random_weights

# Pieces of the lines TensorFlow's C++ code prints at start-up, first device use and first
# XLA compilation (seen on this machine: absl, cudart stub, cpu_feature_guard, cuInit, XLA).
TF_MARKERS = (
    "absl::InitializeLog", "cuda drivers", "cuInit", "cpu_feature_guard",
    "oneDNN custom operations", "XLA service", "StreamExecutor", "I0000 ", "E0000 ",
)  # fmt: skip


def user_env(**extra) -> dict:
    """This test's environment as a user's shell would have it: no TF_CPP_MIN_LOG_LEVEL,
    nothing forced, not verbose (the test suite sets some of these for itself)."""
    unset = ("TF_CPP_MIN_LOG_LEVEL", speed.FORCE_ENV, VERBOSE_ENV)
    env = {key: value for key, value in os.environ.items() if key not in unset}
    env.update(extra)
    return env


def tf_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(m in line for m in TF_MARKERS)]


@pytest.mark.slow
def test_measurement_info_and_train_help_with_a_quiet_terminal(studio_home):
    # The real measurement, made small (batch 1, one round) to keep the test short.
    measured = subprocess.run(
        [sys.executable, "-m", "alexnet_tf.speed_measurement", "--train-batch", "1",
         "--inference-batch", "2", "--rounds", "1"],
        cwd=ROOT, env=user_env(ALEXNET_STUDIO_ENGINE="auto"), capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    assert measured.returncode == 0, measured.stderr[-3000:]
    assert tf_lines(measured.stderr) == []
    entry = speed.read_measurement()
    assert entry is not None, "the measurement did not cache this machine's key"
    choice = entry["choice"]

    info = run_cli("info", env=user_env(ALEXNET_STUDIO_ENGINE="auto"))
    assert info.returncode == 0, info.stderr
    assert tf_lines(info.stderr) == [], info.stderr
    out = info.stdout
    assert "bf16 units:" in out and "vector units:" in out and "TensorFlow devices: CPU:0" in out
    single = entry["inference"]["single_ms"]
    assert f"inference, 1 image:   {choice['single']:<5}  (xla {single['xla']:g} ms" in out
    for precision, path in choice["train"].items():
        assert f"training, {precision}:       {path:<5}" in out
    assert f"recommended training precision: {choice['precision']}" in out
    # Every engine for inference was measured, LiteRT's flatbuffer too, and info says which
    # one answers.
    from alexnet_tf.litert_classifier import measured_engines

    litert = entry["litert"]
    assert litert["single_ms"] > 0 and litert["batch_images_per_s"] > 0
    assert f"LiteRT (flatbuffer):  {litert['single_ms']:g} ms per image" in out
    assert f"engine, 1 image:      {measured_engines(entry)['single']};" in out
    assert "bf16 trains" in out and "as fast as fp32 on this machine" in out
    assert f"data folder: {studio_home}" in out
    # The lines the terminal did not get are in the log.
    assert tf_lines((studio_home / "logs" / NATIVE_LOG).read_text())

    # --help reads no cache (a damaged one once broke it): it says where the figures are.
    help_text = run_cli("train", "--help", env=user_env())
    assert help_text.returncode == 0 and help_text.stderr == ""
    assert "see the `info` command" in " ".join(help_text.stdout.split())

    # A user's own TF_CPP_MIN_LOG_LEVEL is theirs: at 0, TensorFlow's lines reach the terminal.
    chatty = run_cli("info", env=user_env(TF_CPP_MIN_LOG_LEVEL="0"))
    assert chatty.returncode == 0 and tf_lines(chatty.stderr)


@pytest.mark.slow
def test_classify_is_quiet_and_verbose_shows_tensorflow(tmp_path):
    install_random_weights()
    photo = tmp_path / "photo.png"
    Image.radial_gradient("L").convert("RGB").resize((300, 200)).save(photo)
    env = user_env(**{speed.FORCE_ENV: "xla"})  # no background measurement from this test

    quiet = run_cli("classify", photo, "--json", env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    fp32 = json.loads(quiet.stdout)["predictions"]

    # --verbose (and bf16 inference): TensorFlow's lines are shown, results still come.
    verbose = run_cli("--verbose", "classify", photo, "--json", "--precision", "bf16", env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert tf_lines(verbose.stderr)
    bf16 = json.loads(verbose.stdout)["predictions"]
    assert fp32[0]["index"] in [p["index"] for p in bf16]  # close to fp32, not bit-equal


@pytest.mark.slow
def test_app_launch_keeps_the_terminal_quiet(tmp_path):
    install_random_weights()
    photo = tmp_path / "photo.png"
    Image.radial_gradient("L").convert("RGB").resize((320, 240)).save(photo)
    env = user_env(QT_QPA_PLATFORM="offscreen", ALEXNET_STUDIO_EXIT_AFTER_SHOWN="1")
    env[speed.FORCE_ENV] = "xla"
    app = run_cli(photo, env=env)
    assert app.returncode == 0, app.stderr[-3000:]
    assert '"shown"' in app.stdout
    assert tf_lines(app.stderr) == [], app.stderr[-3000:]


def test_background_measurement_starts_once_per_key(monkeypatch):
    monkeypatch.delenv(speed.FORCE_ENV, raising=False)
    machine = describe_machine()
    speed.save_measurement(entry_for(machine, XEON_AMX))
    assert speed.start_background_measurement() is None  # measured: nothing to do
    # The same machine after a TensorFlow upgrade: the old figures do not count.
    upgraded = dataclasses.replace(machine, tensorflow="0.0.1")
    speed.cache_path().write_text(json.dumps({"entries": {
        speed.key_id(upgraded.key()): entry_for(upgraded, XEON_AMX)}}))  # fmt: skip
    process = speed.start_background_measurement()
    assert process is not None
    try:
        deadline = time.monotonic() + 30
        while not speed.measurement_running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert speed.measurement_running()
        assert speed.start_background_measurement() is None  # one at a time per data folder
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)

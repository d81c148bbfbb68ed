"""Models with their LiteRT flatbuffer already built, for the tests of the fast engine.

Converting AlexNet takes ~15-60 s on the 2-core test machine, so each model is built once per
test process in a folder of its own and its files are put into each test's data folder: the
weights hard-linked (tests replace them atomically, never in place), the flatbuffer and its
key copied (tests damage them in place).
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

JOB_LABELS = ["cat", "dog", "bird"]


def _in_home(home: Path, action):
    previous = os.environ.get("ALEXNET_STUDIO_HOME")
    os.environ["ALEXNET_STUDIO_HOME"] = str(home)
    try:
        return action()
    finally:
        if previous is None:
            os.environ.pop("ALEXNET_STUDIO_HOME", None)
        else:
            os.environ["ALEXNET_STUDIO_HOME"] = previous


@functools.cache
def built_models() -> tuple[Path, Path]:
    """A data folder with synthetic ImageNet weights (tests/synthetic_weights.py) and a
    fine-tuned job, both converted; returns (that folder, the job folder)."""
    from alexnet_tf.flatbuffer_build import build_flatbuffer
    from tests.model_fixtures import make_job
    from tests.synthetic_weights import install_synthetic_imagenet_weights

    home = Path(tempfile.mkdtemp(prefix="alexnet-litert-"))
    atexit.register(shutil.rmtree, home, True)
    install_synthetic_imagenet_weights(home)
    job = make_job(home / "jobs" / "pets", JOB_LABELS)
    _in_home(home, lambda: build_flatbuffer(None))
    _in_home(home, lambda: build_flatbuffer(job))
    return home, job


def install_built_models(home: Path) -> Path:
    """Put the built weights and flatbuffers into ``home``; return the job folder."""
    built, job = built_models()
    for name in ("weights", "litert"):
        (home / name).mkdir(parents=True, exist_ok=True)
        for file in (built / name).iterdir():
            if not file.is_file():
                continue
            if name == "weights":
                os.link(file, home / name / file.name)
            else:
                shutil.copyfile(file, home / name / file.name)
    return job

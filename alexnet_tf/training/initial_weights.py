"""The weights a job starts from: ImageNet's, another job's model, or random."""

from __future__ import annotations

from pathlib import Path

from ..jobfolder import has_model, model_file
from .settings import SettingsError


def resolve_init(init: str) -> tuple[str, str]:
    """``(init, description)``; "auto" is "imagenet" when weights are installed, else "scratch"."""
    from ..weights.store import installed_weights_info, weights_installed

    if init == "auto":
        init = "imagenet" if weights_installed() else "scratch"
        if init == "scratch":
            return init, (
                "random (from scratch): no ImageNet weights are installed, so the network "
                "starts knowing nothing; install them with `alexnet-studio weights download` "
                "for much better results"
            )
    if init == "imagenet":
        info = installed_weights_info()
        if info is None:
            from ..errors import WeightsNotInstalledError

            raise WeightsNotInstalledError()
        return init, f"ImageNet (BVLC AlexNet, {info.get('source', 'installed weights')})"
    if init == "scratch":
        return init, "random (from scratch), as requested"
    job = Path(init).expanduser().resolve()
    if not has_model(job):
        raise SettingsError(
            "init must be 'imagenet', 'scratch' or a finished job folder (with model/model.keras). "
            f"Received: init={init!r}"
        )
    return str(job), f"the model of job {job}"


def apply_init(model, init: str) -> None:
    """Copy conv1..fc7 (and fc8 when its shape fits) from the initial weights into ``model``."""
    if init == "scratch":
        return
    if init == "imagenet":
        from ..weights.store import load_imagenet_model

        source = load_imagenet_model()
    else:  # another job's model: the same checked loader as every model a user opens
        from ..inference import load_model_file

        source = load_model_file(model_file(init))
    from ..model import WEIGHT_LAYERS

    for name in WEIGHT_LAYERS:
        weights = source.get_layer(name).get_weights()
        target = model.get_layer(name)
        if [w.shape for w in weights] == [w.shape for w in target.get_weights()]:
            target.set_weights(weights)

"""The photo on screen before any model is ready: a quick, reduced decode in the GUI thread.

Opening a photo while the model loads used to leave an empty drop area for seconds. The
preview goes through ``alexnet_tf.images.load_image`` (the one loader of user images, with
its checks) and is shrunk to the display size; JPEGs are decoded at a reduced scale by
Pillow's draft mode, so a 12-megapixel photo costs tens of milliseconds, not hundreds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from alexnet_tf.images import load_image

from .model_worker import DISPLAY_SIZE


def preview_rgb(source: Path | Image.Image) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB of a file (or a pasted image), longest side ``DISPLAY_SIZE``.

    Raises:
        ImageLoadError: the file is not an image this app reads (the model thread reports it).
    """
    image = (
        source
        if isinstance(source, Image.Image)
        else load_image(Path(source), at_least=DISPLAY_SIZE)
    )
    copy = image.copy()
    copy.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.BILINEAR)
    return np.asarray(copy.convert("RGB"), np.uint8)

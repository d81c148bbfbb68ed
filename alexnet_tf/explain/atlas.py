"""The unit atlas: for every unit of conv1..fc8, the images of a folder that excite it most.

One forward pass per batch of images, at the batch size ``classify`` uses, returns the eight
layers; each conv unit is reduced to its maximum over the map (and where it is), each fc
unit is its value, and the best ``top`` of each unit so far are merged with the batch's by
``np.argpartition``. So memory holds one batch's activations and ``units x top`` numbers,
whatever the folder's size (a folder-wide activation tensor of fc6 alone would be 16 kB per
image). Values are the model's own layer outputs, ReLU included (fc8 before the softmax),
as ``features`` shows them. Images are found, decoded and refused as ``classify`` and
``evaluate`` do (``images.find_image_files``, ``batches``).

``atlas_for`` is the entry point that uses the cache (``atlas_cache``); ``build_atlas`` does
the pass for a loaded classifier.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AlexNetStudioError, DatasetError
from ..images import InputProblem, expand_inputs
from . import atlas_cache
from .receptive_field import CONV_LAYERS, original_box

ATLAS_LAYERS = (*CONV_LAYERS, "fc6", "fc7", "fc8")
DEFAULT_TOP = 9
BATCH_SIZE = 32  # as classify batches (inference.BATCH_SIZE), on the path speed chose for batches


class AtlasCancelled(AlexNetStudioError):  # noqa: N818
    """The atlas stopped on request after ``done`` of ``total`` images; nothing was kept."""

    def __init__(self, done: int, total: int):
        self.done, self.total = done, total
        super().__init__(f"cancelled after {done} of {total} images; no atlas was kept")


@dataclass
class LayerTop:
    """The best images of every unit of one layer, best first.

    Attributes:
        values: ``(units, k)`` float32 activations.
        images: ``(units, k)`` int indices into ``Atlas.images``.
        positions: ``(units, k)`` flat position ``row * width + col`` of the maximum in the
            layer's map (conv layers), else ``None``.
        map_size: ``(height, width)`` of the layer's map (conv layers), else ``None``.
    """

    values: np.ndarray
    images: np.ndarray
    positions: np.ndarray | None = None
    map_size: tuple[int, int] | None = None


@dataclass
class AtlasImage:
    """One image that took part: its path and its size (EXIF orientation applied)."""

    path: Path
    width: int
    height: int


@dataclass
class Atlas:
    """A unit atlas of one model over one folder.

    Attributes:
        model: the model's name.
        folder: the folder (resolved).
        top: the k asked for (a unit has fewer entries when the folder has fewer images).
        layers: layer name -> ``LayerTop``, in the network's order.
        images: the images read, in folder order.
        errors: ``{"image", "error"}`` for each file that could not be read.
        seconds: how long the pass took.
        cached: read back from the cache, not computed now.
    """

    model: str
    folder: Path
    top: int
    layers: dict[str, LayerTop]
    images: list[AtlasImage]
    errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False

    def entries(self, layer: str, unit: int) -> list[dict]:
        """The top entries of one unit: ``image`` (path), ``value``, and for conv layers
        ``row``, ``col`` of the maximum and ``box`` ``[left, top, right, bottom]``, its
        receptive field in the original image's pixels (right and bottom exclusive)."""
        top = self.layers[layer]
        found = []
        for slot in range(top.values.shape[1]):
            image = self.images[int(top.images[unit, slot])]
            entry = {"image": str(image.path), "value": float(top.values[unit, slot])}
            if top.positions is not None:
                row, col = divmod(int(top.positions[unit, slot]), top.map_size[1])
                box = original_box(layer, row, col, image.width, image.height)
                entry.update(row=row, col=col, box=box)
            found.append(entry)
        return found

    def only(self, layers) -> Atlas:
        """The same atlas with only ``layers`` (in the network's order)."""
        kept = {name: top for name, top in self.layers.items() if name in layers}
        return dataclasses.replace(self, layers=kept)

    def to_json(self) -> dict:
        """``atlas.json``: for each layer, for each unit in order, its list of top entries."""
        return {
            "model": self.model,
            "folder": str(self.folder),
            "top": self.top,
            "images": len(self.images),
            "errors": self.errors,
            "seconds": self.seconds,
            "layers": {
                name: [self.entries(name, unit) for unit in range(top.values.shape[0])]
                for name, top in self.layers.items()
            },
        }


class _TopK:
    """The best ``k`` (value, image, position) of each unit seen so far."""

    def __init__(self, k: int):
        self.k = k
        self.values = self.images = self.positions = None

    def add(self, activations: np.ndarray, first_image: int) -> None:
        n = activations.shape[0]
        if activations.ndim == 4:  # conv: each unit's maximum over the map, and where
            flat = activations.reshape(n, -1, activations.shape[-1])
            positions = flat.argmax(axis=1)
            values = np.take_along_axis(flat, positions[:, np.newaxis], axis=1)[:, 0]
            positions = positions.T.astype(np.int32)
        else:
            values, positions = activations, None
        images = np.broadcast_to(np.arange(first_image, first_image + n, dtype=np.int32),
                                 (values.shape[1], n))  # fmt: skip
        values = values.T
        if self.values is not None:
            values = np.concatenate([self.values, values], axis=1)
            images = np.concatenate([self.images, images], axis=1)
            if positions is not None:
                positions = np.concatenate([self.positions, positions], axis=1)
        if values.shape[1] > self.k:
            keep = np.argpartition(-values, self.k - 1, axis=1)[:, : self.k]
            values = np.take_along_axis(values, keep, axis=1)
            images = np.take_along_axis(images, keep, axis=1)
            if positions is not None:
                positions = np.take_along_axis(positions, keep, axis=1)
        self.values, self.images, self.positions = values, np.array(images), positions

    def result(self, map_size) -> LayerTop:
        # Best first; equal values in folder order, so the same folder gives the same atlas.
        order = np.lexsort((self.images, -self.values), axis=1)
        take = lambda table: np.take_along_axis(table, order, axis=1)  # noqa: E731
        positions = None if self.positions is None else take(self.positions)
        return LayerTop(take(self.values), take(self.images), positions, map_size)


def _check_request(layers, top: int) -> tuple[str, ...]:
    layers = tuple(layers)
    unknown = [name for name in layers if name not in ATLAS_LAYERS]
    if not layers or unknown:
        raise ValueError(
            f"layers must be some of {', '.join(ATLAS_LAYERS)}. Received: layers={list(layers)}"
        )
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer. Received: top={top!r}")
    return tuple(name for name in ATLAS_LAYERS if name in layers)  # the network's order


def folder_images(folder) -> tuple[Path, list[tuple[Path, str | None]]]:
    """``folder`` and its image files as ``(path, known problem or None)``, sorted.

    Raises:
        DatasetError: not a folder, or no image files in it.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        reason = "no such folder" if not folder.exists() else "not a folder"
        raise DatasetError(f"{folder}: {reason}; give a folder of images.")
    items = expand_inputs([folder])
    if items == [(folder, InputProblem.EMPTY_FOLDER)]:
        raise DatasetError(f"{folder}: holds no image files (JPEG, PNG, ...).")
    return folder.resolve(), items


_forwards: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward_for(classifier, layers):
    """The compiled pass of ``layers``, kept per classifier: compiling it (XLA, once per
    batch size) costs seconds, more than a small folder's whole atlas."""
    from ..forward import CompiledForward

    kept = _forwards.setdefault(classifier, {})
    key = (layers, classifier.precision)
    if key not in kept:
        kept[key] = CompiledForward(classifier.model, layers, precision=classifier.precision)
    return kept[key]


def build_atlas(
    classifier,
    folder,
    *,
    layers=ATLAS_LAYERS,
    top: int = DEFAULT_TOP,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Atlas:
    """One pass of ``classifier`` over the images of ``folder``: the atlas of ``layers``.

    Args:
        classifier: an ``inference.Classifier``.
        folder: any folder of images (sub-folders are searched too).
        layers: some of ``ATLAS_LAYERS``.
        top: images kept per unit.
        batch_size: images per forward pass (default ``BATCH_SIZE``).
        progress: called with ``(files done, files in all)`` after each batch.
        should_stop: polled after each batch; True stops the pass.

    Raises:
        DatasetError: the folder has no image that can be read.
        AtlasCancelled: ``should_stop`` returned True.
    """
    from ..batches import iter_loaded_chunks
    from ..preprocess import center_crop, normalize

    layers = _check_request(layers, top)
    folder, items = folder_images(folder)
    forward = _forward_for(classifier, layers)
    tops = {name: _TopK(top) for name in layers}
    map_sizes: dict[str, tuple[int, int] | None] = {}
    images: list[AtlasImage] = []
    errors: list[dict] = []
    started = time.perf_counter()
    done = 0
    for loaded in iter_loaded_chunks(items, batch_size or BATCH_SIZE):
        good = [item for item in loaded if item.error is None]
        errors += [{"image": str(item.path), "error": item.error} for item in loaded if item.error]
        if good:
            outputs = forward(normalize(center_crop(np.stack([item.resized for item in good]))))
            for name in layers:
                tops[name].add(outputs[name], len(images))
                shape = outputs[name].shape
                map_sizes[name] = (int(shape[1]), int(shape[2])) if len(shape) == 4 else None
            images += [AtlasImage(item.path, *item.size) for item in good]
        done += len(loaded)
        if progress is not None:
            progress(done, len(items))
        if should_stop is not None and should_stop():
            raise AtlasCancelled(done, len(items))
    if not images:
        raise DatasetError(f"{folder}: none of its {len(items)} image files could be read.")
    return Atlas(
        model=classifier.name,
        folder=folder,
        top=top,
        layers={name: tops[name].result(map_sizes[name]) for name in layers},
        images=images,
        errors=errors,
        seconds=time.perf_counter() - started,
    )


def _to_record(atlas: Atlas) -> dict:
    """The cache's compact form: tables of numbers and one list of images."""
    layers = {}
    for name, top in atlas.layers.items():
        layers[name] = {"values": top.values.tolist(), "images": top.images.tolist()}
        if top.positions is not None:
            layers[name].update(positions=top.positions.tolist(), map_size=list(top.map_size))
    return {
        "model": atlas.model,
        "folder": str(atlas.folder),
        "top": atlas.top,
        "seconds": atlas.seconds,
        "images": [
            {"path": str(i.path), "width": i.width, "height": i.height} for i in atlas.images
        ],  # fmt: skip
        "errors": atlas.errors,
        "layers": layers,
    }


def _from_record(record: dict) -> Atlas:
    layers = {}
    for name, table in record["layers"].items():
        positions = table.get("positions")
        layers[name] = LayerTop(
            np.asarray(table["values"], np.float32).reshape(len(table["values"]), -1),
            np.asarray(table["images"], np.int32).reshape(len(table["images"]), -1),
            None if positions is None else np.asarray(positions, np.int32).reshape(
                len(positions), -1),
            tuple(table["map_size"]) if positions is not None else None,
        )  # fmt: skip
    return Atlas(
        model=record["model"],
        folder=Path(record["folder"]),
        top=record["top"],
        layers=layers,
        images=[AtlasImage(Path(i["path"]), i["width"], i["height"]) for i in record["images"]],
        errors=record["errors"],
        seconds=record["seconds"],
        cached=True,
    )


def cached_atlas(model_spec, folder, *, layers=ATLAS_LAYERS, top: int = DEFAULT_TOP):
    """The cached atlas of this model file and folder as the folder is now, or None.

    Needs no TensorFlow: the app asks this before loading a model. Raises as ``atlas_for``.
    """
    return _lookup(model_spec, folder, _check_request(layers, top), top)[0]


def _lookup_key(model_spec, folder, layers, top) -> str:
    folder, items = folder_images(folder)
    model_id = atlas_cache.model_identity(model_spec)
    fingerprint = atlas_cache.folder_fingerprint(folder, [path for path, _ in items])
    return atlas_cache.cache_key(model_id, folder, fingerprint, top, layers)


def _lookup(model_spec, folder, layers, top):
    keys = [_lookup_key(model_spec, folder, layers, top)]
    if layers != ATLAS_LAYERS:  # a whole atlas answers for any of its layers
        keys.append(_lookup_key(model_spec, folder, ATLAS_LAYERS, top))
    for key in keys:
        record = atlas_cache.read_cached(key)
        if record is not None and all(name in record["layers"] for name in layers):
            atlas = _from_record(record)
            atlas.layers = {name: atlas.layers[name] for name in layers}
            return atlas, keys[0]
    return None, keys[0]


def atlas_for(
    model_spec,
    folder,
    *,
    layers=ATLAS_LAYERS,
    top: int = DEFAULT_TOP,
    classifier=None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Atlas:
    """The atlas of a model over a folder: from the cache when the model file and the folder
    are unchanged, else built (and cached once whole).

    Args:
        model_spec: as ``inference.Classifier.load`` takes it (``None``: ImageNet).
        folder, layers, top, progress, should_stop: as ``build_atlas``.
        classifier: the model already loaded from ``model_spec``, if the caller has it.

    Raises:
        WeightsNotInstalledError, ModelLoadError: the model cannot be loaded.
        DatasetError: the folder has no image that can be read.
        AtlasCancelled: stopped on request; nothing is cached.
    """
    layers = _check_request(layers, top)
    atlas, key = _lookup(model_spec, folder, layers, top)
    if atlas is not None:
        return atlas
    if classifier is None:
        from ..inference import Classifier

        classifier = Classifier.load(model_spec)
    atlas = build_atlas(
        classifier, folder, layers=layers, top=top, progress=progress, should_stop=should_stop
    )
    # Cached only if the folder did not change during the pass (it would be the wrong atlas).
    if _lookup_key(model_spec, folder, layers, top) == key:
        atlas_cache.write_cached(key, _to_record(atlas))
    return atlas

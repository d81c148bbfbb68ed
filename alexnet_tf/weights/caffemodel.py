"""A reader of ``bvlc_alexnet.caffemodel``: Caffe's protobuf, parsed by hand.

Only the few messages that hold weights are decoded (field numbers from caffe.proto, see
alexnet-facts.md): ``NetParameter`` -> its layers, in the old V1 form (``layers`` = 2, which
the BVLC file uses) or the newer form (``layer`` = 100) -> each layer's name, type and blobs
-> each blob's shape and float data. Everything is bounds-checked against the file before
anything is allocated, so a truncated or corrupt file is refused at once with a WeightsError.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from .convert import WEIGHT_LAYERS, caffe_to_keras

# NetParameter
NET_LAYERS_V1 = 2
NET_LAYER = 100
# LayerParameter (V2) and V1LayerParameter
V2_NAME, V2_TYPE, V2_BLOBS = 1, 2, 7
V1_NAME, V1_TYPE, V1_BLOBS = 4, 5, 6
V1_CONVOLUTION, V1_INNER_PRODUCT = 4, 14
# BlobProto / BlobShape
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH = 1, 2, 3, 4
BLOB_DATA, BLOB_SHAPE, BLOB_DOUBLE_DATA = 5, 7, 8
SHAPE_DIM = 1

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
# NetParameter fields and the wire type each must have; used to recognise the format.
_NET_FIELDS = {1: 2, 2: 2, 3: 2, 4: 0, 5: 0, 6: 2, 7: 0, 8: 2, 100: 2}
_MAX_DIM = 1 << 24
_MAX_BLOB_VALUES = 1 << 31


class _Corrupt(Exception):
    """A malformed message; turned into a WeightsError naming the file."""


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= end:
            raise _Corrupt(f"truncated number at byte {pos}")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _Corrupt(f"malformed number at byte {pos}")


def _fields(buf, start: int, end: int, runs=()):
    """Yield ``(field, wire_type, value)`` for each field of the message in ``buf[start:end]``.

    ``value`` is an int for varints, ``(begin, end)`` for length-delimited fields and fixed
    fields. For ``(field, wire_type)`` pairs listed in ``runs`` (unpacked repeated floats or
    doubles), a whole run of consecutive occurrences is gathered with numpy and yielded as
    one array, so a file with 60 million unpacked floats is not read value by value.
    """
    pos = start
    while pos < end:
        tag_start = pos
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _Corrupt(f"field number 0 at byte {tag_start}")
        if wire == VARINT:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value
        elif wire == LENGTH_DELIMITED:
            length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise _Corrupt(
                    f"field {field} at byte {tag_start} claims {length} bytes; "
                    f"only {end - pos} remain (truncated file?)"
                )
            yield field, wire, (pos, pos + length)
            pos += length
        elif wire in (FIXED32, FIXED64):
            size = 4 if wire == FIXED32 else 8
            if (field, wire) in runs:
                values, pos = _fixed_run(buf, tag_start, pos - tag_start, size, end)
                yield field, wire, values
                continue
            if size > end - pos:
                raise _Corrupt(f"truncated field {field} at byte {tag_start}")
            yield field, wire, (pos, pos + size)
            pos += size
        else:
            raise _Corrupt(f"unsupported wire type {wire} (field {field}) at byte {tag_start}")


def _fixed_run(buf, tag_start: int, tag_length: int, size: int, end: int):
    """Gather a run of ``tag value`` records of one fixed-size field starting at ``tag_start``."""
    stride = tag_length + size
    rows = (end - tag_start) // stride
    if rows == 0:
        raise _Corrupt(f"truncated value at byte {tag_start}")
    table = np.frombuffer(buf, np.uint8, rows * stride, tag_start).reshape(rows, stride)
    tag = table[0, :tag_length]
    mismatch = np.flatnonzero((table[:, :tag_length] != tag).any(axis=1))
    count = int(mismatch[0]) if mismatch.size else rows
    dtype = "<f4" if size == 4 else "<f8"
    values = np.ascontiguousarray(table[:count, tag_length:]).view(dtype).reshape(-1)
    return values, tag_start + count * stride


def _string(buf, span) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", errors="replace")


def _packed(buf, span, dtype: str, what: str) -> np.ndarray:
    begin, end = span
    itemsize = np.dtype(dtype).itemsize
    if (end - begin) % itemsize:
        raise _Corrupt(f"{what}: {end - begin} bytes is not a whole number of values")
    return np.frombuffer(buf, dtype, (end - begin) // itemsize, begin)


def _read_blob(buf, begin: int, end: int, where: str) -> np.ndarray:
    """Decode one BlobProto into an array of its shape (float32, or float64 from double_data)."""
    legacy = {}
    dims = None
    chunks = []
    for field, wire, value in _fields(
        buf, begin, end, runs={(BLOB_DATA, FIXED32), (BLOB_DOUBLE_DATA, FIXED64)}
    ):
        if field in (BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH) and wire == VARINT:
            legacy[field] = value
        elif field == BLOB_SHAPE and wire == LENGTH_DELIMITED:
            dims = []
            for dim_field, dim_wire, dim in _fields(buf, *value):
                if dim_field != SHAPE_DIM:
                    continue
                if dim_wire == VARINT:
                    dims.append(dim)
                elif dim_wire == LENGTH_DELIMITED:
                    pos, stop = dim
                    while pos < stop and len(dims) <= 8:  # never a list of a million dims
                        number, pos = _varint(buf, pos, stop)
                        dims.append(number)
                if len(dims) > 8:
                    raise _Corrupt(f"{where}: a blob with more than 8 dimensions")
        elif field in (BLOB_DATA, BLOB_DOUBLE_DATA):
            dtype = "<f4" if field == BLOB_DATA else "<f8"
            if wire == LENGTH_DELIMITED:
                chunks.append(_packed(buf, value, dtype, where))
            elif wire == (FIXED32 if field == BLOB_DATA else FIXED64):
                chunks.append(value)  # a run gathered by _fields
            else:
                raise _Corrupt(f"{where}: blob data of wire type {wire}")
    if dims is None:
        if not legacy:
            raise _Corrupt(f"{where}: a blob without a shape")
        dims = [legacy.get(f, 0) for f in (BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH)]
    if not all(0 < d <= _MAX_DIM for d in dims):
        raise _Corrupt(f"{where}: a blob of absurd shape {tuple(dims)}")
    count = math.prod(dims)  # Python ints: eight dims of 2**24 must not wrap around to 0
    if count > _MAX_BLOB_VALUES:
        raise _Corrupt(f"{where}: a blob of absurd shape {tuple(dims)}")
    have = sum(chunk.size for chunk in chunks)
    if have != count:
        raise _Corrupt(f"{where}: blob of shape {tuple(dims)} needs {count} values, has {have}")
    data = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    return data.reshape(dims)


def _read_layer(buf, begin: int, end: int, v1: bool) -> tuple[str, object, list]:
    """``(name, type, [blob spans])`` of one layer message (blobs decoded later, if wanted)."""
    name_field, type_field, blobs_field = (
        (V1_NAME, V1_TYPE, V1_BLOBS) if v1 else (V2_NAME, V2_TYPE, V2_BLOBS)
    )
    name, kind, blobs = None, None, []
    for field, wire, value in _fields(buf, begin, end):
        if field == name_field and wire == LENGTH_DELIMITED:
            name = _string(buf, value)
        elif field == type_field and wire == (VARINT if v1 else LENGTH_DELIMITED):
            kind = value if v1 else _string(buf, value)  # V1: an enum; V2: a string
        elif field == blobs_field and wire == LENGTH_DELIMITED:
            blobs.append(value)
    return name, kind, blobs


def _is_weight_type(kind, name: str) -> bool:
    if name.startswith("conv"):
        return kind in (V1_CONVOLUTION, "Convolution")
    return kind in (V1_INNER_PRODUCT, "InnerProduct")


def looks_like_caffemodel(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) starts like a Caffe NetParameter."""
    try:
        key, _ = _varint(head, 0, min(len(head), 10))
    except _Corrupt:
        return False
    return _NET_FIELDS.get(key >> 3) == key & 7


def read_caffemodel_blobs(path: str | Path) -> dict[str, list[np.ndarray]]:
    """Read the blobs of AlexNet's weight layers from a ``.caffemodel``, in Caffe layout.

    Args:
        path: the file.

    Returns:
        ``{layer: [weights, bias]}`` for the layers of ``WEIGHT_LAYERS`` found in the file.

    Raises:
        WeightsError: unreadable, truncated or corrupt file, or a weight layer of the wrong type.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()  # one read; packed floats become np.frombuffer views of it
    except OSError as error:
        raise WeightsError(f"{path}: cannot read it ({error.strerror or error}).") from None
    if not looks_like_caffemodel(buf[:10]):
        raise WeightsError(f"{path}: not a Caffe model (it does not start like one).")
    found: dict[str, list[np.ndarray]] = {}
    try:
        for field, wire, value in _fields(buf, 0, len(buf)):
            if field not in (NET_LAYERS_V1, NET_LAYER) or wire != LENGTH_DELIMITED:
                continue
            name, kind, blob_spans = _read_layer(buf, *value, v1=field == NET_LAYERS_V1)
            if name not in WEIGHT_LAYERS or not blob_spans:
                continue
            if not _is_weight_type(kind, name):
                raise WeightsError(
                    f"{path}: layer {name} is of type {kind!r}; AlexNet's {name} is a "
                    f"{'Convolution' if name.startswith('conv') else 'InnerProduct'} layer."
                )
            if name in found:
                raise WeightsError(f"{path}: layer {name} appears twice with weights.")
            found[name] = [
                _read_blob(buf, *span, where=f"layer {name} blob {i}")
                for i, span in enumerate(blob_spans)
            ]
    except _Corrupt as error:
        raise WeightsError(f"{path}: damaged or not a Caffe model: {error}.") from None
    return found


def read_caffemodel_weights(path: str | Path, num_classes: int = 1000) -> dict:
    """Read ``bvlc_alexnet.caffemodel`` into validated Keras weights ``{layer: (kernel, bias)}``."""
    return caffe_to_keras(read_caffemodel_blobs(path), path, num_classes)

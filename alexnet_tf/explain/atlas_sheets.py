"""The atlas as pictures: each unit's top patches, as the network saw them.

A patch is cut from the image warped to 256x256 (``preprocess.resize_for_network``), the
pixels the network actually looked at: a conv unit's receptive field (``receptive_field``;
11x11 for conv1, enlarged without smoothing so its pixels stay visible), or for an fc unit
the whole 227 centre crop. ``unit_patches`` serves one unit (the app's channel panel);
``write_sheets`` draws every unit of a layer as labelled rows, ``UNITS_PER_SHEET`` rows per
PNG, decoding each image once for all its patches.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..fileio import write_bytes_atomic, write_text_atomic
from ..preprocess import CROP, CROP_OFFSET
from ..render import BACKGROUND, TEXT, _font
from .receptive_field import crop_box

TILE = 56  # pixels per patch in a sheet
GAP = 3
LABEL_WIDTH = 78
UNITS_PER_SHEET = 128  # rows per PNG: conv1 on one sheet, fc6 on 32


def patch_from_resized(resized: np.ndarray, layer: str, entry: dict) -> np.ndarray:
    """The part of a 256x256 RGB image that ``entry`` (an ``Atlas.entries`` item) saw."""
    if "row" in entry:
        left, top, right, bottom = crop_box(layer, entry["row"], entry["col"])
    else:
        left, top, right, bottom = 0, 0, CROP, CROP
    return resized[
        top + CROP_OFFSET : bottom + CROP_OFFSET, left + CROP_OFFSET : right + CROP_OFFSET
    ]


def tile_of(patch: np.ndarray, size: int = TILE) -> Image.Image:
    """A patch scaled to ``size`` pixels: small fields without smoothing, large ones smoothly."""
    image = Image.fromarray(np.ascontiguousarray(patch))
    resample = Image.Resampling.NEAREST if max(image.size) < size else Image.Resampling.BILINEAR
    return image.resize((size, size), resample)


def unit_patches(atlas, layer: str, unit: int) -> list[tuple[dict, np.ndarray | None]]:
    """Each top entry of one unit with its patch (``None`` if the image can no longer be
    read: moved or deleted since the atlas was made)."""
    from ..batches import load_resized

    found = []
    for entry in atlas.entries(layer, unit):
        loaded = load_resized(Path(entry["image"]))
        patch = None if loaded.error else patch_from_resized(loaded.resized, layer, entry)
        found.append((entry, patch))
    return found


def _decode_all(paths, progress) -> dict[str, np.ndarray | None]:
    """Every image that appears in a sheet, warped to 256x256 once (two decoding threads)."""
    from ..batches import iter_loaded_chunks

    resized, done = {}, 0
    for chunk in iter_loaded_chunks([(Path(p), None) for p in paths], 32):
        for item in chunk:
            resized[str(item.path)] = item.resized
        done += len(chunk)
        if progress is not None:
            progress(done, len(paths))
    return resized


SPACER = "spacer"  # a tile position left empty (between the two rows of a comparison)


def _draw_rows(rows, title: str, headers=()) -> Image.Image:
    """``rows``: ``(label, [tile, None (unreadable) or SPACER, ...], [caption, ...])``; one
    sheet, with ``headers``: ``(column, text)`` above the tiles."""
    columns = max([len(tiles) for _, tiles, _ in rows] + [1])
    title_font = _font(13)
    width = max(LABEL_WIDTH + columns * (TILE + GAP) + GAP,
                int(title_font.getlength(title)) + 4 * GAP)  # fmt: skip
    row_height = TILE + GAP + 12
    head = 24 + (16 if headers else 0)
    sheet = Image.new("RGB", (width, head + len(rows) * row_height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text((GAP + 2, 4), title, fill=TEXT, font=title_font)
    small = _font(10)
    for column, text in headers:
        draw.text((LABEL_WIDTH + column * (TILE + GAP), 24), text, fill=TEXT, font=_font(11))
    for index, (label, tiles, captions) in enumerate(rows):
        top = head + index * row_height
        draw.text((GAP + 2, top + TILE // 2 - 12), label, fill=TEXT, font=_font(11))
        for column, (tile, caption) in enumerate(zip(tiles, captions, strict=True)):
            left = LABEL_WIDTH + column * (TILE + GAP)
            if tile is SPACER:
                continue
            if tile is not None:
                sheet.paste(tile, (left, top))
            else:
                draw.rectangle((left, top, left + TILE - 1, top + TILE - 1), outline=TEXT)
            draw.text((left, top + TILE + 1), caption, fill=TEXT, font=small)
    return sheet


def _save_png(image: Image.Image, path: Path) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def _tiles(atlas, layer: str, unit: int, resized: dict) -> tuple[list, list]:
    tiles, captions = [], []
    for entry in atlas.entries(layer, unit):
        pixels = resized.get(entry["image"])
        tiles.append(None if pixels is None else tile_of(patch_from_resized(pixels, layer, entry)))
        captions.append(f"{entry['value']:.3g}")
    return tiles, captions


def sheet_name(layer: str, first: int, last: int, units: int) -> str:
    """``conv1.png`` for a layer on one sheet, else ``fc6-units-0000-0127.png``."""
    if first == 0 and last == units - 1:
        return f"{layer}.png"
    return f"{layer}-units-{first:04d}-{last:04d}.png"


def write_sheets(
    atlas, out: Path, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, list[str]]:
    """Draw every unit of every layer of ``atlas`` into ``out``; return layer -> file names."""
    paths = sorted({str(atlas.images[i].path) for top in atlas.layers.values()
                    for i in np.unique(top.images)})  # fmt: skip
    resized = _decode_all(paths, progress)
    written: dict[str, list[str]] = {}
    for layer, top in atlas.layers.items():
        units = top.values.shape[0]
        written[layer] = []
        for first in range(0, units, UNITS_PER_SHEET):
            last = min(first + UNITS_PER_SHEET, units) - 1
            rows = [
                (f"unit {u}", *_tiles(atlas, layer, u, resized)) for u in range(first, last + 1)
            ]
            title = f"{layer} · units {first}-{last} · top {atlas.top} images, best first"
            name = sheet_name(layer, first, last, units)
            _save_png(_draw_rows(rows, title), out / name)
            written[layer].append(name)
    return written


def render_compare(job_atlas, imagenet_atlas, layer: str, units) -> Image.Image:
    """Both rows of each of ``units`` side by side: the job's top patches, then ImageNet's."""
    paths = sorted({e["image"] for atlas in (job_atlas, imagenet_atlas) for u in units
                    for e in atlas.entries(layer, u)})  # fmt: skip
    resized = _decode_all(paths, None)
    rows = []
    for unit in units:
        job_tiles, job_captions = _tiles(job_atlas, layer, unit, resized)
        base_tiles, base_captions = _tiles(imagenet_atlas, layer, unit, resized)
        rows.append((f"unit {unit}", [*job_tiles, SPACER, *base_tiles],
                     [*job_captions, "", *base_captions]))  # fmt: skip
    width = max([len(_tiles(job_atlas, layer, u, {})[0]) for u in units] + [0])
    headers = ((0, "fine-tuned"), (width + 1, "ImageNet")) if units else ()
    title = f"{layer}: the units whose top images changed most, best first in each model"
    return _draw_rows(rows, title, headers)


def write_compare_sheet(job_atlas, imagenet_atlas, layer: str, units, path: Path) -> None:
    """``render_compare`` as a PNG."""
    _save_png(render_compare(job_atlas, imagenet_atlas, layer, units), path)


def write_index(out: Path, atlas, sheets: dict[str, list[str]], compare: dict | None) -> Path:
    """``index.html``: every sheet, browsable offline (relative links only)."""
    esc = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Unit atlas</title>",
        "<style>body{font-family:sans-serif;background:#18181c;color:#ddd;margin:2em}"
        "a{color:#8cf}img{display:block;margin:.5em 0 2em}nav a{margin-right:1em}</style>",
        f"<h1>Unit atlas of {esc(atlas.model)}</h1>",
        f"<p>{len(atlas.images)} images of {esc(str(atlas.folder))}; for every unit its "
        f"{atlas.top} strongest images, best first, with the activation under each patch. "
        "A conv patch is the unit's receptive field at its strongest position; an fc patch "
        "is the whole centre crop the network sees.</p>",
    ]
    if atlas.errors:
        parts.append(f"<p>{len(atlas.errors)} file(s) could not be read and were skipped: "
                     + ", ".join(esc(e["image"]) for e in atlas.errors[:20]) + "</p>")  # fmt: skip
    parts.append("<nav>" + "".join(f"<a href='#{n}'>{n}</a>" for n in sheets) + "</nav>")
    if compare is not None:
        parts.append("<h2 id='compare'>What fine-tuning changed</h2>")
        parts.append(f"<p>{esc(compare['summary'])}</p>")
        for layer, name in compare.get("sheets", {}).items():
            parts.append(f"<h3>{layer}</h3><img src='{esc(name)}' loading='lazy' alt='{layer}'>")
    for layer, names in sheets.items():
        parts.append(f"<h2 id='{layer}'>{layer}</h2>")
        for name in names:
            parts.append(f"<p><a href='{esc(name)}'>{esc(name)}</a></p>"
                         f"<img src='{esc(name)}' loading='lazy' alt='{esc(name)}'>")  # fmt: skip
    path = out / "index.html"
    write_text_atomic(path, "\n".join(parts) + "\n")
    return path

"""Draw the AlexNet Studio icon: an SVG and PNGs of every size the desktop menus ask for.

The icon is three stacked feature maps (like the conv layers in the AlexNet paper's figure),
the front one showing a 3x3 grid of activations. The shapes are defined once, on a 512-unit
canvas, and written both as SVG and, with Pillow, as PNGs (drawn 4x larger, then reduced, so
edges are smooth). Small sizes use a simpler variant that stays crisp: fewer, bigger cells.

It also writes ``alexnet-studio.ico`` (Windows shortcuts) and ``alexnet-studio.icns`` (macOS).
Run it after changing the design; its output is committed, so installs need no generator:

    python docs/make_icons.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "resources" / "icons"  # where the icons are written (shipped as package data)
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SMALL = 32  # at this size and below, the simplified variant is drawn
CANVAS = 512
SUPERSAMPLE = 4

BACKGROUND = "#1d3557"
BACK_CARD = "#457b9d"
MIDDLE_CARD = "#7fb3c8"
FRONT_CARD = "#f1faee"
PALE = (0xEA, 0xDD, 0xCB)
WARM = (0xE6, 0x7E, 0x32)

# How strongly each cell of the front map "fires" (0 = pale, 1 = warm): a blob, off centre.
ACTIVATIONS_LARGE = ((0.15, 0.45, 0.2), (0.5, 1.0, 0.65), (0.2, 0.7, 0.35))
ACTIVATIONS_SMALL = ((0.2, 0.6), (0.7, 1.0))


def _mix(weight: float) -> str:
    red, green, blue = (round(p + (w - p) * weight) for p, w in zip(PALE, WARM, strict=True))
    return f"#{red:02x}{green:02x}{blue:02x}"


def icon_shapes(small: bool) -> list[dict]:
    """The icon as rounded rectangles on a 512-unit canvas, back to front."""
    shapes = [dict(box=(16, 16, 496, 496), radius=104, fill=BACKGROUND)]
    if small:  # two maps, thick gaps, 2x2 cells: survives 16 px
        card, step, outline = 272, 96, 28
        origin = (256 - (card + step) / 2, 256 - (card + step) / 2)
        colours = (MIDDLE_CARD, FRONT_CARD)
        activations, pad, gap = ACTIVATIONS_SMALL, 36, 28
    else:
        card, step, outline = 240, 44, 14
        origin = (256 - (card + 2 * step) / 2, 256 - (card + 2 * step) / 2)
        colours = (BACK_CARD, MIDDLE_CARD, FRONT_CARD)
        activations, pad, gap = ACTIVATIONS_LARGE, 26, 14
    layers = len(colours)
    for index, colour in enumerate(colours):
        # the back map sits low and to the left; each next one steps up and right
        x0 = origin[0] + step * index
        y0 = origin[1] + step * (layers - 1 - index)
        shapes.append(
            dict(
                box=(x0, y0, x0 + card, y0 + card),
                radius=28,
                fill=colour,
                stroke=BACKGROUND,
                stroke_width=outline,
            )
        )
    front_x, front_y = shapes[-1]["box"][:2]
    cells = len(activations)
    cell = (card - 2 * pad - (cells - 1) * gap) / cells
    for row, values in enumerate(activations):
        for column, value in enumerate(values):
            x0 = front_x + pad + column * (cell + gap)
            y0 = front_y + pad + row * (cell + gap)
            shapes.append(dict(box=(x0, y0, x0 + cell, y0 + cell), radius=10, fill=_mix(value)))
    return shapes


def render_svg(shapes: list[dict]) -> str:
    """The shapes as an SVG document (the scalable icon)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CANVAS}" height="{CANVAS}" '
        f'viewBox="0 0 {CANVAS} {CANVAS}">',
        "  <title>AlexNet Studio</title>",
    ]
    for shape in shapes:
        x0, y0, x1, y1 = shape["box"]
        stroke = ""
        if shape.get("stroke"):
            # SVG strokes straddle the edge, Pillow's outline lies inside: draw it inside too
            half = shape["stroke_width"] / 2
            x0, y0, x1, y1 = x0 + half, y0 + half, x1 - half, y1 - half
            stroke = f' stroke="{shape["stroke"]}" stroke-width="{shape["stroke_width"]:g}"'
        lines.append(
            f'  <rect x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" height="{y1 - y0:g}" '
            f'rx="{shape["radius"]:g}" fill="{shape["fill"]}"{stroke}/>'
        )
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def render_png(shapes: list[dict], size: int) -> Image.Image:
    """The shapes drawn with Pillow at ``size`` x ``size`` pixels (RGBA)."""
    scale = size * SUPERSAMPLE / CANVAS
    image = Image.new("RGBA", (size * SUPERSAMPLE,) * 2, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        box = [round(value * scale) for value in shape["box"]]
        draw.rounded_rectangle(
            box,
            radius=round(shape["radius"] * scale),
            fill=shape["fill"],
            outline=shape.get("stroke"),
            width=round(shape.get("stroke_width", 0) * scale),
        )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def main() -> int:
    sys.path.insert(0, str(ROOT))  # run as a script from a checkout
    from alexnet_tf.fileio import write_bytes_atomic, write_text_atomic

    write_text_atomic(HERE / "alexnet-studio.svg", render_svg(icon_shapes(small=False)))
    images = {size: render_png(icon_shapes(small=size <= SMALL), size) for size in SIZES}
    for size, image in images.items():
        write_bytes_atomic(HERE / f"alexnet-studio-{size}.png", _encode(image, "PNG"))
    # Windows shortcuts want .ico, macOS apps .icns: the same drawings, not resized copies
    largest = images[max(SIZES)]
    ico_sizes = [(size, size) for size in SIZES if size <= 256]
    others = list(images.values())
    write_bytes_atomic(
        HERE / "alexnet-studio.ico", _encode(largest, "ICO", sizes=ico_sizes, append_images=others)
    )
    retina = render_png(icon_shapes(small=False), 1024)
    write_bytes_atomic(HERE / "alexnet-studio.icns", _encode(retina, "ICNS", append_images=others))
    print(f"Wrote alexnet-studio.svg, .ico, .icns and {len(SIZES)} PNGs to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

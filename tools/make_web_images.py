#!/usr/bin/env python3
"""Make the pictures in web/images/ (the project's own, drawn by formula).

    python tools/make_web_images.py [WEB_DIR]

- ``images/waves.png`` is written with the standard library alone: the PNG
  format is a signature and three chunks (IHDR, IDAT with zlib-compressed
  scanlines, IEND), each with a CRC-32 (RFC 2083 / PNG spec sections 5 and 11).
- ``images/sunset.jpeg`` needs a JPEG encoder, which the standard library
  lacks; it is made with Pillow when Pillow is installed, and otherwise
  skipped (the committed file stays).  Pillow was used once to generate the
  committed JPEG; neither the project nor its tests need it.

Both pictures are computed pixel by pixel from the same small scene function,
so the output is the same on every run.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

WIDTH, HEIGHT = 320, 200
Pixel = tuple[int, int, int]


def _mix(a: Pixel, b: Pixel, t: float) -> Pixel:
    t = max(0.0, min(1.0, t))
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def waves(x: int, y: int) -> Pixel:
    """A sea of protocols: sky above, layered sine waves below, three
    'packets' (white dots) riding the waves."""
    horizon = HEIGHT * 0.42
    if y < horizon:
        return _mix((120, 180, 235), (215, 235, 250), y / horizon)
    depth = (y - horizon) / (HEIGHT - horizon)
    base = _mix((40, 140, 190), (10, 45, 90), depth)
    crest = math.sin(x / 13.0 + depth * 22.0) * 0.5 + math.sin(x / 5.0 - depth * 9.0) * 0.2
    if crest > 0.45:
        base = _mix(base, (235, 245, 255), (crest - 0.45) * 2.5)
    for cx in (60, 160, 260):
        cy = horizon + 18 + 6 * math.sin(cx / 13.0)
        if (x - cx) ** 2 + (y - cy) ** 2 < 30:
            return (250, 250, 250)
    return base


def sunset(x: int, y: int) -> Pixel:
    """A sun going down over the sea, with its reflection."""
    horizon = HEIGHT * 0.6
    sun_x, sun_y, r = WIDTH * 0.62, horizon - 18, 34
    if y < horizon:
        sky = _mix((60, 40, 110), (250, 150, 70), (y / horizon) ** 1.3)
        d = math.hypot(x - sun_x, y - sun_y)
        if d < r:
            return _mix((255, 245, 200), (255, 200, 90), d / r)
        glow = max(0.0, 1 - (d - r) / 90)
        return _mix(sky, (255, 190, 110), glow * 0.6)
    depth = (y - horizon) / (HEIGHT - horizon)
    sea = _mix((150, 80, 90), (25, 20, 60), depth)
    band = abs(x - sun_x) < r * (1 - depth * 0.5) and math.sin(y * 1.7 + x * 0.05) > -0.2
    return _mix(sea, (255, 200, 120), 0.7 * (1 - depth)) if band else sea


def pixels(scene: object) -> list[list[Pixel]]:
    f = scene  # a function (x, y) -> (r, g, b)
    return [[f(x, y) for x in range(WIDTH)] for y in range(HEIGHT)]  # type: ignore[operator]


def png_bytes(rows: list[list[Pixel]]) -> bytes:
    """An 8-bit RGB PNG, no interlace; each scanline uses filter type 0."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    height, width = len(rows), len(rows[0])
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main(argv: list[str]) -> int:
    web = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "web"
    images = web / "images"
    images.mkdir(parents=True, exist_ok=True)
    png = images / "waves.png"
    png.write_bytes(png_bytes(pixels(waves)))
    print(f"wrote {png} ({png.stat().st_size} bytes)")
    jpeg = images / "sunset.jpeg"
    try:
        from PIL import Image  # only to make the committed JPEG once
    except ImportError:
        print(f"Pillow is not installed: kept {jpeg} as it is")
        return 0
    rows = pixels(sunset)
    img = Image.frombytes(
        "RGB", (WIDTH, HEIGHT), bytes(c for row in rows for px in row for c in px)
    )
    img.save(jpeg, "JPEG", quality=85, optimize=True)
    print(f"wrote {jpeg} ({jpeg.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Tiny real PNG images (RGB, 8-bit) built with zlib and struct, sized by aspect ratio."""

from __future__ import annotations

import struct
import zlib
from typing import Final

__all__ = ["SUPPORTED_ASPECT_RATIOS", "image_size", "make_png"]

SUPPORTED_ASPECT_RATIOS: Final = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
)
_BASE_SIZES: Final = {"1K": 64, "2K": 128, "4K": 256}


def image_size(aspect_ratio: str | None, image_size_label: str | None = None) -> tuple[int, int]:
    """Pixel size for an aspect ratio: the long side is 64 (128 for ``2K``, 256 for ``4K``).

    ``16:9`` -> 64x36, ``1:1`` -> 64x64, ``9:16`` -> 36x64. Raises ``ValueError`` for ratios the
    service does not support.
    """
    ratio = aspect_ratio or "1:1"
    if ratio not in SUPPORTED_ASPECT_RATIOS:
        raise ValueError(ratio)
    base = _BASE_SIZES.get((image_size_label or "1K").upper(), 64)
    w_s, h_s = ratio.split(":")
    w, h = int(w_s), int(h_s)
    if w >= h:
        return base, max(1, round(base * h / w))
    return max(1, round(base * w / h)), base


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def make_png(width: int, height: int) -> bytes:
    """A valid RGB PNG with a simple gradient."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        g = (y * 255) // max(1, height - 1)
        for x in range(width):
            rows += bytes(((x * 255) // max(1, width - 1), g, 128))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(bytes(rows), 6))
        + _chunk(b"IEND", b"")
    )

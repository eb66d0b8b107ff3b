"""A tiny PNG bar chart (baseline vs current share per bin), drawn with numpy and encoded with zlib.

No matplotlib: the notifier must stay light. The chart has no text; the email puts the bin labels and the
legend next to it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

BASELINE_RGB = (150, 150, 160)
CURRENT_RGB = (31, 119, 180)
_BACKGROUND = (255, 255, 255)
_AXIS = (60, 60, 60)
_MARGIN = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an ``(height, width, 3)`` uint8 array as an 8-bit RGB PNG (filter 0 on every row)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("encode_png: need a (height, width, 3) uint8 array")
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    if height == 0 or width == 0:
        raise ValueError("encode_png: empty image")
    rows = np.zeros((height, 1 + 3 * width), dtype=np.uint8)  # first byte of each row: filter type 0
    rows[:, 1:] = rgb.reshape(height, 3 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)),
            _chunk(b"IEND", b""),
        )
    )


def bar_chart_png(baseline: Sequence[float], current: Sequence[float], height: int = 90) -> bytes:
    """Grouped bars: for each bin a grey baseline bar then a blue current bar, scaled to the largest share."""
    base = np.asarray(baseline, dtype=float)
    cur = np.asarray(current, dtype=float)
    if base.shape != cur.shape or base.ndim != 1 or base.size == 0:
        raise ValueError("bar_chart_png: baseline and current need the same, non-zero length")
    if not (np.isfinite(base).all() and np.isfinite(cur).all()) or (base < 0).any() or (cur < 0).any():
        raise ValueError("bar_chart_png: shares must be finite and >= 0")
    n = base.size
    group = max(3, min(24, 400 // n))  # pixels per bin: readable for 2 bins, still fits 100+
    bar = max(1, (group - 1) // 2)
    width = n * group + 2 * _MARGIN
    plot_h = height - 2 * _MARGIN
    top = float(max(base.max(), cur.max()))
    scale = plot_h / top if top > 0 else 0.0

    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:, :] = _BACKGROUND
    floor = height - _MARGIN  # first row below the plot area
    for i in range(n):
        x0 = _MARGIN + i * group
        for offset, value, colour in ((0, base[i], BASELINE_RGB), (bar, cur[i], CURRENT_RGB)):
            h = round(value * scale)
            if value > 0:
                h = max(h, 1)  # a non-zero share stays visible
            if h:
                img[floor - h : floor, x0 + offset : x0 + offset + bar] = colour
    img[floor, _MARGIN - 1 : width - _MARGIN + 1] = _AXIS
    return encode_png(img)

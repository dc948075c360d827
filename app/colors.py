"""A stable colour per category name (same name -> same colour in every session), Qt-free."""

from __future__ import annotations

import colorsys
import hashlib
from typing import Tuple

UNKNOWN_RGB = (220, 40, 40)  # categories the loaded model does not know


def category_rgb(name: str) -> Tuple[int, int, int]:
    """RGB (0-255) for a category name, from a hash of the name (not Python's salted ``hash``).

    Hue spreads over the circle; saturation and value vary a little so neighbours stay apart.
    """
    h = hashlib.sha1(name.encode("utf-8")).digest()
    hue = int.from_bytes(h[:2], "big") / 65536.0
    sat = 0.55 + 0.35 * (h[2] / 255.0)
    val = 0.70 + 0.25 * (h[3] / 255.0)
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return int(r * 255), int(g * 255), int(b * 255)

"""Drawing of the thing-like categories of the procedural scenes: tree, bush, flower, rock, house,
car, boat, fence. Same drawer signature and conventions as ``scenes_draw.py``. Shapes are drawn
with Pillow on a local RGBA layer (crisp at the 4x render size, smooth after the LANCZOS
downsample), colour fields and textures with numpy.
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image, ImageDraw

from .scenes_draw import PALETTES, as_alpha, fbm, lighten, mask_image, noise, paint, palette, shaded, uni

PALETTES.update({
    "foliage": [(70, 140, 50), (40, 100, 40), (120, 160, 50), (200, 140, 40), (180, 60, 40)],
    "bush": [(60, 120, 50), (40, 90, 45), (100, 140, 60), (80, 110, 90), (130, 70, 60)],
    "rock": [(128, 128, 130), (104, 112, 124), (130, 108, 90), (190, 160, 120), (80, 78, 80)],
    "wall": [(240, 236, 224), (238, 210, 130), (220, 150, 120), (170, 80, 60), (150, 180, 210), (160, 190, 150)],
    "roof": [(170, 60, 45), (70, 72, 80), (120, 80, 55), (60, 100, 80), (150, 90, 60), (90, 70, 100)],
    "fence": [(240, 240, 236), (160, 156, 150), (150, 105, 65), (95, 65, 40), (70, 110, 80)],
})


def hue_colour(app, sat: float = 0.72) -> np.ndarray:
    """A colour anywhere on the hue wheel (cars, boats, flowers): hue = Appearance.hue."""
    return shaded(np.array(colorsys.hsv_to_rgb(app.hue, sat, 0.85), np.float32), app.shade)


def _size(box):
    return box[2] - box[0], box[3] - box[1]


def _lit(h, w, strength=0.3):
    """[h, w] lighting from the upper left: +strength at the top-left corner, -strength bottom-right."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return strength * (1 - xx / max(w, 1) - yy / max(h, 1))


def _shadow(canvas, box, frac=0.12, strength=0.35):
    """Soft contact shadow along the bottom of a box (darkens what is below)."""
    w, h = _size(box)
    m, d = mask_image(w, h)
    sh = max(2.0, frac * h)
    d.ellipse([0.05 * w, h - sh, 0.95 * w, h - 1], fill=255)
    paint(canvas, box, np.zeros(3, np.float32), as_alpha(m, blur=sh / 3) * strength)


def _textured(rng, app, h, w, col, lit=0.3, grain=0.22, cells=6):
    rgb = np.broadcast_to(col, (h, w, 3)).astype(np.float32)
    return lighten(rgb, _lit(h, w, lit) + grain * app.texture * fbm(rng, h, w, cells))


def draw_tree(canvas, box, app, rng):
    """variant 0 round broadleaf, 1 conifer, 2 tall poplar; texture = leafy mottling;
    hue = green, dark green, yellow-green, autumn orange, autumn red."""
    w, h = _size(box)
    _shadow(canvas, box, 0.08)
    col = shaded(palette("foliage", app.hue), app.shade)
    trunk_col = shaded(np.array([0.38, 0.26, 0.16], np.float32), app.shade)
    m, d = mask_image(w, h)
    if app.variant == 1:
        d.rectangle([0.44 * w, 0.8 * h, 0.56 * w, h], fill=255)
        paint(canvas, box, trunk_col, as_alpha(m))
        m, d = mask_image(w, h)
        tiers = int(rng.integers(3, 5))
        for i in range(tiers):
            top, bot = i / tiers * 0.62 * h, (0.32 + (i + 1) / tiers * 0.55) * h
            half = (0.3 + 0.7 * (i + 1) / tiers) * w / 2
            d.polygon([(w / 2, top), (w / 2 - half, bot), (w / 2 + half, bot)], fill=255)
    else:
        tw = 0.12 if app.variant == 0 else 0.08
        d.rectangle([(0.5 - tw / 2) * w, 0.5 * h, (0.5 + tw / 2) * w, h], fill=255)
        paint(canvas, box, lighten(np.broadcast_to(trunk_col, (h, w, 3)), _lit(h, w, 0.2)), as_alpha(m))
        m, d = mask_image(w, h)
        crown_h = (0.72 if app.variant == 0 else 0.85) * h
        cw = w if app.variant == 0 else 0.8 * w
        d.ellipse([(w - cw) / 2 + 0.1 * cw, 0.1 * crown_h, (w + cw) / 2 - 0.1 * cw, crown_h], fill=255)
        for _ in range(int(rng.integers(6, 11))):
            r = uni(rng, 0.16, 0.26) * cw
            cx = uni(rng, (w - cw) / 2 + r, (w + cw) / 2 - r)
            cy = uni(rng, r, crown_h - r * 0.8)
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    rgb = _textured(rng, app, h, w, col, lit=0.32, grain=0.7, cells=max(3, w // 14))
    paint(canvas, box, rgb, as_alpha(m))


def draw_bush(canvas, box, app, rng):
    """variant 0 round dome, 1 trimmed hedge, 2 flowering bush; texture = leafy mottling;
    hue = green, dark green, light green, blue-green, red-leaved."""
    w, h = _size(box)
    _shadow(canvas, box, 0.15)
    m, d = mask_image(w, h)
    if app.variant == 1:
        d.rounded_rectangle([0, 0.15 * h, w - 1, h - 1], radius=0.2 * h, fill=255)
        for i in range(int(rng.integers(4, 8))):
            r = uni(rng, 0.12, 0.2) * h
            cx = uni(rng, r, w - r)
            d.ellipse([cx - r, 0.15 * h - r * 0.6, cx + r, 0.15 * h + r * 1.4], fill=255)
    else:
        d.ellipse([0.05 * w, 0.25 * h, 0.95 * w, h - 1], fill=255)
        for _ in range(int(rng.integers(5, 9))):
            r = uni(rng, 0.18, 0.3) * min(w, 2 * h)
            cx = uni(rng, r, w - r)
            cy = uni(rng, r, h - r)
            d.ellipse([cx - r, cy - r, cx + r, min(cy + r, h - 1)], fill=255)
    col = shaded(palette("bush", app.hue), app.shade)
    rgb = _textured(rng, app, h, w, col, lit=0.28, grain=0.7, cells=max(3, w // 12))
    if app.variant == 2:
        blossom = np.clip(noise(rng, h, w, max(3, h // 6), max(3, w // 6)) * 4 - 2.0, 0, 1)
        rgb += (np.array([0.97, 0.75, 0.85], np.float32) - rgb) * blossom[..., None]
    paint(canvas, box, rgb, as_alpha(m))


def draw_flower(canvas, box, app, rng):
    """A flower bed. variant 0 round blossoms, 1 tulips on stems, 2 daisies; texture = density;
    hue = blossom colour (whole hue wheel)."""
    w, h = _size(box)
    m, d = mask_image(w, h)
    d.rounded_rectangle([0, 0.45 * h, w - 1, h - 1], radius=0.2 * h, fill=255)
    green = shaded(np.array([0.3, 0.55, 0.22], np.float32), 0.5)
    paint(canvas, box, _textured(rng, app, h, w, green, 0.2, 0.3, max(3, w // 10)), as_alpha(m))
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    petal = hue_colour(app, 0.75)
    r0 = max(2.0, 0.045 * w)
    count = int((0.35 + 0.9 * app.texture) * 0.85 * w * h / (3.2 * r0 * r0)) + 4
    for _ in range(count):
        cx, cy = uni(rng, r0, w - r0), uni(rng, 0.15 * h + r0, h - r0)
        k = uni(rng, -0.15, 0.25)
        jitter = np.clip(petal + (1 - petal) * k if k > 0 else petal * (1 + k), 0, 1)
        c = tuple(int(v * 255) for v in jitter) + (255,)
        r = r0 * uni(rng, 0.7, 1.2)
        if app.variant == 1:
            top = max(r, cy - uni(rng, 0.15, 0.35) * h)
            d.line([(cx, cy + r), (cx, top)], fill=(50, 110, 40, 255), width=max(1, int(r / 3)))
            d.chord([cx - r, top - r * 1.3, cx + r, top + r], 0, 180, fill=c)
            d.polygon([(cx - r, top), (cx - r * 0.5, top - r * 1.2), (cx, top - r * 0.3),
                       (cx + r * 0.5, top - r * 1.2), (cx + r, top)], fill=c)
        elif app.variant == 2:
            for k in range(6):
                a = k * np.pi / 3
                px, py = cx + np.cos(a) * r * 0.9, cy + np.sin(a) * r * 0.9
                d.ellipse([px - r * 0.55, py - r * 0.55, px + r * 0.55, py + r * 0.55], fill=c)
            d.ellipse([cx - r * 0.45, cy - r * 0.45, cx + r * 0.45, cy + r * 0.45], fill=(240, 200, 40, 255))
        else:
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=c)
            d.ellipse([cx - r * 0.35, cy - r * 0.35, cx + r * 0.35, cy + r * 0.35],
                      fill=tuple(int(v * 200) for v in jitter) + (255,))
    arr = np.asarray(layer, np.float32) / 255.0
    paint(canvas, box, arr[..., :3], arr[..., 3])


def _blob(d, cx, cy, rx, ry, rng, sides, rough):
    a = np.sort(uni(rng, 0, 2 * np.pi, sides)) if sides < 12 else np.linspace(0, 2 * np.pi, sides, endpoint=False)
    r = 1 + rough * uni(rng, -1, 1, sides)
    pts = [(cx + np.cos(t) * rx * k, min(cy + np.sin(t) * ry * k, cy + ry * 0.9)) for t, k in zip(a, r)]
    d.polygon(pts, fill=255)


def draw_rock(canvas, box, app, rng):
    """variant 0 rounded boulder, 1 angular rock, 2 a pile of stones; texture = speckles and cracks;
    hue = grey, blue-grey, brown, sandstone, dark basalt."""
    w, h = _size(box)
    _shadow(canvas, box, 0.15, 0.4)
    m, d = mask_image(w, h)
    if app.variant == 2:
        for cx, cy, s in ((0.32, 0.66, 0.32), (0.7, 0.7, 0.28), (0.5, 0.4, 0.3)):
            _blob(d, cx * w, cy * h, s * w, s * h * 1.1, rng, 24, 0.05)
    else:
        _blob(d, w / 2, h / 2 + 0.02 * h, 0.48 * w, 0.5 * h, rng, 6 if app.variant == 1 else 32,
              0.12 if app.variant == 1 else 0.04)
    col = shaded(palette("rock", app.hue), app.shade)
    rgb = _textured(rng, app, h, w, col, lit=0.38, grain=0.7, cells=max(3, w // 16))
    if app.texture > 0.05:
        cracks = np.clip(1 - np.abs(noise(rng, h, w, 4, 4)) * 6, 0, 1)
        rgb = lighten(rgb, -0.6 * app.texture * cracks)
    paint(canvas, box, rgb, as_alpha(m))


def draw_house(canvas, box, app, rng):
    """variant 0 cottage with gable roof, 1 flat-roofed house, 2 two-storey house with hip roof;
    texture = siding / brick lines; hue = wall colour (white, cream, yellow, terracotta, brick, blue,
    sage), the roof colour follows it."""
    w, h = _size(box)
    _shadow(canvas, box, 0.06, 0.3)
    wall_top = (0.45, 0.14, 0.3)[app.variant % 3] * h
    wall = shaded(palette("wall", app.hue), app.shade)
    roof = shaded(palette("roof", (app.hue + 0.37) % 1.0), app.shade)
    m, d = mask_image(w, h)
    d.rectangle([0.06 * w, wall_top, 0.94 * w, h - 1], fill=255)
    rgb = np.broadcast_to(wall, (h, w, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lines = ((yy % max(4.0, h * 0.08)) < max(1.5, h * 0.025)).astype(np.float32)
    rgb = lighten(rgb, -0.3 * app.texture * lines + 0.08 * (xx < w * 0.5) - 0.04)
    paint(canvas, box, rgb, as_alpha(m))
    m, d = mask_image(w, h)
    if app.variant == 0:
        d.polygon([(0, wall_top + 0.02 * h), (w / 2, 0), (w - 1, wall_top + 0.02 * h)], fill=255)
        d.rectangle([0.68 * w, 0.08 * h, 0.78 * w, 0.3 * h], fill=255)  # chimney
    elif app.variant == 1:
        d.rectangle([0.02 * w, 0, 0.98 * w, wall_top], fill=255)
    else:
        d.polygon([(0, wall_top), (0.22 * w, 0), (0.78 * w, 0), (w - 1, wall_top)], fill=255)
    roof_rgb = _textured(rng, app, h, w, roof, 0.2, 0.15, 6)
    roof_rgb = lighten(roof_rgb, -0.12 * ((yy % max(3.0, h * 0.04)) < 1.5))
    paint(canvas, box, roof_rgb, as_alpha(m))
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    floors = 2 if app.variant == 2 else 1
    fh = (h - wall_top) / floors
    glass = (150, 190, 215, 255) if app.shade > 0.3 else (240, 210, 120, 255)
    for f in range(floors):
        y0 = wall_top + f * fh + 0.22 * fh
        for cx in (0.22, 0.5, 0.78) if f < floors - 1 or app.variant != 0 else (0.25, 0.75):
            if f == floors - 1 and abs(cx - 0.5) < 0.1:
                continue
            ww = 0.1 * w
            d.rectangle([cx * w - ww, y0, cx * w + ww, y0 + 0.38 * fh], fill=(245, 245, 240, 255))
            d.rectangle([cx * w - ww * 0.8, y0 + 0.05 * fh, cx * w + ww * 0.8, y0 + 0.33 * fh], fill=glass)
    door = tuple(int(v * 255) for v in roof * 0.7) + (255,)
    d.rectangle([0.44 * w, h - 0.55 * fh, 0.56 * w, h - 1], fill=door)
    arr = np.asarray(layer, np.float32) / 255.0
    paint(canvas, box, arr[..., :3], arr[..., 3])


def draw_car(canvas, box, app, rng):
    """Side view. variant 0 saloon, 1 hatchback, 2 van; texture = gloss highlight;
    hue = body colour (whole hue wheel)."""
    w, h = _size(box)
    _shadow(canvas, box, 0.12, 0.45)
    body = hue_colour(app, 0.7)
    r = 0.2 * h if app.variant != 2 else 0.16 * h
    body_top = (0.42, 0.42, 0.08)[app.variant % 3] * h
    m, d = mask_image(w, h)
    d.rounded_rectangle([0, body_top, w - 1, h - r * 0.9], radius=0.12 * h, fill=255)
    if app.variant == 0:
        d.polygon([(0.22 * w, body_top + 1), (0.33 * w, 0), (0.64 * w, 0), (0.78 * w, body_top + 1)], fill=255)
    elif app.variant == 1:
        d.polygon([(0.2 * w, body_top + 1), (0.32 * w, 0), (0.9 * w, 0.02 * h), (0.96 * w, body_top + 1)], fill=255)
    rgb = np.broadcast_to(body, (h, w, 3)).astype(np.float32)
    yy = np.arange(h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    hl = np.exp(-((yy - max(body_top + 0.1 * h, 0.5 * h)) / (0.06 * h)) ** 2)
    rgb = lighten(rgb, _lit(h, w, 0.15) + 0.7 * app.texture * hl)
    flip = rng.random() < 0.5
    if flip:
        rgb, m = rgb[:, ::-1], m.transpose(Image.FLIP_LEFT_RIGHT)
    paint(canvas, box, rgb, as_alpha(m))
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    glass = (170, 200, 220, 255)
    if app.variant == 0:
        d.polygon([(0.27 * w, body_top), (0.35 * w, 0.08 * h), (0.62 * w, 0.08 * h), (0.72 * w, body_top)], fill=glass)
    elif app.variant == 1:
        d.polygon([(0.25 * w, body_top), (0.34 * w, 0.08 * h), (0.86 * w, 0.09 * h), (0.9 * w, body_top)], fill=glass)
    else:
        d.rectangle([0.18 * w, 0.16 * h, 0.95 * w, 0.42 * h], fill=glass)
    line = tuple(int(v * 160) for v in body) + (255,)
    d.line([(0.5 * w, body_top), (0.5 * w, h - r * 1.2)], fill=line, width=max(1, int(0.015 * w)))
    for cx in (0.2, 0.8):
        d.ellipse([cx * w - r, h - 2 * r, cx * w + r, h - 1], fill=(30, 30, 32, 255))
        d.ellipse([cx * w - r * 0.5, h - 1.5 * r, cx * w + r * 0.5, h - 0.5 * r], fill=(170, 170, 175, 255))
    d.rectangle([min(0.95 * w, w - 1), body_top + 0.08 * h, w - 1, max(body_top + 0.18 * h, body_top + 0.08 * h)],
                fill=(250, 240, 180, 255))  # the headlight; its corners stay ordered on tiny boxes
    arr = np.asarray(layer, np.float32) / 255.0
    if flip:
        arr = arr[:, ::-1]
    paint(canvas, box, arr[..., :3], arr[..., 3])


def draw_boat(canvas, box, app, rng):
    """variant 0 sailing boat, 1 motor boat with cabin, 2 rowing boat; texture = hull stripe and
    planks; hue = hull colour (whole hue wheel)."""
    w, h = _size(box)
    hull_col = hue_colour(app, 0.65)
    hull_top = (0.68, 0.52, 0.55)[app.variant % 3] * h
    flip = rng.random() < 0.5
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    if app.variant == 0:
        sail = (250, 248, 240, 255)
        d.line([(0.45 * w, 0), (0.45 * w, hull_top)], fill=(90, 70, 50, 255), width=max(2, int(0.02 * w)))
        d.polygon([(0.47 * w, 0.02 * h), (0.47 * w, hull_top - 0.04 * h), (0.9 * w, hull_top - 0.04 * h)], fill=sail)
        d.polygon([(0.43 * w, 0.1 * h), (0.43 * w, hull_top - 0.04 * h), (0.12 * w, hull_top - 0.04 * h)],
                  fill=(235, 232, 225, 255))
    elif app.variant == 1:
        d.rectangle([0.3 * w, 0.18 * h, 0.68 * w, hull_top], fill=(245, 245, 245, 255))
        d.rectangle([0.34 * w, 0.24 * h, 0.64 * w, 0.36 * h], fill=(120, 150, 180, 255))
    else:  # rower and oars
        skin, shirt = (230, 190, 160, 255), tuple(int(v * 255) for v in lighten(hull_col, 0.5)) + (255,)
        d.rectangle([0.44 * w, 0.22 * h, 0.56 * w, hull_top + 0.05 * h], fill=shirt)
        d.ellipse([0.45 * w, 0.02 * h, 0.55 * w, 0.22 * h], fill=skin)
        for x in (0.15, 0.85):
            d.line([(0.5 * w, 0.35 * h), (x * w, h - 1)], fill=(120, 90, 60, 255), width=max(2, int(0.025 * w)))
    arr = np.asarray(layer, np.float32) / 255.0
    if flip:
        arr = arr[:, ::-1]
    paint(canvas, box, arr[..., :3], arr[..., 3])
    m, d = mask_image(w, h)
    d.polygon([(0, hull_top), (w - 1, hull_top - 0.06 * h), (0.85 * w, h - 1), (0.12 * w, h - 1)], fill=255)
    rgb = np.broadcast_to(hull_col, (h, w, 3)).astype(np.float32)
    yy = np.arange(h, dtype=np.float32)[:, None] * np.ones((1, w), np.float32)
    t = (yy - hull_top) / max(h - hull_top, 1)
    stripe = (np.abs(t - 0.3) < 0.08).astype(np.float32)
    planks = ((yy % max(3.0, 0.06 * h)) < 1.2).astype(np.float32)
    rgb = lighten(rgb, 0.8 * app.texture * stripe - 0.2 * app.texture * planks - 0.3 * np.clip(t - 0.6, 0, 1))
    if flip:
        rgb, m = rgb[:, ::-1], m.transpose(Image.FLIP_LEFT_RIGHT)
    paint(canvas, box, rgb, as_alpha(m))


def draw_fence(canvas, box, app, rng):
    """variant 0 picket fence, 1 post-and-rail, 2 lattice; texture = wood grain;
    hue = white, weathered grey, wood brown, dark wood, green paint."""
    w, h = _size(box)
    col = shaded(palette("fence", app.hue), app.shade)
    m, d = mask_image(w, h)
    posts = max(3, int(w / h * (3.2 if app.variant == 0 else 1.3)))
    step = w / posts
    for i in range(posts):
        x = i * step + step * 0.18
        pw = step * (0.6 if app.variant == 0 else 0.22)
        if app.variant == 0:
            d.polygon([(x, 0.18 * h), (x + pw / 2, 0), (x + pw, 0.18 * h), (x + pw, h - 1), (x, h - 1)], fill=255)
        else:
            d.rectangle([x, 0, x + pw, h - 1], fill=255)
    rails = (0.3, 0.7) if app.variant == 0 else (0.15, 0.5, 0.8)
    for y in rails:
        d.rectangle([0, y * h - 0.05 * h, w - 1, y * h + 0.05 * h], fill=255)
    if app.variant == 2:
        for i in range(posts):
            x = i * step
            d.line([(x, 0.15 * h), (x + step, 0.8 * h)], fill=255, width=max(1, int(0.04 * h)))
            d.line([(x + step, 0.15 * h), (x, 0.8 * h)], fill=255, width=max(1, int(0.04 * h)))
    grain = noise(rng, h, w, max(2, h // 3), 2) if app.texture > 0.05 else 0.0
    rgb = lighten(np.broadcast_to(col, (h, w, 3)).astype(np.float32), _lit(h, w, 0.15) + 0.7 * app.texture * grain)
    paint(canvas, box, rgb, as_alpha(m))

"""Drawing of the landscape categories of the procedural scenes (sky, clouds, mountain, hill, sea,
river, sand, grass, road) and the shared painting helpers. Things (trees, cars, ...) are in
``scenes_things.py``.

Every drawer has the signature ``draw(canvas, box, app, rng)``:
    canvas: float32 [R, R, 3] RGB in [0, 1], painted in place.
    box: (x0, y0, x1, y1) integer pixels of the canvas, x1 > x0, y1 > y0.
    app: the object's Appearance (hue, shade, texture in [0, 1]; variant an int).
    rng: numpy Generator for the render details (puff positions, noise), seeded per object.
Appearance factors act as documented in ``scenes.py`` (APPEARANCE_DOC); everything is drawn inside
the box, so boxes are (near) tight.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Colour anchors per palette, RGB 0..255; Appearance.hue in [0, 1] interpolates along them.
PALETTES = {
    "sky_top": [(38, 98, 196), (72, 142, 226), (140, 170, 205), (78, 66, 150), (104, 64, 128)],
    "sky_bottom": [(168, 208, 240), (206, 232, 250), (222, 226, 230), (238, 160, 132), (252, 186, 96)],
    "clouds": [(255, 255, 255), (252, 244, 226), (250, 222, 222), (205, 208, 216), (160, 164, 176)],
    "mountain": [(112, 128, 160), (128, 118, 150), (130, 112, 92), (104, 120, 104), (150, 140, 130)],
    "hill": [(120, 170, 70), (80, 140, 60), (150, 160, 70), (100, 130, 90), (170, 150, 80)],
    "water": [(40, 150, 170), (36, 100, 170), (24, 60, 110), (60, 120, 110), (90, 120, 140)],
    "sand": [(238, 222, 180), (226, 192, 124), (242, 236, 222), (212, 156, 104), (186, 178, 164)],
    "grass": [(150, 190, 60), (90, 160, 60), (50, 120, 50), (150, 150, 80), (80, 140, 100)],
    "road": [(84, 86, 92), (122, 120, 118), (148, 128, 98), (176, 160, 128), (60, 60, 64)],
}


def palette(name: str, t: float) -> np.ndarray:
    """Colour at position t in [0, 1] of a palette: float32 [3] in [0, 1]."""
    anchors = np.asarray(PALETTES[name], np.float32) / 255.0
    pos = float(np.clip(t, 0.0, 1.0)) * (len(anchors) - 1)
    i = min(int(pos), len(anchors) - 2)
    return anchors[i] + (anchors[i + 1] - anchors[i]) * (pos - i)


def shaded(rgb: np.ndarray, shade: float) -> np.ndarray:
    """Brightness of a colour by Appearance.shade: 0 -> x0.72, 0.5 -> x1, 1 -> x1.2 (clipped)."""
    f = 0.72 + 0.56 * shade if shade < 0.5 else 1.0 + 0.4 * (shade - 0.5)
    return np.clip(rgb * f, 0.0, 1.0).astype(np.float32)


def base_colour(name: str, app) -> np.ndarray:
    return shaded(palette(name, app.hue), app.shade)


def uni(rng: np.random.Generator, a: float, b: float, size=None):
    """Uniform in [a, b] (or [b, a]); unlike Generator.uniform it accepts b < a."""
    return a + (b - a) * (rng.random(size) if size is not None else rng.random())


def noise(rng: np.random.Generator, h: int, w: int, cells_y: int, cells_x: int) -> np.ndarray:
    """Smooth value noise [h, w] float32, roughly in [-1, 1], ``cells`` random values per axis."""
    g = rng.random((max(1, cells_y) + 1, max(1, cells_x) + 1), dtype=np.float32)
    return np.asarray(Image.fromarray(g * 2 - 1, "F").resize((w, h), Image.Resampling.BICUBIC))


def fbm(rng: np.random.Generator, h: int, w: int, cells: int = 4, octaves: int = 3) -> np.ndarray:
    """Fractal noise [h, w] float32 in about [-1, 1]: octaves of :func:`noise`, each twice as fine."""
    out = np.zeros((h, w), np.float32)
    aspect = w / max(h, 1)
    for o in range(octaves):
        c = cells * 2 ** o
        out += noise(rng, h, w, c, max(1, round(c * aspect))) * 0.5 ** o
    return out / (2 - 0.5 ** (octaves - 1))


def mask_image(w: int, h: int) -> tuple:
    """A blank 'L' mask and its ImageDraw."""
    m = Image.new("L", (w, h), 0)
    return m, ImageDraw.Draw(m)


def as_alpha(mask: Image.Image, blur: float = 0.0) -> np.ndarray:
    """'L' mask -> float32 [h, w] alpha in [0, 1], optionally Gaussian-blurred (radius in pixels)."""
    if blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(mask, np.float32) / 255.0


def paint(canvas: np.ndarray, box, rgb, alpha) -> None:
    """Alpha-composite ``rgb`` ([h, w, 3] or [3]) with ``alpha`` ([h, w] in [0, 1]) into the box."""
    x0, y0, x1, y1 = box
    sub = canvas[y0:y1, x0:x1]
    a = np.asarray(alpha, np.float32)[..., None]
    sub *= 1.0 - a
    sub += a * rgb


def vgrad(h: int, w: int, top, bottom, gamma: float = 1.0) -> np.ndarray:
    """Vertical gradient [h, w, 3] from colour ``top`` to ``bottom``."""
    t = (np.linspace(0.0, 1.0, h, dtype=np.float32) ** gamma)[:, None, None]
    return np.broadcast_to(np.asarray(top) * (1 - t) + np.asarray(bottom) * t, (h, w, 3)).astype(np.float32)


def lighten(rgb: np.ndarray, k) -> np.ndarray:
    """Move colours towards white by k ([h, w] or scalar; negative k darkens)."""
    k = np.asarray(k, np.float32)
    if k.ndim == 2:
        k = k[..., None]
    out = rgb + np.abs(k) * ((k >= 0) - rgb)  # towards 1 where k >= 0, towards 0 elsewhere
    return np.clip(out, 0.0, 1.0, out=out)


def _size(box):
    return box[2] - box[0], box[3] - box[1]


# -- landscape ------------------------------------------------------------------------------------

def draw_sky(canvas, box, app, rng):
    """Sky gradient. variant 0 clear, 1 with a sun and its glow, 2 with a bright haze band;
    texture = amount of streaky high cirrus; hue = day blue .. overcast .. dusk .. sunset."""
    w, h = _size(box)
    top, bot = shaded(palette("sky_top", app.hue), app.shade), shaded(palette("sky_bottom", app.hue), app.shade)
    rgb = vgrad(h, w, top, bot, 0.8).copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if app.variant == 1:
        r = 0.05 * canvas.shape[0]
        sx, sy = uni(rng, 0.15, 0.85) * w, uni(rng, 0.25, 0.6) * h
        d = np.hypot(xx - sx, yy - sy)
        sun = np.clip(palette("sky_bottom", app.hue) * 0.4 + 0.75, 0, 1)
        glow = 0.55 * np.exp(-(d / (5 * r)) ** 2) + np.clip(r - d + 1, 0, 1)
        rgb += (sun - rgb) * np.clip(glow, 0, 1)[..., None]
    elif app.variant == 2:
        band = np.exp(-((yy / h - 0.7) / 0.16) ** 2)
        rgb = lighten(rgb, 0.6 * band)
    if app.texture > 0.05:
        streak = np.clip(noise(rng, h, w, max(4, h // 24), 3) * 1.6 - 0.1, 0, 1)
        rgb = lighten(rgb, 0.65 * app.texture * streak * (1 - yy / (1.4 * h)))
    paint(canvas, box, rgb, np.ones((h, w), np.float32))


def draw_clouds(canvas, box, app, rng):
    """Cloud bank. variant 0 cumulus (puffs on a flat base), 1 stratus layers, 2 scattered puffs;
    texture = wispiness (noise-eroded, soft edges); hue = white, cream, pink, grey, storm grey."""
    w, h = _size(box)
    m, d = mask_image(w, h)
    if app.variant == 0:
        n = int(rng.integers(4, 7))
        for i in range(n):
            cx = w * (0.12 + 0.76 * i / (n - 1)) + uni(rng, -0.04, 0.04) * w
            r = min(h * uni(rng, 0.3, 0.5), w * 0.2) * (1.3 if 0 < i < n - 1 else 0.9)
            cy = h - r * uni(rng, 0.75, 1.0)
            d.ellipse([cx - r * 1.2, cy - r, cx + r * 1.2, min(cy + r, h * 0.98)], fill=255)
        d.rectangle([w * 0.08, h * 0.62, w * 0.92, h * 0.98], fill=255)
    elif app.variant == 1:
        for i in range(int(rng.integers(3, 6))):
            cw, ch = w * uni(rng, 0.45, 0.95), h * uni(rng, 0.25, 0.45)
            cx, cy = uni(rng, cw / 2, w - cw / 2), uni(rng, ch / 2, h - ch / 2)
            d.ellipse([cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2], fill=255)
    else:
        for i in range(int(rng.integers(6, 11))):
            r = min(w, h) * uni(rng, 0.18, 0.32)
            cx, cy = uni(rng, r, w - r), uni(rng, r, h - r)
            d.ellipse([cx - r * 1.3, cy - r, cx + r * 1.3, cy + r], fill=255)
    alpha = as_alpha(m, blur=1.5 + 0.04 * min(w, h) * app.texture)
    alpha *= 1 - app.texture * 0.55 * np.clip(fbm(rng, h, w, 3) + 0.5, 0, 1)
    col = base_colour("clouds", app)
    rgb = vgrad(h, w, lighten(col, 0.25), col * 0.78)
    paint(canvas, box, rgb, alpha * 0.97)


def _ridge_mask(ridge: np.ndarray, h: int) -> np.ndarray:
    """[h, w] alpha that is 1 below the ridge line (y >= ridge[x]) with a one-pixel soft edge."""
    yy = np.arange(h, dtype=np.float32)[:, None]
    return np.clip(yy - ridge[None, :] + 0.5, 0.0, 1.0)


def _peaks(rng, w, h, n_peaks, rough):
    """Ridge line [w] (y of the top edge per column) of n_peaks peaks; the outer faces reach the
    bottom corners of the box, one peak touches its top."""
    x = np.arange(w, dtype=np.float32)
    px = np.sort(uni(rng, 0.2, 0.8, n_peaks)) * w
    py = uni(rng, 0.05, 0.4, n_peaks) * h
    py[rng.integers(n_peaks)] = 0.0
    inner = uni(rng, 1.2, 2.4, (n_peaks, 2)) * h / w
    to_left, to_right = (0.97 * h - py) / np.maximum(px, 1.0), (0.97 * h - py) / np.maximum(w - px, 1.0)
    inner[:, 0], inner[:, 1] = np.maximum(inner[:, 0], to_left), np.maximum(inner[:, 1], to_right)
    inner[0, 0], inner[-1, 1] = to_left[0], to_right[-1]  # outer faces end in the bottom corners
    left = py[:, None] + inner[:, 0:1] * (px[:, None] - x[None, :])
    right = py[:, None] + inner[:, 1:2] * (x[None, :] - px[:, None])
    ridge = np.min(np.where(x[None, :] < px[:, None], left, right), axis=0)
    ridge += (noise(rng, 1, w, 1, 10)[0] * 0.06 + noise(rng, 1, w, 1, 60)[0] * 0.015 * (0.5 + rough)) * h
    ridge -= ridge.min()
    return np.clip(ridge, 0, h)


def draw_mountain(canvas, box, app, rng):
    """Mountain range on the horizon. variant 0 one peak, 1 a ridge of peaks, 2 snow-capped peaks;
    texture = rocky strata and roughness; hue = blue-grey, violet, brown, grey-green, taupe."""
    w, h = _size(box)
    ridge = _peaks(rng, w, h, 1 if app.variant == 0 else int(rng.integers(2, 5)), app.texture)
    alpha = _ridge_mask(ridge, h)
    slope = np.gradient(ridge)
    k = max(5, w // 12)
    light = np.tanh(-np.convolve(np.pad(slope, k, mode="edge"), np.ones(k) / k, mode="same")[k:-k] * 2)  # lit faces > 0
    col = base_colour("mountain", app)
    rgb = vgrad(h, w, col, lighten(col, 0.28))  # hazy towards the base
    yy = np.arange(h, dtype=np.float32)[:, None]
    rgb = lighten(rgb, 0.18 * light[None, :] * np.ones((h, 1), np.float32))
    if app.texture > 0.05:
        strata = np.sin(yy * 12 / h + noise(rng, h, w, 3, 6) * 3) * 0.4 + fbm(rng, h, w, 5) * 0.8
        rgb = lighten(rgb, 0.6 * app.texture * strata)
    if app.variant == 2:
        depth = (0.18 + 0.08 * noise(rng, 1, w, 1, 12)[0]) * h
        snow = np.clip((ridge[None, :] + depth[None, :] - yy) / 2.0, 0, 1) * (yy < 0.55 * h)
        rgb += (lighten(np.full(3, 0.9, np.float32), 0.1 * light[None, :]) - rgb) * snow[..., None]
    paint(canvas, box, rgb, alpha)


def draw_hill(canvas, box, app, rng):
    """Rolling hills. variant 0 one hump, 1 two humps, 2 humps with striped fields;
    texture = dotted shrubs; hue = spring green, deep green, olive, sage, dry gold."""
    w, h = _size(box)
    x = np.linspace(0, 1, w, dtype=np.float32)
    n = 1 if app.variant == 0 else 2
    centres = np.sort(uni(rng, 0.25, 0.75, n))
    bump = np.max([np.exp(-((x - c) / uni(rng, 0.22, 0.35)) ** 2) * uni(rng, 0.75, 1.0)
                   for c in centres], axis=0)
    ridge = (1 - bump / bump.max()) * h * 0.8 + noise(rng, 1, w, 1, 8)[0] * 0.03 * h
    ridge -= ridge.min()
    alpha = _ridge_mask(ridge, h)
    col = base_colour("hill", app)
    rgb = vgrad(h, w, lighten(col, 0.15), col * 0.85).copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if app.variant == 2:
        stripes = np.sin((xx * 0.7 + yy * 1.6) / max(h, 1) * 18 + noise(rng, h, w, 2, 4) * 2)
        rgb = lighten(rgb, 0.12 * np.sign(stripes))
    if app.texture > 0.05:
        dots = np.clip(noise(rng, h, w, max(2, h // 14), max(2, w // 14)) * 3 - 0.9, 0, 1)
        rgb = lighten(rgb, -0.8 * app.texture * dots)
    paint(canvas, box, rgb, alpha)


def _water(rng, app, h, w, horizon_light=0.3):
    col = shaded(palette("water", app.hue), app.shade)
    rgb = vgrad(h, w, lighten(col, horizon_light), col * 0.85, 0.7).copy()
    yy = np.arange(h, dtype=np.float32)[:, None] / max(h, 1)
    if app.variant == 0:  # calm: long horizontal glints
        glint = np.clip(noise(rng, h, w, max(6, h // 5), 3) * 2.5 - 1.2, 0, 1)
        rgb = lighten(rgb, 0.5 * (0.1 + app.texture) * glint)
    elif app.variant == 1:  # rows of waves, wider towards the viewer
        phase = np.cumsum(1.0 / (2.0 + 10.0 * yy[:, 0])) * 3.0
        wave = np.sin(phase[:, None] + noise(rng, h, w, 3, 8) * 3.0)
        rgb = lighten(rgb, 0.25 * (0.15 + app.texture) * wave)
    else:  # choppy with white caps
        caps = np.clip(noise(rng, h, w, max(4, h // 6), max(4, w // 10)) * 4 - 2.6, 0, 1)
        rgb = lighten(rgb, 0.7 * (0.3 + 0.7 * app.texture) * caps + 0.08 * fbm(rng, h, w, 6))
    return rgb


def draw_sea(canvas, box, app, rng):
    """Open water. variant 0 calm with glints, 1 wave rows, 2 choppy with white caps;
    texture = strength of that pattern; hue = turquoise, blue, navy, green, grey."""
    w, h = _size(box)
    paint(canvas, box, _water(rng, app, h, w), np.ones((h, w), np.float32))


def draw_river(canvas, box, app, rng):
    """A river winding towards the viewer (wider at the bottom) between muddy banks. variant 0
    S-bend, 1 meander, 2 nearly straight diagonal; texture and hue as sea."""
    w, h = _size(box)
    y = np.linspace(0, 1, h, dtype=np.float32)
    turns = (1.0, 2.0, 0.3)[app.variant % 3]
    centre = np.sin(y * np.pi * turns + uni(rng, 0, np.pi)) + (y * 1.5 if app.variant == 2 else 0)
    half = 0.12 + 0.35 * y
    left, right = centre - half, centre + half
    lo, hi = left.min(), right.max()
    left, right = (left - lo) / (hi - lo) * (w - 1), (right - lo) / (hi - lo) * (w - 1)
    pts_l = [(float(left[i]), float(i)) for i in range(0, h, 4)] + [(float(left[-1]), float(h))]
    pts_r = [(float(right[i]), float(i)) for i in range(0, h, 4)] + [(float(right[-1]), float(h))]
    bank_m, bank_d = mask_image(w, h)
    bank_d.polygon(pts_l + pts_r[::-1], fill=255)
    water_m, water_d = mask_image(w, h)
    inset = (right - left) * 0.1
    water_d.polygon([(x + inset[min(int(yy), h - 1)], yy) for x, yy in pts_l]
                    + [(x - inset[min(int(yy), h - 1)], yy) for x, yy in pts_r][::-1], fill=255)
    paint(canvas, box, shaded(np.array([0.45, 0.36, 0.24], np.float32), app.shade), as_alpha(bank_m))
    water = _water(rng, app, h, w, 0.2)
    ripple = np.sin(np.arange(h, dtype=np.float32)[:, None] * (6.0 / max(1.0, 0.08 * canvas.shape[0]))
                    + noise(rng, h, w, 4, 4) * 4)
    paint(canvas, box, lighten(water, 0.8 * app.texture * ripple), as_alpha(water_m))


def draw_sand(canvas, box, app, rng):
    """Beach or desert sand with a wavy top edge. variant 0 plain, 1 wind ripples, 2 wet band and
    foam at the top; texture = speckles; hue = pale, golden, white, red, grey."""
    w, h = _size(box)
    col = base_colour("sand", app)
    rgb = vgrad(h, w, lighten(col, 0.1), col * 0.9).copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = (0.5 + 0.5 * noise(rng, 1, w, 1, 6)[0]) * min(0.06 * h, 10)
    alpha = np.clip(yy - edge[None, :] + 0.5, 0, 1)
    if app.variant == 1:
        ripple = np.sin((yy * 1.0 + xx * 0.25 + noise(rng, h, w, 3, 5) * 12) * 0.35)
        rgb = lighten(rgb, 0.1 * ripple)
    elif app.variant == 2:
        wet = np.exp(-np.maximum(yy - edge[None, :], 0) / (0.2 * h))
        rgb = lighten(rgb, -0.3 * wet)
        foam = np.clip(1 - np.abs(yy - edge[None, :] - 3) / 3, 0, 1)
        rgb = lighten(rgb, 0.9 * foam)
    if app.texture > 0.05:
        speck = np.clip(noise(rng, h, w, max(2, h // 10), max(2, w // 10)) * 3 - 1.0, 0, 1)
        rgb = lighten(rgb, -0.5 * app.texture * speck + 0.3 * app.texture * fbm(rng, h, w, 5))
    paint(canvas, box, rgb, alpha)


def draw_grass(canvas, box, app, rng):
    """A field of grass, hazier towards the horizon. variant 0 plain, 1 mown stripes, 2 patchy
    meadow; texture = blade streaks; hue = yellow-green, green, deep green, dry olive, blue-green."""
    w, h = _size(box)
    col = base_colour("grass", app)
    rgb = vgrad(h, w, lighten(col, 0.22), col * 0.85, 0.6).copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if app.variant == 1:
        u = (xx - w / 2) / (0.2 * h + yy)  # stripes converge towards the horizon
        rgb = lighten(rgb, 0.05 * np.sign(np.sin(u * 6)))
    elif app.variant == 2:
        patch = fbm(rng, h, w, 3)
        rgb = lighten(rgb, 0.12 * np.clip(patch * 2, -1, 1))
    if app.texture > 0.05:
        blades = noise(rng, h, w, max(3, h // 16), max(8, w // 10))
        rgb = lighten(rgb, 0.6 * app.texture * blades * (0.3 + yy / h))
    paint(canvas, box, rgb, np.ones((h, w), np.float32))


def draw_road(canvas, box, app, rng):
    """A road across the view. variant 0 dashed centre line, 1 edge lines and dashes, 2 dirt track
    with ruts; texture = grain; hue = asphalt, grey, dirt, sandy track, charcoal."""
    w, h = _size(box)
    col = base_colour("road", app)
    rgb = vgrad(h, w, lighten(col, 0.08), col * 0.92).copy()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    line_w = max(2.0, 0.06 * h)
    if app.variant in (0, 1):
        dash = (np.abs(yy - h / 2) < line_w / 2) & (((xx + uni(rng, 0, 60)) % (0.16 * w)) < 0.09 * w)
        paint_col = np.array([0.95, 0.85, 0.35] if app.hue > 0.5 else [0.95, 0.95, 0.92], np.float32)
        rgb[dash] = paint_col
        if app.variant == 1:
            edges = (np.abs(yy - 0.12 * h) < line_w / 2) | (np.abs(yy - 0.88 * h) < line_w / 2)
            rgb[edges] = np.array([0.93, 0.93, 0.9], np.float32)
    else:
        ruts = np.exp(-((yy / h - 0.35) / 0.08) ** 2) + np.exp(-((yy / h - 0.7) / 0.08) ** 2)
        rgb = lighten(rgb, -0.22 * ruts)
    rgb = lighten(rgb, app.texture * (0.6 * fbm(rng, h, w, max(2, h // 16), 2)
                                     + 0.1 * rng.standard_normal((h, w), dtype=np.float32).clip(-2, 2) / 2))
    curb = (yy < 0.04 * h) | (yy > 0.96 * h)
    rgb[curb] *= 0.8
    paint(canvas, box, rgb, np.ones((h, w), np.float32))

"""Drawing the generated scenes and objects (the formats' writers are the
other modules of this package).

A class is a shape family, nothing else: colour, texture, fill style
(filled, outline, with a hole), size, aspect, rotation and mirroring are
drawn per object, independent of the class, so colour cannot classify an
object and only its outline does. Backgrounds are textured and cluttered
with distractor shapes that belong to no class, some of them drawn over the
objects (partial occlusion).
"""
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

# The first classes are the most distinct outlines: the demo uses 6, the
# classification sets 10.
SHAPES = ('ellipse', 'triangle', 'star', 'cross', 'crescent', 'arrow',
          'rectangle', 'heart', 'l_shape', 'hexagon', 't_shape', 'chevron',
          'u_shape', 'hourglass', 'diamond', 'semicircle', 'four_star',
          'trapezoid', 'zigzag', 'house')
MAX_CLASSES = len(SHAPES)

# An object hidden this much by later objects or distractors, or this small,
# is "difficult", which VOC evaluation ignores (neither a hit nor a miss).
DIFFICULT_VISIBLE_FRACTION = 0.4
DIFFICULT_MIN_SIDE = 10
# Every object is drawn rotated by at most this much: more would turn a
# rectangle into a diamond or a cross into an X.
MAX_ROTATION_DEG = 20.0
# Style of an object (independent of its class): probabilities of a filled
# shape, an outline and a filled shape with a hole through it.
STYLES = {'filled': 0.6, 'outline': 0.2, 'hole': 0.2}
# Texture of an object's paint: plain, stripes, checks or grain.
TEXTURES = {'plain': 0.5, 'stripes': 0.2, 'checks': 0.15, 'grain': 0.15}
# An object's mean colour is redrawn until it differs from the background
# under it by at least this much (RGB distance), so that it is visible.
MIN_CONTRAST = 80.0


def _arc(cx, cy, r, a0, a1, n=16):
    a = np.linspace(a0, a1, n)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], 1)


def _unit_polygon(shape: str,
                  rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Vertices of a family member in arbitrary units (y down); later
    rotated and mapped onto its box. ``rng`` draws the family's own
    variation (arm widths, point depths, ...); None gives its middle."""

    def u(lo, hi):
        return (lo + hi) / 2 if rng is None else float(rng.uniform(lo, hi))

    if shape == 'rectangle':
        pts = [(0, 0), (1, 0), (1, 1), (0, 1)]
    elif shape == 'ellipse':
        pts = _arc(0, 0, 1, 0, 2 * np.pi, 32)[:-1]
    elif shape == 'triangle':
        pts = [(u(0.3, 0.7), 0), (1, 1), (0, 1)]
    elif shape == 'diamond':
        pts = [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)]
    elif shape == 'hexagon':
        pts = _arc(0, 0, 1, 0, 2 * np.pi, 7)[:-1]
    elif shape in ('star', 'four_star'):
        n = 5 if shape == 'star' else 4
        inner = u(0.36, 0.48) if n == 5 else u(0.25, 0.38)
        a = -np.pi / 2 + np.arange(2 * n) * np.pi / n
        r = np.where(np.arange(2 * n) % 2 == 0, 1.0, inner)
        pts = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    elif shape == 'cross':
        t = u(0.3, 0.38)
        s, e = 0.5 - t / 2, 0.5 + t / 2
        pts = [(s, 0), (e, 0), (e, s), (1, s), (1, e), (e, e), (e, 1), (s, 1),
               (s, e), (0, e), (0, s), (s, s)]
    elif shape == 'arrow':
        head, half = u(0.38, 0.5), u(0.14, 0.22)
        pts = [(0, 0.5 - half), (1 - head, 0.5 - half), (1 - head, 0), (1, 0.5),
               (1 - head, 1), (1 - head, 0.5 + half), (0, 0.5 + half)]
    elif shape == 'crescent':
        # The unit disc less a disc shifted right: two arcs meeting at the
        # circles' intersections.
        d, r2 = u(0.45, 0.6), u(0.8, 0.95)
        x = (1 - r2 ** 2 + d ** 2) / (2 * d)
        y = math.sqrt(max(1 - x * x, 1e-6))
        a_out = math.atan2(y, x)
        a_in = math.atan2(y, x - d)
        pts = np.concatenate([_arc(0, 0, 1, a_out, 2 * np.pi - a_out, 24),
                              _arc(d, 0, r2, 2 * np.pi - a_in, a_in, 16)])
    elif shape == 'heart':
        a = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        pts = np.stack([16 * np.sin(a) ** 3,
                        -(13 * np.cos(a) - 5 * np.cos(2 * a)
                          - 2 * np.cos(3 * a) - np.cos(4 * a))], 1)
    elif shape == 'l_shape':
        t = u(0.3, 0.42)
        pts = [(0, 0), (t, 0), (t, 1 - t), (1, 1 - t), (1, 1), (0, 1)]
    elif shape == 't_shape':
        t = u(0.28, 0.38)
        s, e = 0.5 - t / 2, 0.5 + t / 2
        pts = [(0, 0), (1, 0), (1, t), (e, t), (e, 1), (s, 1), (s, t), (0, t)]
    elif shape == 'u_shape':
        t = u(0.25, 0.35)
        pts = [(0, 0), (t, 0), (t, 1 - t), (1 - t, 1 - t), (1 - t, 0), (1, 0),
               (1, 1), (0, 1)]
    elif shape == 'chevron':
        t = u(0.3, 0.42)
        pts = [(0, 0), (0.5, 1 - t - 0.1), (1, 0), (1, t), (0.5, 1), (0, t)]
    elif shape == 'hourglass':
        w = u(0.1, 0.22)
        pts = [(0, 0), (1, 0), (0.5 + w, 0.5), (1, 1), (0, 1), (0.5 - w, 0.5)]
    elif shape == 'semicircle':
        pts = _arc(0, 0, 1, np.pi, 2 * np.pi, 20)
    elif shape == 'trapezoid':
        top = u(0.3, 0.55)
        pts = [(0.5 - top / 2, 0), (0.5 + top / 2, 0), (1, 1), (0, 1)]
    elif shape == 'zigzag':
        t = u(0.25, 0.33)
        pts = [(0, 0), (1, 0), (1, t), (t + 0.15, 1 - t), (1, 1 - t), (1, 1),
               (0, 1), (0, 1 - t), (1 - t - 0.15, t), (0, t)]
    elif shape == 'house':
        roof = u(0.35, 0.5)
        pts = [(0.5, 0), (1, roof), (1, 1), (0, 1), (0, roof)]
    else:
        raise ValueError(f'unknown shape {shape!r}; known: {SHAPES}')
    return np.asarray(pts, dtype=np.float64)


def polygon_in_box(shape, box: Sequence[float], rotation: float = 0.0,
                   mirror: bool = False,
                   rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Vertices of ``shape`` (a family name, or an (N, 2) array of unit
    vertices), rotated by ``rotation`` degrees and mirrored left-right if
    asked, whose extent is exactly ``box`` (x0, y0, x1, y1)."""
    pts = (_unit_polygon(shape, rng) if isinstance(shape, str)
           else np.asarray(shape, dtype=np.float64))
    lo, hi = pts.min(0), pts.max(0)
    pts = (pts - (lo + hi) / 2) / (hi - lo)
    if mirror:
        pts = pts * [-1, 1]
    a = math.radians(rotation)
    pts = pts @ np.array([[math.cos(a), math.sin(a)],
                          [-math.sin(a), math.cos(a)]])
    lo, hi = pts.min(0), pts.max(0)
    x0, y0, x1, y1 = box
    return (pts - lo) / (hi - lo) * [x1 - x0, y1 - y0] + [x0, y0]


def polygon_area(pts: np.ndarray) -> float:
    """Shoelace area of a simple polygon."""
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@dataclass
class SceneObject:
    label: int
    box: Tuple[int, int, int, int]  # x0, y0, x1, y1; pixels [x0, x1) x [y0, y1)
    polygon: np.ndarray  # the outline (a hole, if any, is not part of it)
    difficult: bool
    style: str = 'filled'  # filled, outline or hole (STYLES)
    area: int = 0  # pixels painted (an outline's or a hole's are fewer)


def _choice(rng: np.random.Generator, probs: Dict[str, float]) -> str:
    names = list(probs)
    return names[int(rng.choice(len(names), p=list(probs.values())))]


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """Any hue, saturation from grey to full, any brightness but black."""
    h, s, v = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.2, 1)
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.asarray(rgb) * 255


def _paint(rng: np.random.Generator, width: int, height: int,
           base: np.ndarray) -> np.ndarray:
    """A float (height, width, 3) patch of paint: one colour, or stripes or
    checks of it and a second colour, or grain."""
    kind = _choice(rng, TEXTURES)
    patch = np.broadcast_to(base, (height, width, 3)).astype(np.float32)
    if kind == 'plain':
        return patch.copy()
    if kind == 'grain':
        return patch + rng.normal(0, rng.uniform(15, 40), (height, width, 3))
    other = _random_colour(rng).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(3, 9)
    if kind == 'stripes':
        a = rng.uniform(0, np.pi)
        on = np.sin((xx * np.cos(a) + yy * np.sin(a)) * np.pi / period) > 0
    else:
        on = ((xx // period + yy // period) % 2).astype(bool)
    return np.where(on[..., None], patch, other)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Textured background: smooth colour noise of any saturation, stripes
    and grain."""
    coarse = rng.uniform(20, 235, size=(rng.integers(3, 9), rng.integers(3, 9), 3))
    img = np.asarray(
        Image.fromarray(coarse.astype(np.uint8)).resize((width, height),
                                                        Image.BILINEAR),
        dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.03, 0.2)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq)
    img += stripes[..., None] * rng.uniform(5, 20)
    img += rng.normal(0, rng.uniform(2, 8), size=img.shape)
    grey = img.mean(2, keepdims=True)
    return grey + (img - grey) * rng.uniform(0.3, 1.0)


def _distractor_polygon(rng: np.random.Generator) -> np.ndarray:
    """A jagged blob of 5-11 vertices at random radii: no class's outline."""
    n = int(rng.integers(5, 12))
    a = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(0.25, 1.0, n)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1)


class _Canvas:
    """An image being drawn (float RGB) and which object owns each pixel
    (-1 background, -2 a distractor)."""

    def __init__(self, rng, width, height):
        self.img = _background(rng, width, height)
        self.owner = np.full((height, width), -1, dtype=np.int32)

    @property
    def size(self):
        return self.img.shape[1], self.img.shape[0]

    def mask(self, poly: np.ndarray, outline: int = 0) -> np.ndarray:
        m = Image.new('L', self.size, 0)
        flat = [tuple(p) for p in poly.tolist()]
        if outline:
            ImageDraw.Draw(m).line(flat + flat[:1], fill=1, width=outline,
                                   joint='curve')
        else:
            ImageDraw.Draw(m).polygon(flat, fill=1)
        return np.asarray(m, dtype=bool)

    def paint(self, rng, mask: np.ndarray, owner: int) -> None:
        ys, xs = np.nonzero(mask)
        if not len(ys):
            return
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        under = self.img[y0:y1, x0:x1][mask[y0:y1, x0:x1]].mean(0)
        for _ in range(8):
            colour = _random_colour(rng)
            if np.linalg.norm(colour - under) >= MIN_CONTRAST:
                break
        patch = _paint(rng, x1 - x0, y1 - y0, colour)
        region = self.img[y0:y1, x0:x1]
        m = mask[y0:y1, x0:x1]
        region[m] = patch[m]
        self.owner[mask] = owner

    def distractors(self, rng, count: int, short: int, lo: float,
                    hi: float) -> None:
        """``count`` blobs and scribbles of size in [lo, hi] of ``short``."""
        width, height = self.size
        for _ in range(count):
            side = short * math.exp(rng.uniform(math.log(lo), math.log(hi)))
            w = max(3, min(width - 1, side * rng.uniform(0.6, 1.6)))
            h = max(3, min(height - 1, side * rng.uniform(0.6, 1.6)))
            x0, y0 = rng.uniform(0, width - w), rng.uniform(0, height - h)
            box = (x0, y0, x0 + w, y0 + h)
            if rng.uniform() < 0.35:  # a scribble: an open thick polyline
                pts = rng.uniform([x0, y0], [x0 + w, y0 + h],
                                  (int(rng.integers(2, 5)), 2))
                m = Image.new('L', self.size, 0)
                ImageDraw.Draw(m).line([tuple(p) for p in pts.tolist()],
                                       fill=1,
                                       width=int(rng.integers(1, 4)))
                mask = np.asarray(m, dtype=bool)
            else:
                mask = self.mask(polygon_in_box(_distractor_polygon(rng), box,
                                                rotation=rng.uniform(0, 360)))
            self.paint(rng, mask, -2)

    def image(self) -> Image.Image:
        return Image.fromarray(np.clip(self.img, 0, 255).astype(np.uint8))


def _draw_object(canvas: _Canvas, rng: np.random.Generator, label: int,
                 box: Sequence[float], owner: int) -> Tuple[np.ndarray, str,
                                                           np.ndarray]:
    """Draw one member of class ``label``'s family filling ``box``; returns
    its outline polygon, its style and its pixel mask."""
    poly = polygon_in_box(SHAPES[label], box,
                          rotation=rng.uniform(-MAX_ROTATION_DEG,
                                               MAX_ROTATION_DEG),
                          mirror=bool(rng.uniform() < 0.5), rng=rng)
    style = _choice(rng, STYLES)
    side = min(box[2] - box[0], box[3] - box[1])
    if style == 'outline' and side >= 12:
        width = max(2, int(round(side * rng.uniform(0.08, 0.15))))
        mask = canvas.mask(poly, outline=width) & canvas.mask(poly)
    else:
        mask = canvas.mask(poly)
        if style == 'hole' and side >= 12:
            centre = poly.mean(0)
            hole = centre + (poly - centre) * rng.uniform(0.35, 0.55)
            mask &= ~canvas.mask(hole)
        else:
            style = 'filled'
    canvas.paint(rng, mask, owner)
    return poly, style, mask


def draw_scene(rng: np.random.Generator, width: int, height: int,
               num_classes: int, max_objects: int = 6,
               min_objects: int = 1) -> Tuple[Image.Image, List[SceneObject]]:
    """Draw one scene; returns the image and its objects in drawing order."""
    canvas = _Canvas(rng, width, height)
    short = min(width, height)
    canvas.distractors(rng, int(rng.integers(1, 6)), short, 0.05, 0.3)
    objects, masks = [], []
    for idx in range(int(rng.integers(min_objects, max_objects + 1))):
        label = int(rng.integers(num_classes))
        scale = short * math.exp(rng.uniform(math.log(0.08), math.log(0.6)))
        aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.6)))
        w = int(np.clip(round(scale * math.sqrt(aspect)), 6, width - 2))
        h = int(np.clip(round(scale / math.sqrt(aspect)), 6, height - 2))
        x0 = int(rng.integers(0, width - w + 1))
        y0 = int(rng.integers(0, height - h + 1))
        # Vertices at pixel centres, so the filled pixels span [x0, x0 + w).
        poly, style, mask = _draw_object(canvas, rng, label,
                                         (x0, y0, x0 + w - 1, y0 + h - 1), idx)
        masks.append(mask)
        objects.append(SceneObject(label, (x0, y0, x0 + w, y0 + h), poly,
                                   False, style, int(mask.sum())))
    # Distractors over the objects: partial occlusion.
    canvas.distractors(rng, int(rng.integers(0, 3)), short, 0.04, 0.15)
    for idx, (obj, own) in enumerate(zip(objects, masks)):
        x0, y0, x1, y1 = obj.box
        visible = (canvas.owner[own] == idx).mean() if own.any() else 0.0
        obj.difficult = bool(visible < DIFFICULT_VISIBLE_FRACTION
                             or min(x1 - x0, y1 - y0) < DIFFICULT_MIN_SIDE)
    return canvas.image(), objects


def draw_single_object(rng: np.random.Generator, size: int,
                       label: int) -> Image.Image:
    """One object of class ``label`` covering most of a ``size`` square, on
    a cluttered background (ImageNet's and CIFAR-10's kind of image)."""
    canvas = _Canvas(rng, size, size)
    canvas.distractors(rng, int(rng.integers(0, 3)), size, 0.1, 0.3)
    side = rng.uniform(0.5, 0.9) * size
    aspect = math.exp(rng.uniform(math.log(0.7), math.log(1.4)))
    w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    w, h = min(w, size - 2), min(h, size - 2)
    x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
    _draw_object(canvas, rng, label, (x0, y0, x0 + w, y0 + h), 0)
    if rng.uniform() < 0.2:
        canvas.distractors(rng, 1, size, 0.08, 0.2)
    return canvas.image()


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split``: its own stream per
    seed, split and index. The split's whole name is the key (an earlier
    version read its first 8 bytes only, so CIFAR-10's ``cifar10train`` and
    ``cifar10test`` drew the same images: the test set was the training
    set's first batch)."""
    split_key = int.from_bytes(split.encode(), 'little')
    return np.random.default_rng([seed, split_key, index])


def jittered_size(rng: np.random.Generator, image_size: int) -> Tuple[int, int]:
    """Varied width and height around ``image_size`` (VOC images vary too)."""
    w = int(image_size * rng.uniform(0.8, 1.25))
    h = int(image_size * rng.uniform(0.8, 1.25))
    return w, h


def progress_bar(items, desc: str, progress: bool):
    return tqdm(items, desc=desc, unit='img', disable=not progress,
                dynamic_ncols=True)


def check_num_classes(num_classes: int, names: Sequence[str]) -> None:
    if not 1 <= num_classes <= min(len(names), MAX_CLASSES):
        raise ValueError(f'num_classes must be in [1, {min(len(names), MAX_CLASSES)}]'
                         f', got {num_classes}')

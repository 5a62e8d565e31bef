"""Drawing the generated scenes and objects (the formats' writers are the
other modules of this package)."""
import math
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

SHAPES = ('rectangle', 'ellipse', 'triangle', 'diamond', 'hexagon', 'star',
          'cross', 'arrow')
COLOURS = {
    'red': (220, 30, 30),
    'green': (30, 180, 40),
    'blue': (30, 60, 220),
    'yellow': (235, 215, 30),
    'magenta': (210, 40, 200),
    'cyan': (30, 200, 210),
    'orange': (245, 130, 20),
    'white': (245, 245, 245),
    'black': (15, 15, 15),
    'purple': (110, 40, 160),
}
MAX_CLASSES = len(SHAPES) * len(COLOURS)

# An object hidden this much by later objects, or this small, is "difficult",
# which VOC evaluation ignores (neither a hit nor a miss).
DIFFICULT_VISIBLE_FRACTION = 0.4
DIFFICULT_MIN_SIDE = 10


def appearance(class_index: int) -> Tuple[str, str]:
    """Shape and colour name of a class; distinct for the first 80 classes.

    Shape varies fastest and colour is shifted per row so that the first
    eight classes differ in both shape and colour.
    """
    if not 0 <= class_index < MAX_CLASSES:
        raise ValueError(f'class index {class_index} outside [0, {MAX_CLASSES})')
    shape = class_index % len(SHAPES)
    row = class_index // len(SHAPES)
    colour = (shape + 9 * row) % len(COLOURS)
    return SHAPES[shape], list(COLOURS)[colour]


def _unit_polygon(shape: str) -> np.ndarray:
    """Vertices of a shape in arbitrary units; later mapped onto its box."""
    if shape == 'rectangle':
        pts = [(0, 0), (1, 0), (1, 1), (0, 1)]
    elif shape == 'ellipse':
        a = np.linspace(0, 2 * np.pi, 32, endpoint=False)
        pts = np.stack([np.cos(a), np.sin(a)], 1)
    elif shape == 'triangle':
        pts = [(0.5, 0), (1, 1), (0, 1)]
    elif shape == 'diamond':
        pts = [(0.5, 0), (1, 0.5), (0.5, 1), (0, 0.5)]
    elif shape == 'hexagon':
        pts = [(0.25, 0), (0.75, 0), (1, 0.5), (0.75, 1), (0.25, 1), (0, 0.5)]
    elif shape == 'star':
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        pts = np.stack([r * np.cos(a), r * np.sin(a)], 1)
    elif shape == 'cross':
        t, u = 0.33, 0.67
        pts = [(t, 0), (u, 0), (u, t), (1, t), (1, u), (u, u), (u, 1), (t, 1),
               (t, u), (0, u), (0, t), (t, t)]
    elif shape == 'arrow':
        pts = [(0, 0.3), (0.55, 0.3), (0.55, 0), (1, 0.5), (0.55, 1),
               (0.55, 0.7), (0, 0.7)]
    else:
        raise ValueError(f'unknown shape {shape!r}; known: {SHAPES}')
    return np.asarray(pts, dtype=np.float64)


def polygon_in_box(shape: str, box: Sequence[float]) -> np.ndarray:
    """Vertices of ``shape`` whose extent is exactly ``box`` (x0, y0, x1, y1)."""
    pts = _unit_polygon(shape)
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
    polygon: np.ndarray
    difficult: bool


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Low-contrast texture: smooth colour noise, stripes and grain."""
    coarse = rng.uniform(70, 190, size=(rng.integers(3, 8), rng.integers(3, 8), 3))
    img = np.asarray(
        Image.fromarray(coarse.astype(np.uint8)).resize((width, height),
                                                        Image.BILINEAR),
        dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle, freq = rng.uniform(0, np.pi), rng.uniform(0.03, 0.2)
    stripes = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq)
    img += stripes[..., None] * rng.uniform(5, 25)
    img += rng.normal(0, 6, size=img.shape)
    # Desaturate so that the objects' saturated colours stand out.
    grey = img.mean(2, keepdims=True)
    img = grey + (img - grey) * 0.5
    return img


def draw_scene(rng: np.random.Generator, width: int, height: int,
               num_classes: int, max_objects: int = 6,
               min_objects: int = 1) -> Tuple[Image.Image, List[SceneObject]]:
    """Draw one scene; returns the image and its objects in drawing order."""
    img = _background(rng, width, height)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    owner = np.full((height, width), -1, dtype=np.int32)
    short = min(width, height)
    objects, masks = [], []
    for idx in range(int(rng.integers(min_objects, max_objects + 1))):
        label = int(rng.integers(num_classes))
        shape, colour = appearance(label)
        scale = short * math.exp(rng.uniform(math.log(0.08), math.log(0.6)))
        aspect = math.exp(rng.uniform(math.log(0.5), math.log(2.0)))
        w = int(np.clip(round(scale * math.sqrt(aspect)), 6, width - 2))
        h = int(np.clip(round(scale / math.sqrt(aspect)), 6, height - 2))
        x0 = int(rng.integers(0, width - w + 1))
        y0 = int(rng.integers(0, height - h + 1))
        # Vertices at pixel centres, so the filled pixels span [x0, x0 + w).
        poly = polygon_in_box(shape, (x0, y0, x0 + w - 1, y0 + h - 1))
        rgb = np.clip(np.asarray(COLOURS[colour]) + rng.integers(-20, 21, 3), 0,
                      255)
        flat = [tuple(p) for p in poly.tolist()]
        draw.polygon(flat, fill=tuple(int(c) for c in rgb))
        mask = Image.new('L', (width, height), 0)
        ImageDraw.Draw(mask).polygon(flat, fill=1)
        masks.append(np.asarray(mask, dtype=bool))
        owner[masks[-1]] = idx
        objects.append(SceneObject(label, (x0, y0, x0 + w, y0 + h), poly, False))
    for idx, (obj, own) in enumerate(zip(objects, masks)):
        x0, y0, x1, y1 = obj.box
        visible = (owner[own] == idx).mean() if own.any() else 0.0
        obj.difficult = bool(visible < DIFFICULT_VISIBLE_FRACTION
                             or min(x1 - x0, y1 - y0) < DIFFICULT_MIN_SIDE)
    return canvas, objects


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of image ``index`` of ``split``: its own stream per
    seed, split and index. The split's whole name is the key (an earlier
    version read its first 8 bytes only, so CIFAR-10's ``cifar10train`` and
    ``cifar10test`` drew the same images: the test set was the training
    set's first batch); names of up to 8 bytes keep their old streams."""
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


def draw_single_object(rng: np.random.Generator, size: int,
                   label: int) -> Image.Image:
    img = _background(rng, size, size)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    shape, colour = appearance(label)
    side = rng.uniform(0.5, 0.9) * size
    aspect = math.exp(rng.uniform(math.log(0.7), math.log(1.4)))
    w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
    w, h = min(w, size - 2), min(h, size - 2)
    x0, y0 = rng.uniform(0, size - w), rng.uniform(0, size - h)
    poly = polygon_in_box(shape, (x0, y0, x0 + w, y0 + h))
    rgb = np.clip(np.asarray(COLOURS[colour]) + rng.integers(-20, 21, 3), 0, 255)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in poly.tolist()],
                                   fill=tuple(int(c) for c in rgb))
    return canvas

"""toyworld: procedural top-down aerial scenes of cars, vans and trucks, written as a YOLO dataset.

What it is for: a free, offline dataset with the structure of the real problem (small vehicles of
three classes seen from above, on textured ground, some under trees, near-duplicate neighbouring
frames), so every stage can run and be tested anywhere. It is not a substitute for real data.

Each *scene* is a canvas a little larger than a frame (a layout from :mod:`data.toyworld_layout`,
drawn with :mod:`data.toyworld_draw`); its frames are crops shifted step by step, like consecutive
video frames of a drifting drone, named ``scene{id:04d}_{frame:02d}.jpg`` so ``--group
'^(scene\\d+)_'`` keeps a scene in one split. Vehicles keep their pixel size whatever the image size
(a smaller image shows less ground). Scene ``i`` draws from ``np.random.default_rng([seed, i])``
only, so a scene is the same whatever ``n_images`` is and runs are byte-identical per seed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from blendaug.data.atomic import atomic_dir
from blendaug.data.errors import ConfigError
from blendaug.data.imageio import encode_image
from blendaug.data.model import ImageRecord
from blendaug.data.toyworld_draw import (
    Tree,
    Vehicle,
    apply_shadow,
    box_xyxy,
    draw_building,
    draw_shadow_polygon,
    draw_tree,
    draw_vehicle,
    make_tree,
    tree_shadow,
    vehicle_shadow,
)
from blendaug.data.toyworld_ground import ground_image, stain_mask
from blendaug.data.toyworld_layout import GRASS, Layout, make_layout
from blendaug.data.toyworld_surfaces import SURFACES_DIR
from blendaug.data.yolo import data_yaml_text, format_label_lines

TOYWORLD_NAMES = ("car", "van", "truck")
GROUP_REGEX = r"^(scene\d+)_"

# Body (length, width) ranges in px at vehicle_scale 1, and a height that sets shadow length.
VEHICLE_DIMS = {
    0: ((31.0, 37.0), (15.5, 17.5), 1.0),
    1: ((43.0, 51.0), (19.0, 21.0), 1.5),
    2: ((66.0, 96.0), (22.5, 25.5), 2.2),
}

# Paint colours (RGB) and how common they are.
PAINTS = np.array([
    [228, 228, 226], [30, 31, 35], [162, 164, 168], [95, 97, 102], [168, 32, 30], [38, 68, 148],
    [28, 40, 78], [46, 92, 58], [196, 180, 146], [222, 186, 40], [210, 110, 30], [120, 24, 32],
], dtype=np.float64)
PAINT_P = np.array([0.24, 0.15, 0.17, 0.1, 0.07, 0.07, 0.05, 0.04, 0.04, 0.02, 0.02, 0.03])


def _help(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class ToyworldConfig:
    """Settings of the toyworld generator; every field says what it does in its ``help`` metadata."""

    n_images: int = field(default=200, metadata=_help("(int) number of images (frames) to write"))
    seed: int = field(default=0, metadata=_help("(int) random seed; the same seed gives byte-identical files"))
    size: int = field(default=640, metadata=_help("(int) image side in pixels"))
    frames_per_scene: int = field(default=4, metadata=_help("(int) consecutive shifted frames per scene"))
    frame_shift: float = field(default=0.08, metadata=_help("(float) camera drift between frames, fraction of size"))
    vehicles_per_frame: tuple[int, int] = field(
        default=(16, 60), metadata=_help("(int, int) vehicles per 640x640 px of ground, min and max (scaled by area)"))
    class_weights: tuple[float, float, float] = field(
        default=(0.55, 0.27, 0.18), metadata=_help("(float x3) relative frequency of car, van, truck"))
    vehicle_scale: float = field(default=1.0, metadata=_help("(float) vehicle size factor; 1.0: a car is ~16x34 px"))
    angle_jitter_deg: float = field(default=4.0, metadata=_help("(float) max deviation of a heading from its lane"))
    tree_occlusion_prob: float = field(default=0.15, metadata=_help("(float) chance a tree partly covers a vehicle"))
    trees_per_frame: float = field(default=5.0, metadata=_help("(float) roadside trees per 640x640 px of grass"))
    min_visible: float = field(default=0.5, metadata=_help("(float) label a vehicle cut by the border if this "
                                                               "fraction of its box is inside"))
    jpeg_quality: int = field(default=90, metadata=_help("(int) JPEG quality of the written images"))

    def __post_init__(self) -> None:
        checks = {
            "n_images": self.n_images >= 1, "size": self.size >= 32, "frames_per_scene": self.frames_per_scene >= 1,
            "frame_shift": 0 <= self.frame_shift <= 1,
            "vehicles_per_frame": 0 <= self.vehicles_per_frame[0] <= self.vehicles_per_frame[1],
            "class_weights": len(self.class_weights) == 3 and min(self.class_weights) >= 0
            and sum(self.class_weights) > 0,
            "vehicle_scale": 0.1 <= self.vehicle_scale <= 10, "angle_jitter_deg": 0 <= self.angle_jitter_deg <= 45,
            "tree_occlusion_prob": 0 <= self.tree_occlusion_prob <= 1, "trees_per_frame": self.trees_per_frame >= 0,
            "min_visible": 0 < self.min_visible <= 1, "jpeg_quality": 1 <= self.jpeg_quality <= 100,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"toyworld.{key}: invalid value {getattr(self, key)!r} ({_field_help(key)})")


def _field_help(key: str) -> str:
    return next(f.metadata["help"] for f in fields(ToyworldConfig) if f.name == key)


@dataclass
class Frame:
    """One rendered image with its labels: ``image_rgb`` (size, size, 3) uint8, boxes in its pixels."""

    name: str
    image_rgb: np.ndarray
    boxes_xyxy_px: np.ndarray
    class_ids: np.ndarray
    surface: np.ndarray | None = None  # (size, size) uint8 surface codes (SURFACE_*), aligned with the image


def scene_rng(seed: int, scene_id: int) -> np.random.Generator:
    """The only source of randomness for scene ``scene_id``: independent of how many scenes are drawn."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, int(scene_id)])


def _overlaps(box: np.ndarray, boxes: np.ndarray, gap: float) -> bool:
    if not len(boxes):
        return False
    ix = np.minimum(box[2] + gap, boxes[:, 2]) - np.maximum(box[0] - gap, boxes[:, 0])
    iy = np.minimum(box[3] + gap, boxes[:, 3]) - np.maximum(box[1] - gap, boxes[:, 1])
    return bool(np.any((ix > 0) & (iy > 0)))


def place_vehicles(rng: np.random.Generator, lay: Layout, n_target: int, cfg: ToyworldConfig,
                   trees: Sequence[Tree] = ()) -> list[Vehicle]:
    """Park or drive up to ``n_target`` vehicles in the layout's zones, without overlapping each other
    and not under the middle of a ``trees`` canopy (those would be hidden, yet labelled)."""
    u = lay.u
    p_class = np.asarray(cfg.class_weights, np.float64) / sum(cfg.class_weights)
    vehicles: list[Vehicle] = []
    boxes = np.zeros((0, 4))
    tree_xyr = np.array([(*t.center, t.radius) for t in trees]).reshape(-1, 3)
    for attempt in range(8 * n_target):
        if len(vehicles) >= n_target:
            break
        # Each class gets the first tries until it has a vehicle, so small scenes still show all three.
        missing = [c for c in range(3) if p_class[c] > 0 and all(v.class_id != c for v in vehicles)]
        cls = int(rng.choice(missing)) if missing and attempt < 30 else int(rng.choice(3, p=p_class))
        (l0, l1), (w0, w1), _h = VEHICLE_DIMS[cls]
        length, width = rng.uniform(l0, l1) * u, rng.uniform(w0, w1) * u
        zones = [z for z in lay.zones if z.max_len >= length and z.max_wid >= width and z.weight(u) > 0]
        if not zones:
            continue
        wz = np.array([z.weight(u) for z in zones])
        zone = zones[int(rng.choice(len(zones), p=wz / wz.sum()))]
        center, heading, slot = zone.sample(rng)
        if zone.blocked(center):
            continue
        slack = (zone.max_wid - width) / 3 if slot is not None else 1.0
        center = (center[0] + rng.uniform(-slack, slack), center[1] + rng.uniform(-slack, slack))
        heading += rng.uniform(-1, 1) * cfg.angle_jitter_deg * (1.0 if slot is not None else 0.5)
        body = PAINTS[int(rng.choice(len(PAINTS), p=PAINT_P))] + rng.uniform(-8, 8, 3)
        cargo = PAINTS[int(rng.choice([0, 0, 0, 2, 3, 5, 4]))] + rng.uniform(-8, 8, 3) if cls == 2 else body
        v = Vehicle(cls, center, length, width, heading, tuple(np.clip(body, 0, 255)), tuple(np.clip(cargo, 0, 255)))
        box = box_xyxy(v)
        if _overlaps(box, boxes, 1.5 * u):
            continue
        if len(tree_xyr) and np.any(np.hypot(tree_xyr[:, 0] - center[0], tree_xyr[:, 1] - center[1])
                                    < tree_xyr[:, 2] + 0.3 * length):
            continue
        if slot is not None:
            zone.used.add(slot)
        zone.n_placed += 1
        vehicles.append(v)
        boxes = np.vstack([boxes, box])
    return vehicles


def _free_trees(rng: np.random.Generator, lay: Layout, cfg: ToyworldConfig) -> list[Tree]:
    """Trees standing on grass; their canopies may reach over the road or a lot."""
    u, region = lay.u, lay.region_map()
    trees: list[Tree] = []
    n_free = rng.poisson(cfg.trees_per_frame * lay.width * lay.height / 640.0**2)
    for _ in range(n_free * 4):
        if len(trees) >= n_free:
            break
        r = rng.uniform(10, 26) * u
        x, y = rng.uniform(0, lay.width), rng.uniform(0, lay.height)
        k = int(r * 0.5)
        if (region[max(int(y) - k, 0):int(y) + k, max(int(x) - k, 0):int(x) + k] == GRASS).all():
            trees.append(make_tree(rng, (x, y), r))
    return trees


def _occluding_trees(rng: np.random.Generator, vehicles: list[Vehicle], cfg: ToyworldConfig) -> list[Tree]:
    """Trees that hide one end of some vehicles (``cfg.tree_occlusion_prob`` each)."""
    u = cfg.vehicle_scale
    trees: list[Tree] = []
    for v in vehicles:
        if rng.uniform() >= cfg.tree_occlusion_prob:
            continue
        # Off-centre along the body, so the canopy hides one end and the vehicle stays recognisable.
        t = np.deg2rad(v.heading_deg)
        along = rng.choice([-1, 1]) * rng.uniform(0.35, 0.6) * v.length
        across = rng.uniform(-0.6, 0.6) * v.width
        c = (v.center[0] + along * np.cos(t) - across * np.sin(t), v.center[1] + along * np.sin(t) + across * np.cos(t))
        trees.append(make_tree(rng, c, float(np.clip(rng.uniform(0.35, 0.5) * v.length, 12 * u, 30 * u))))
    return trees


def render_canvas(
    rng: np.random.Generator, width: int, height: int, cfg: ToyworldConfig
) -> tuple[np.ndarray, list[Vehicle], np.ndarray]:
    """Draw one scene canvas in canonical orientation.

    Returns:
        ``(image (height, width, 3) uint8 RGB, vehicles, surface codes (height, width) uint8)``.
    """
    u = cfg.vehicle_scale
    lay = make_layout(rng, width, height, u)
    img = ground_image(rng, lay)
    lo, hi = cfg.vehicles_per_frame
    n_target = int(round(rng.uniform(lo, hi) * width * height / 640.0**2))
    free_trees = _free_trees(rng, lay, cfg)
    vehicles = place_vehicles(rng, lay, n_target, cfg, free_trees)
    trees = free_trees + _occluding_trees(rng, vehicles, cfg)
    sun_angle = rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(sun_angle), np.sin(sun_angle)]) * rng.uniform(3.0, 6.0) * u
    shadow = stain_mask(rng, lay)
    for b in lay.buildings:
        x0, y0, x1, y1 = b
        draw_shadow_polygon(shadow, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]) + sun * rng.uniform(4, 9))
    for v in vehicles:
        vehicle_shadow(shadow, v, sun * VEHICLE_DIMS[v.class_id][2])
    for t in trees:
        tree_shadow(shadow, t, sun * 2.5)
    img = apply_shadow(img, shadow, rng.uniform(0.45, 0.6), 1.0 * u)
    canvas = np.clip(img, 0, 255).astype(np.uint8)
    for b in lay.buildings:
        draw_building(canvas, b, rng)
    for v in vehicles:
        draw_vehicle(canvas, v)
    for t in trees:
        draw_tree(canvas, t, rng, sun)
    return canvas, vehicles, lay.surface_map()


def _rot90_boxes(boxes: np.ndarray, width: int) -> np.ndarray:
    """Boxes after ``np.rot90(img, 1)`` of an image ``width`` wide: (x, y) -> (y, width - x)."""
    return np.stack([boxes[:, 1], width - boxes[:, 2], boxes[:, 3], width - boxes[:, 0]], axis=1)


def render_scene(cfg: ToyworldConfig, scene_id: int, n_frames: int | None = None) -> list[Frame]:
    """Render the first ``n_frames`` (default all) frames of scene ``scene_id``, labels included."""
    rng = scene_rng(cfg.seed, scene_id)
    size, n_all = cfg.size, cfg.frames_per_scene
    ang = rng.uniform(0, 2 * np.pi)
    step = np.array([np.cos(ang), np.sin(ang)]) * cfg.frame_shift * size
    span = np.abs(step) * (n_all - 1)
    w, h = size + int(math.ceil(span[0])), size + int(math.ceil(span[1]))
    k = int(rng.integers(4))  # the scene is drawn with its main road along x, then turned k quarter turns
    canvas, vehicles, surface = render_canvas(rng, *((w, h) if k % 2 == 0 else (h, w)), cfg)
    boxes = np.array([box_xyxy(v) for v in vehicles]).reshape(-1, 4)
    ids = np.array([v.class_id for v in vehicles], dtype=np.int64)
    for _ in range(k):
        boxes = _rot90_boxes(boxes, canvas.shape[1])
        canvas = np.rot90(canvas)
    canvas, surface = np.ascontiguousarray(canvas), np.rot90(surface, k)
    start = np.maximum(-step * (n_all - 1), 0)
    frames = []
    for f in range(n_all if n_frames is None else min(n_frames, n_all)):
        ox, oy = np.round(start + f * step).astype(int)
        ox, oy = min(max(ox, 0), w - size), min(max(oy, 0), h - size)
        crop = canvas[oy:oy + size, ox:ox + size].astype(np.float32)
        crop = cv2.GaussianBlur(crop, (0, 0), 0.6)
        grain = rng.standard_normal((size, size), dtype=np.float32) * rng.uniform(1.5, 3.0)
        image = np.clip(crop * rng.uniform(0.96, 1.04) + grain[:, :, None], 0, 255).astype(np.uint8)
        fb = boxes - np.array([ox, oy, ox, oy], np.float64)
        clipped = np.clip(fb, 0, size)
        area = (fb[:, 2] - fb[:, 0]) * (fb[:, 3] - fb[:, 1])
        cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
        keep = (cw >= 2) & (ch >= 2) & (cw * ch >= cfg.min_visible * area)
        frames.append(Frame(f"scene{scene_id:04d}_{f:02d}", image, clipped[keep], ids[keep],
                            np.ascontiguousarray(surface[oy:oy + size, ox:ox + size])))
    return frames


def generate_toyworld(out: str | os.PathLike, cfg: ToyworldConfig, overwrite: bool = False) -> Path:
    """Write ``cfg.n_images`` toyworld frames as a YOLO dataset (all in split ``train``) to ``out``.

    Beside ``images/`` and ``labels/``, ``surfaces/train/<name>.png`` holds each frame's surface mask
    (see :mod:`data.toyworld_surfaces`). The folder appears only when complete (see
    :func:`data.atomic.atomic_dir`).

    Returns:
        the path of the written ``data.yaml``.

    Raises:
        BlendaugError: ``out`` exists and is not empty, and ``overwrite`` is off.
    """
    out = Path(out).absolute()
    n_scenes = math.ceil(cfg.n_images / cfg.frames_per_scene)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        img_dir, lbl_dir, srf_dir = tmp / "images" / "train", tmp / "labels" / "train", tmp / SURFACES_DIR / "train"
        for d in (img_dir, lbl_dir, srf_dir):
            d.mkdir(parents=True)
        for sid in range(n_scenes):
            n_frames = min(cfg.frames_per_scene, cfg.n_images - sid * cfg.frames_per_scene)
            for fr in render_scene(cfg, sid, n_frames):
                (img_dir / f"{fr.name}.jpg").write_bytes(encode_image(fr.image_rgb, ".jpg", cfg.jpeg_quality))
                rec = ImageRecord(Path(fr.name), cfg.size, cfg.size, fr.boxes_xyxy_px, fr.class_ids)
                (lbl_dir / f"{fr.name}.txt").write_text(format_label_lines(rec), encoding="utf-8")
                (srf_dir / f"{fr.name}.png").write_bytes(encode_image(fr.surface, ".png"))
        (tmp / "data.yaml").write_text(data_yaml_text(out, list(TOYWORLD_NAMES), ["train"]), encoding="utf-8")
    return out / "data.yaml"


"""Single-class toyworld vehicle crops, as many as wanted: the source domain of sim-to-real translation.

:func:`vehicle_crops` renders small toyworld scenes (:func:`data.toyworld.render_scene`, one frame
each) whose vehicles are all of one class, and cuts every labelled vehicle out with
:func:`data.crops.crop_box`, exactly as ``blendaug data crops`` cuts the crops of a toyworld dataset
(letterbox, the same padding), minus the JPEG round trip of the written dataset. So the crops carry
toyworld's ground, shadows, neighbours and trees like real crops carry their context.

Scene ``i`` of a stream draws from ``scene_rng(seed, i)`` only and scenes are taken in order, so the
first ``n`` crops of a (class, seed) are the same whatever ``n`` is (a prefix of a longer draw).
Nothing here changes how ``blendaug data toyworld`` draws its images.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from blendaug.data.crops import crop_box
from blendaug.data.errors import ConfigError
from blendaug.data.toyworld import TOYWORLD_NAMES, ToyworldConfig, render_scene

SCENE_SIDE_PX = 256  # small scenes: a few vehicles each (trucks up to 96 px long still fit)


def vehicle_crops(
    class_name: str,
    n: int,
    size: int,
    seed: int,
    pad: float = 0.1,
    fit: str = "letterbox",
    cfg: ToyworldConfig | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops of toyworld vehicles of one class.

    Args:
        class_name: ``car``, ``van`` or ``truck``.
        size: crop side in pixels (as ``data crops --size``).
        seed: the stream's seed; the first ``n`` crops do not depend on ``n``.
        pad, fit: as ``data crops --pad/--fit``.
        cfg: toyworld settings to start from (vehicle scale, trees...); its class weights, image
            size and frames are replaced.

    Returns:
        ``(images uint8 (n, size, size, 3), tall bool (n,))``; ``tall``: the box is taller than wide
        (what ``gan.orient`` turns).

    Raises:
        ConfigError: an unknown class name.
    """
    if class_name not in TOYWORLD_NAMES:
        raise ConfigError(f"toyworld has no class {class_name!r} (choose from {', '.join(TOYWORLD_NAMES)})")
    weights = tuple(1.0 if c == class_name else 0.0 for c in TOYWORLD_NAMES)
    base = cfg or ToyworldConfig()
    scene_cfg = replace(base, seed=int(seed), size=SCENE_SIDE_PX, frames_per_scene=1, class_weights=weights,
                        n_images=1, vehicles_per_frame=(max(base.vehicles_per_frame[0], 16),
                                                        max(base.vehicles_per_frame[1], 60)))  # fmt: skip
    images, tall = [], []
    scene = 0
    while len(images) < n:
        (frame,) = render_scene(scene_cfg, scene, 1)
        for box in frame.boxes_xyxy_px[: n - len(images)]:
            images.append(crop_box(frame.image_rgb, box, size, pad, fit))
            tall.append(bool(box[3] - box[1] > box[2] - box[0]))
        scene += 1
        if scene > 100 + 10 * n:  # a layout always fits every class: this only guards against a bad cfg
            raise ConfigError(f"toyworld drew no {class_name} in {scene} scenes (vehicles_per_frame too low?)")
    if not images:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros(0, bool)
    return np.stack(images), np.asarray(tall, dtype=bool)

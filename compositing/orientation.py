"""How a pasted object is turned so that its rotated tight box is the sampled label box: pure maths.

Orientation is chosen so that the *rotated* object's tight box has exactly the sampled size
``(w, h)`` (up to the mask's shape and pixel rounding):

- ``90``: a multiple of 90 degrees; the object is ``(w, h)`` or ``(h, w)`` before rotation.
- ``any``: ``90 k + phi``. When the crop tells the object's aspect (an elongated mask or letterbox),
  ``phi`` is the angle at which that object has exactly the sampled box, so a car filling a square
  box lies diagonally. Otherwise the object size ``(a, b)`` is solved from ``a cos + b sin = w``,
  ``a sin + b cos = h``, which has a positive solution only for ``|tan phi| < min(w, h) / max(w, h)``,
  so ``phi`` is drawn inside that range.
- ``none``: no rotation.
"""

from __future__ import annotations

import math

import numpy as np

ROTATIONS = ("90", "any", "none")
# Objects whose long side is this much longer than the short side keep their long axis along
# the sampled box's long axis (fewer stretched crops); squarer ones get a random quarter turn.
ELONGATED = 1.2
# Fraction of the feasible angle range used for free rotation: at the limit one side is 0 px.
ANGLE_RANGE = 0.8


def object_size_for_box(box_wh: tuple[float, float], angle_deg: float) -> tuple[float, float]:
    """Object size ``(a, b)`` before rotation whose rotated rectangle has tight box ``box_wh``.

    ``angle_deg`` must be ``90 k + phi`` with ``|tan phi| < min(w, h) / max(w, h)``.
    """
    w, h = box_wh
    k = int(round(angle_deg / 90.0))
    phi = math.radians(angle_deg - 90.0 * k)
    if k % 2:
        w, h = h, w
    c, s = math.cos(abs(phi)), math.sin(abs(phi))
    if s < 1e-12:
        return w, h
    det = c * c - s * s
    if abs(det) < 1e-6:
        raise ValueError(f"object size is not unique at {angle_deg} degrees")
    a, b = (w * c - h * s) / det, (h * c - w * s) / det
    if a <= 0 or b <= 0:
        raise ValueError(f"no object of box size {box_wh} at {angle_deg} degrees")
    return a, b


def _elongated(aspect: float | None) -> bool:
    return aspect is not None and (aspect >= ELONGATED or aspect <= 1 / ELONGATED)


def _aspect_angle(box_wh: tuple[float, float], aspect: float) -> tuple[float, tuple[float, float]] | None:
    """Angle (degrees, >= 0) and size ``(a, b)`` of an object with ``a / b = aspect`` whose rotated box is ``box_wh``.

    From ``w = a cos + b sin``, ``h = a sin + b cos`` with ``a = r b``: ``tan = (h r - w) / (w r - h)``.
    None when no angle in [0, 45] degrees fits (the box is more elongated than the object).
    """
    w, h = box_wh
    r = aspect
    num, den = h * r - w, w * r - h
    if den == 0 or num / den < 0 or num / den > 1:
        return None
    theta = math.atan(num / den)
    c, s = math.cos(theta), math.sin(theta)
    b = w / (r * c + s)
    return math.degrees(theta), (r * b, b)


def orient_object(rng: np.random.Generator, rotate: str, box_wh: tuple[float, float],
                  object_aspect: float | None = None) -> tuple[float, tuple[float, float]]:
    """Draw a rotation (degrees, counter-clockwise) and the object size before it, for label box ``box_wh``.

    Args:
        rotate: ``90``, ``any`` or ``none``.
        object_aspect: width / height of the object inside its crop, when known. An elongated object
            is turned so its long side runs along the box's long side; with ``any`` its angle is the
            one at which an object of that aspect has exactly this box (a car filling a square box
            lies diagonally), with a random sign.

    Returns:
        ``(angle, (a, b))``: rotating an ``a x b`` rectangle by ``angle`` gives the box ``box_wh``.
    """
    w, h = box_wh
    if rotate == "none":
        return 0.0, (w, h)
    quarter = int(rng.integers(4))
    if _elongated(object_aspect) and _elongated(w / h):
        same_axis = (object_aspect > 1) == (w > h)
        quarter = 2 * (quarter // 2) + (0 if same_axis else 1)
    frame = (h, w) if quarter % 2 else (w, h)  # the box in the object's own (unrotated) frame
    if rotate == "90":
        return 90.0 * quarter, frame
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if _elongated(object_aspect):
        fit = _aspect_angle(frame, object_aspect)
        if fit is not None:
            return 90.0 * quarter + sign * fit[0], fit[1]
        return 90.0 * quarter, frame  # the box is longer than the object: no tilt fits, stretch it
    phi = math.degrees(float(rng.uniform(0.0, math.atan(min(w, h) / max(w, h)) * ANGLE_RANGE)))
    angle = 90.0 * quarter + sign * phi
    return angle, object_size_for_box(box_wh, angle)

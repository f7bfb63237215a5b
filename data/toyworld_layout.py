"""Toyworld scene layouts: where the grass, roads, parking lots, markings and vehicle places are.

A layout is built in a canonical orientation (the main road runs along ``x``); the renderer turns
the finished scene by a multiple of 90 degrees, so roads run either way. Sizes are in pixels at
vehicle scale ``u`` (``u = 1``: a car is about 16 x 34 px). Pure geometry, no pixels drawn here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GRASS, ROAD, LOT, CONCRETE = 0, 1, 2, 3
# Surface codes of the masks toyworld writes beside its images (``surfaces/``): where a vehicle may stand.
SURFACE_OTHER, SURFACE_DRIVABLE, SURFACE_PARKING = 0, 1, 2

LANE_W = 34.0  # driving lane width (a truck is about 24 wide)
PARK_LANE_W = 24.0  # parallel-parking lane along a road
SIDEWALK_W = 10.0
SLOT_PITCH, SLOT_DEPTH = 25.0, 52.0  # car/van parking bay
TRUCK_PITCH, TRUCK_DEPTH = 40.0, 104.0  # truck bay
AISLE_W = 60.0
MARK_W = 1.6  # painted line width


@dataclass
class Zone:
    """Places a vehicle may take.

    ``slots`` (N, 2) are bay centres (each used once); otherwise the zone is a lane from ``p0`` to
    ``p1`` where a vehicle may stand anywhere. ``headings`` are the allowed directions in degrees;
    ``max_len``/``max_wid`` the largest body that fits; ``density`` weighs lanes against bays.
    """

    headings: tuple[float, ...]
    max_len: float
    max_wid: float
    slots: np.ndarray | None = None
    p0: tuple[float, float] = (0.0, 0.0)
    p1: tuple[float, float] = (0.0, 0.0)
    density: float = 1.0
    parking: bool = False
    avoid: list[tuple[float, float, float, float]] = field(default_factory=list)
    used: set[int] = field(default_factory=set)
    n_placed: int = 0

    def blocked(self, center: tuple[float, float]) -> bool:
        """Whether ``center`` falls in one of the ``avoid`` rectangles (no parking on a crossing)."""
        return any(x0 <= center[0] <= x1 and y0 <= center[1] <= y1 for x0, y0, x1, y1 in self.avoid)

    def weight(self, u: float) -> float:
        """Room left: free bays, or for a lane its capacity (``density`` vehicles per 50 px) minus those placed."""
        if self.slots is not None:
            return float(len(self.slots) - len(self.used))
        cap = int(np.hypot(self.p1[0] - self.p0[0], self.p1[1] - self.p0[1]) / (50.0 * u) * self.density + 0.5)
        return float(max(cap - self.n_placed, 0))

    def sample(self, rng: np.random.Generator) -> tuple[tuple[float, float], float, int | None]:
        """A free place: ``(centre, heading, slot index or None)``."""
        heading = float(self.headings[int(rng.integers(len(self.headings)))])
        if self.slots is not None:
            free = [i for i in range(len(self.slots)) if i not in self.used]
            i = free[int(rng.integers(len(free)))]
            return (float(self.slots[i, 0]), float(self.slots[i, 1])), heading, i
        t = rng.uniform()
        return (self.p0[0] + t * (self.p1[0] - self.p0[0]), self.p0[1] + t * (self.p1[1] - self.p0[1])), heading, None


@dataclass
class Layout:
    """A scene plan on a ``width`` x ``height`` canvas.

    ``regions`` are ``(region id, (x0, y0, x1, y1))`` filled in order; ``markings`` are
    ``(colour, (4, 2) polygon)`` painted on top, except inside ``clear`` rectangles (intersections).
    """

    width: int
    height: int
    u: float
    regions: list[tuple[int, tuple[float, float, float, float]]] = field(default_factory=list)
    markings: list[tuple[str, np.ndarray]] = field(default_factory=list)
    clear: list[tuple[float, float, float, float]] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    buildings: list[tuple[float, float, float, float]] = field(default_factory=list)

    def region_map(self) -> np.ndarray:
        """(height, width) uint8 map of region ids."""
        out = np.full((self.height, self.width), GRASS, dtype=np.uint8)
        for rid, (x0, y0, x1, y1) in self.regions:
            out[max(int(round(y0)), 0):max(int(round(y1)), 0), max(int(round(x0)), 0):max(int(round(x1)), 0)] = rid
        return out

    def surface_map(self) -> np.ndarray:
        """(height, width) uint8 map of surface codes: roads are drivable; lots and the parking lanes
        along roads (off their crossings) are parking; grass, sidewalks and buildings are neither."""
        region = self.region_map()
        out = np.full(region.shape, SURFACE_OTHER, np.uint8)
        out[region == ROAD] = SURFACE_DRIVABLE
        out[region == LOT] = SURFACE_PARKING
        strip = np.zeros(region.shape, bool)
        for z in self.zones:
            if not z.parking or z.slots is not None:
                continue
            half = z.max_wid / 2 + self.u  # add_road's lane is max_wid + 2 u wide
            (xa, ya), (xb, yb) = z.p0, z.p1
            along_x = ya == yb
            x0, x1 = (min(xa, xb), max(xa, xb)) if along_x else (xa - half, xa + half)
            y0, y1 = (ya - half, ya + half) if along_x else (min(ya, yb), max(ya, yb))
            strip[:] = False
            strip[_px(y0):_px(y1), _px(x0):_px(x1)] = True
            for ax0, ay0, ax1, ay1 in z.avoid:
                strip[_px(ay0):_px(ay1), _px(ax0):_px(ax1)] = False
            out[strip & (region == ROAD)] = SURFACE_PARKING
        return out

    def paint(self, colour: str, x0: float, y0: float, x1: float, y1: float) -> None:
        """Paint an axis-aligned marking rectangle."""
        self.markings.append((colour, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)))

    def line(self, colour: str, axis: str, at: float, start: float, end: float, dash: float = 0.0, gap: float = 0.0):
        """A painted line along ``axis`` ('x' or 'y') at cross coordinate ``at``; dashed when ``dash > 0``."""
        half = MARK_W * self.u / 2
        pieces = [(start, end)] if dash <= 0 else [(s, min(s + dash, end)) for s in np.arange(start, end, dash + gap)]
        for s, e in pieces:
            if axis == "x":
                self.paint(colour, s, at - half, e, at + half)
            else:
                self.paint(colour, at - half, s, at + half, e)


def _px(v: float) -> int:
    """A rectangle edge in whole pixels, as ``region_map`` rounds them (never negative: no wrap-around)."""
    return max(int(round(v)), 0)


def add_road(lay: Layout, rng: np.random.Generator, axis: str, center: float, n_lanes: int, parking: bool,
             centre_colour: str) -> tuple[float, float]:
    """A road along ``axis`` across the whole canvas, with sidewalks, markings and lane zones.

    Returns:
        the road's extent across its axis ``(lo, hi)`` (asphalt only).
    """
    u = lay.u
    park_w = PARK_LANE_W * u if parking else 0.0
    half = n_lanes * LANE_W * u / 2 + park_w
    lo, hi = center - half, center + half
    length = lay.width if axis == "x" else lay.height
    sw = SIDEWALK_W * u

    def rect(a: float, b: float) -> tuple[float, float, float, float]:
        return (0.0, a, float(length), b) if axis == "x" else (a, 0.0, b, float(length))

    lay.regions.append((CONCRETE, rect(lo - sw, hi + sw)))
    lay.regions.append((ROAD, rect(lo, hi)))
    # Right-hand traffic: lanes on the low side drive towards -axis, on the high side towards +axis.
    fwd, back = (0.0, 180.0) if axis == "x" else (90.0, 270.0)
    dash, gap = 14 * u, 12 * u
    traffic = rng.uniform(0.1, 0.45)
    for k in range(n_lanes):
        a = lo + park_w + k * LANE_W * u
        heading = back if k < n_lanes / 2 else fwd
        mid = a + LANE_W * u / 2
        lay.zones.append(_lane(axis, mid, length, (heading,), 110 * u, 28 * u, traffic))
        if k == n_lanes // 2:
            lay.line(centre_colour, axis, a - MARK_W * u, 0, length)
            lay.line(centre_colour, axis, a + MARK_W * u, 0, length)
        elif k > 0:
            lay.line("white", axis, a, rng.uniform(0, dash + gap) - dash, length, dash, gap)
    lay.line("white", axis, lo + park_w + 2 * u, 0, length)
    lay.line("white", axis, hi - park_w - 2 * u, 0, length)
    if parking:
        parked = rng.uniform(0.2, 0.8)
        for at, heading in ((lo + park_w / 2, back), (hi - park_w / 2, fwd)):
            lay.zones.append(_lane(axis, at, length, (heading,), 110 * u, park_w - 2 * u, parked))
            lay.zones[-1].parking = True
    return lo, hi


def _lane(axis: str, at: float, length: float, headings, max_len: float, max_wid: float, density: float) -> Zone:
    p0, p1 = ((0.0, at), (float(length), at)) if axis == "x" else ((at, 0.0), (at, float(length)))
    return Zone(headings=tuple(headings), max_len=max_len, max_wid=max_wid, p0=p0, p1=p1, density=density)


def add_lot(
    lay: Layout, rng: np.random.Generator, box: tuple[float, float, float, float], trucks: bool = False
) -> None:
    """A parking lot inside ``box`` with rows of bays along ``x`` (vehicles parked along ``y``).

    Rows come in back-to-back pairs with a driving aisle between pairs, sometimes split by a grass
    island. Truck lots have deeper, wider bays.
    """
    u = lay.u
    pitch, depth = ((TRUCK_PITCH, TRUCK_DEPTH) if trucks else (SLOT_PITCH, SLOT_DEPTH))
    pitch, depth, aisle, m = pitch * u, depth * u, AISLE_W * u, 4 * u
    x0, y0, x1, y1 = box
    n = int((x1 - x0 - 2 * m) // pitch)
    if n < 1 or y1 - y0 < depth + 2 * m:
        return
    xs = x0 + m + (x1 - x0 - 2 * m - n * pitch) / 2 + np.arange(n + 1) * pitch
    lay.regions.append((CONCRETE, (x0 - 3 * u, y0 - 3 * u, x1 + 3 * u, y1 + 3 * u)))
    lay.regions.append((LOT, box))
    max_len, max_wid = depth - 1 * u, pitch - 3 * u
    y = y0 + m
    first_of_pair = True
    while y + depth <= y1 - m:
        slots = np.stack([(xs[:-1] + xs[1:]) / 2, np.full(n, y + depth / 2)], axis=1)
        lay.zones.append(Zone(headings=(90.0, 270.0), max_len=max_len, max_wid=max_wid, slots=slots))
        for x in xs:
            lay.line("white", "y", x, y + 2 * u, y + depth)
        y += depth
        if first_of_pair and y + aisle + depth <= y1 - m:
            lay.line("white", "x", y, xs[0], xs[-1])
            lay.zones.append(Zone(headings=(0.0, 180.0), max_len=110 * u, max_wid=28 * u, p0=(xs[0], y + aisle / 2),
                                  p1=(xs[-1], y + aisle / 2), density=0.08))
            y += aisle
            lay.line("white", "x", y, xs[0], xs[-1])
            first_of_pair = False
        else:
            if rng.uniform() < 0.4:  # grass island between back-to-back rows
                island = rng.uniform(8, 20) * u
                lay.regions.append((GRASS, (xs[0], y, xs[-1], y + island)))
                y += island
            first_of_pair = True


def _street(rng: np.random.Generator, w: int, h: int, u: float) -> Layout:
    lay = Layout(w, h, u)
    colour = "yellow" if rng.uniform() < 0.4 else "white"
    n_lanes = 4 if rng.uniform() < 0.25 else 2
    road_y = rng.uniform(0.3, 0.7) * h
    lo, hi = add_road(lay, rng, "x", road_y, n_lanes, parking=rng.uniform() < 0.6, centre_colour=colour)
    cross = None
    if rng.uniform() < 0.5:
        cross = add_road(lay, rng, "y", rng.uniform(0.3, 0.7) * w, 2, parking=rng.uniform() < 0.4,
                         centre_colour=colour)
        lay.regions.append((ROAD, (0.0, lo, float(w), hi)))  # horizontal road on top: a clean crossing
        lay.clear.append((cross[0], lo, cross[1], hi))
        _zebras(lay, cross, (lo, hi))
        keep_clear = 24 * u  # parked vehicles stay off the crossing and its zebras
        for z in lay.zones:
            if z.parking:
                z.avoid.append((cross[0] - keep_clear, lo - keep_clear, cross[1] + keep_clear, hi + keep_clear))
    sw = (SIDEWALK_W + 6) * u
    for above, (y_a, y_b) in ((True, (0.0, lo - sw)), (False, (hi + sw, float(h)))):
        if y_b - y_a > SLOT_DEPTH * u and rng.uniform() < 0.65:
            xa, xb = sorted(rng.uniform(0, w, 2)) if rng.uniform() < 0.3 else (-10.0, w + 10.0)
            spans = [(xa, xb)] if cross is None else [(xa, min(xb, cross[0] - sw)), (max(xa, cross[1] + sw), xb)]
            for sa, sb in spans:
                if sb - sa > 2 * SLOT_PITCH * u:
                    # A lot reaching the canvas edge runs past it; one next to the road keeps a curb.
                    top = y_a + 2 * u if y_a > 0 else y_a - 10
                    add_lot(lay, rng, (sa, top, sb, y_b - 2 * u if y_b < h else y_b + 10))
        elif y_b - y_a > 40 * u and rng.uniform() < 0.6:
            add_buildings(lay, rng, (0.0, y_a, float(w), y_b), above, cross, sw)
    return lay


def add_buildings(lay: Layout, rng: np.random.Generator, box: tuple[float, float, float, float], above: bool,
                  cross: tuple[float, float] | None, keep_off: float) -> None:
    """A row of rectangular buildings set back from the road inside ``box`` (``above`` the road or
    below it), avoiding a crossing road."""
    u = lay.u
    x0, y0, x1, y1 = box
    x = x0 + rng.uniform(-40, 20) * u
    while x < x1:
        bw, bd = rng.uniform(50, 160) * u, rng.uniform(40, 120) * u
        setback = rng.uniform(6, 20) * u
        by1 = y1 - setback if above else y0 + setback + bd
        rect = (x, max(by1 - bd, y0 + 2 * u), x + bw, min(by1, y1 - 2 * u))
        if cross is None or rect[2] < cross[0] - keep_off or rect[0] > cross[1] + keep_off:
            if rect[3] - rect[1] > 20 * u:
                lay.buildings.append(rect)
                lay.regions.append((CONCRETE, rect))  # keeps trees off the roofs
        x += bw + rng.uniform(8, 40) * u


def _zebras(lay: Layout, cross: tuple[float, float], road: tuple[float, float]) -> None:
    u = lay.u
    for x_a in (cross[0] - 16 * u, cross[1] + 6 * u):
        for y in np.arange(road[0] + 3 * u, road[1] - 3 * u, 6 * u):
            lay.paint("white", x_a, y, x_a + 10 * u, y + 3 * u)


def _parking(rng: np.random.Generator, w: int, h: int, u: float) -> Layout:
    lay = Layout(w, h, u)
    top = -10.0
    if rng.uniform() < 0.6:
        lo, hi = add_road(lay, rng, "x", rng.uniform(0.0, 0.15) * h, 2, parking=False, centre_colour="white")
        top = hi + (SIDEWALK_W + 6) * u
    x0 = rng.uniform(-20, 0.15 * w)
    add_lot(lay, rng, (x0, top, w + 10 if rng.uniform() < 0.7 else rng.uniform(0.7, 1.0) * w, h + 10.0))
    return lay


def _depot(rng: np.random.Generator, w: int, h: int, u: float) -> Layout:
    lay = Layout(w, h, u)
    lo, hi = add_road(lay, rng, "x", rng.uniform(0.35, 0.6) * h, 2, parking=rng.uniform() < 0.5,
                      centre_colour="white")
    sw = (SIDEWALK_W + 6) * u
    trucks_above = rng.uniform() < 0.5
    add_lot(lay, rng, (-10.0, -10.0, w + 10.0, lo - sw), trucks=trucks_above)
    add_lot(lay, rng, (-10.0, hi + sw, w + 10.0, h + 10.0), trucks=not trucks_above)
    return lay


LAYOUTS = {"street": _street, "parking": _parking, "depot": _depot}
LAYOUT_WEIGHTS = {"street": 0.45, "parking": 0.35, "depot": 0.2}


def make_layout(rng: np.random.Generator, width: int, height: int, u: float) -> Layout:
    """Pick a layout kind by ``LAYOUT_WEIGHTS`` and build it for a ``width`` x ``height`` canvas."""
    kinds = list(LAYOUTS)
    p = np.array([LAYOUT_WEIGHTS[k] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
    return LAYOUTS[kind](rng, width, height, u)

"""Is this a child's mandible? Mixed dentition recognised from the pixels.

The published MCW cut-offs and Klemetti classes are defined on adults. A file's birth and
study dates (``quality.age_reason``) are often missing (a plain PNG), so the pixels are read
too: in mixed dentition (about 6-12 years) the crowns of the permanent premolars and canines
(tooth germs) lie INSIDE the mandibular body, below the deciduous molars, each one a compact
enamel-bright crown enclosed by a dark radiolucent follicle. An adult's body holds roots
(long, narrow, joined to a crown at the occlusal level), root fillings (thin lines), trabecular
bone and, at the ramus, impacted third molars; none of them is a compact crown with a dark rim
all round, on both sides at mirror positions.

For each side (patient's right = image left):

1. the search region: columns ``GERM_DX`` of the traced border's span from the midline
   (canines to second premolars; the outer part, where impacted third molars and molar germs
   lie, is left out), rows from the occlusal line (``dentition.occlusal_sides``) to the border,
   at relative depths ``GERM_DEPTH``;
2. candidates: the strongest crown-sized bright blobs there (difference of Gaussians at
   ``GERM_RADIUS``), at most ``N_CANDIDATES``;
3. each candidate is segmented at a few grey levels between the surrounding bone and its
   centre (``LEVELS``); a level counts when the bright component is closed (does not run out
   of the local patch), crown-sized (``GERM_WIDTH``, ``GERM_HEIGHT``), not elongated
   (``MAX_ASPECT``: roots are), solid (``MIN_SOLIDITY``) and lies below the occlusal level
   (``MIN_TOP``) without touching the cortex (``MAX_BOTTOM``);
4. its enclosure: along ``N_RAYS`` rays from the component's centroid, past its outline, the
   darkest grey within ``RIM`` (the follicle) is compared with the bone just beyond
   (``OUTER``); a ray is enclosed when that dip is at least ``RIM_DEPTH`` of the crown's
   contrast over that bone. The candidate's score is the fraction of enclosed rays.

The image's score is the best min(right, left) over candidate pairs at mirror positions
(``MIRROR_TOL``); it is flagged at ``FLAG_AT``. Every length is a fraction of the traced border's
span (the mandible's own size: no pixel spacing is assumed) and every threshold a ratio of grey
levels of the same neighbourhood (no device's grey scale). Pure functions of the pixels.

Development note: the thresholds were chosen with one child's radiograph (abdi_dev 113) in view
and 28 adults as negatives; there is no held-out child (``bench/child_check.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .dentition import DentitionWork, occlusal_sides

WORK_SPAN = 1000.0  # work scale: the traced border spans this many pixels (a follicle is then
# 3-6 px wide, a premolar crown about 50 px)
GERM_DX = (0.05, 0.26)  # canines to second premolars, fraction of the span from the midline; the
# impacted third molars and the molar germs at the ramus lie further out
GERM_DEPTH = (0.25, 0.9)  # candidate centres: relative depth between the occlusal line (0) and the
# border (1); germs lie under the deciduous molars' roots, above the cortex
GERM_RADIUS = 0.022  # blob scale (half a premolar crown's width), fraction of the span
DOG_STEP = 4  # the blob response is computed this many times coarser (its Gaussians are 15 and
# 31 work px wide, so nothing is lost) and brought back: a quarter of the time per image
N_CANDIDATES = 8  # strongest blobs examined per side
LEVELS = (0.35, 0.5, 0.65)  # segmentation levels between the surrounding bone (0) and the centre (1)
PATCH = 0.1  # half-size of the local patch, fraction of the span (twice a crown)
GERM_WIDTH = (0.03, 0.075)  # a crown's width (about 5-10 mm), fraction of the span
GERM_HEIGHT = (0.025, 0.13)  # a crown, with at most a short forming root
MAX_ASPECT = 1.4  # height / width: a crown is about as tall as wide; a root two to three times
MIN_SOLIDITY = 0.75  # area / convex hull: a crown is convex; trabecular bone is ragged
MIN_TOP = 0.15  # the component's top lies this far (relative depth) below the occlusal line:
# an erupted crown and the roots joined to it reach up to the occlusal level
MAX_BOTTOM = 0.97  # ... and its bottom above the border (the cortex is bright, not a crown)
N_RAYS = 32
RIM = 0.008  # the follicle is looked for this far past the outline, fraction of the span
OUTER = (0.01, 0.02)  # the bone beyond the follicle (crypt wall, trabeculae)
RIM_DEPTH = 0.15  # an enclosed ray: bone beyond - darkest rim >= this x (crown - bone beyond)
MIRROR_TOL = 0.06  # the two sides' germs lie at mirror offsets from the midline within this
FLAG_AT = 0.3  # both sides' germs enclosed on at least this fraction of the rays; the one child
# seen scores 0.41-0.44 (all re-encodings), the 28 adults 0 (bench/child_check.py)
MIN_SPAN_PX = 100.0  # a border shorter than this (pixels) gives no scale to work with


@dataclass(frozen=True)
class GermCandidate:
    """A bright compact component inside the mandibular body and how enclosed it is."""

    side: str  # "right" (image left) or "left"
    x: float  # centroid, image pixels
    y: float
    offset: float  # distance from the midline, fraction of the border span
    depth: float  # relative depth of the centroid: 0 at the occlusal line, 1 at the border
    width: float  # fraction of the border span
    height: float
    enclosure: float  # fraction of rays with a dark rim (follicle) past the outline


@dataclass(frozen=True)
class MixedDentition:
    """Per-side best enclosure, the bilateral score and whether it reads as a child's."""

    right: float
    left: float
    score: float  # best min(right, left) over candidates at mirror positions
    flagged: bool
    germs: tuple[GermCandidate, ...]  # the pair behind ``score`` (empty when none)


def mixed_dentition(pixels: np.ndarray, bx: np.ndarray, by: np.ndarray, mid: float,
                    occlusal: dict[str, tuple[float, float]] | None = None,
                    work: DentitionWork | None = None) -> MixedDentition | None:
    """Whether the mandible shows unerupted permanent crowns (tooth germs) in its body on both
    sides. ``bx``/``by``: the traced inferior border (``roi.border_arrays``), ``mid``: the
    midline x; ``occlusal``: the occlusal line ``y = a*x + b`` per side (``"right"``,
    ``"left"``), found with ``dentition.occlusal_sides`` when not given. None when the border
    is too short to give a scale; a side without an occlusal line scores 0 (no flag). ``work``:
    the image's shared dentition working copies (the edentulous check made them already)."""
    if bx.size < 10 or not np.all(np.isfinite(bx)) or not np.all(np.isfinite(by)):
        return None
    span = float(bx.max() - bx.min())
    if span < MIN_SPAN_PX:
        return None
    if occlusal is None:
        sides = occlusal_sides(pixels, bx, by, mid, work)
        occlusal = {} if sides is None else {k: v.line for k, v in sides.items() if v.line is not None}
    f = WORK_SPAN / span
    h, w = pixels.shape
    img = cv2.resize(pixels.astype(np.float32, copy=False), (max(8, int(round(w * f))), max(8, int(round(h * f)))),
                     interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    dog = _blob_response(img)
    found: dict[str, list[GermCandidate]] = {}
    for side, sign in (("right", -1), ("left", 1)):
        line = occlusal.get(side)
        found[side] = [] if line is None else _side_candidates(img, dog, f, bx, by, mid, sign, side, line)
    best = {s: max((c.enclosure for c in found[s]), default=0.0) for s in found}
    score = 0.0
    pair: tuple[GermCandidate, ...] = ()
    for r in found["right"]:
        for lc in found["left"]:
            s = min(r.enclosure, lc.enclosure)
            if abs(r.offset - lc.offset) <= MIRROR_TOL and s > score:
                score, pair = s, (r, lc)
    return MixedDentition(right=best["right"], left=best["left"], score=score, flagged=score >= FLAG_AT,
                          germs=pair)


def _blob_response(img: np.ndarray) -> np.ndarray:
    """Difference of Gaussians at the crown's scale (``GERM_RADIUS``), computed ``DOG_STEP``
    times coarser and resized back to ``img``'s shape."""
    hs, ws = img.shape
    small = cv2.resize(img, (max(4, ws // DOG_STEP), max(4, hs // DOG_STEP)), interpolation=cv2.INTER_AREA)
    sigma = GERM_RADIUS * WORK_SPAN / np.sqrt(2.0) / DOG_STEP
    dog = cv2.GaussianBlur(small, (0, 0), sigma) - cv2.GaussianBlur(small, (0, 0), 2.0 * sigma)
    out: np.ndarray = cv2.resize(dog, (ws, hs), interpolation=cv2.INTER_LINEAR)
    return out


def _side_candidates(img: np.ndarray, dog: np.ndarray, f: float, bx: np.ndarray, by: np.ndarray, mid: float,
                     sign: int, side: str, line: tuple[float, float]) -> list[GermCandidate]:
    """The crown-like components of one side (enclosure > 0), in work pixels mapped back."""
    hs, ws = img.shape
    s = WORK_SPAN
    xs = np.arange(int(round(mid * f + sign * GERM_DX[0] * s)), int(round(mid * f + sign * GERM_DX[1] * s)), sign)
    xs = xs[(xs >= 0) & (xs < ws)]
    if xs.size < 10:
        return []
    a, b = line
    yb = np.interp(xs / f, bx, by) * f
    yo = (a * (xs / f) + b) * f
    rows = np.arange(hs)[:, None]
    top, bot = yo + GERM_DEPTH[0] * (yb - yo), yo + GERM_DEPTH[1] * (yb - yo)
    inside = (rows >= top[None, :]) & (rows < bot[None, :]) & (yb > yo)[None, :]  # (hs, xs.size)
    if np.count_nonzero(inside) < 50:
        return []
    py, px = _peaks(dog, xs, inside)
    out = []
    for i in np.argsort(-dog[py, px])[:N_CANDIDATES]:
        cy, cx = int(py[i]), int(px[i])
        y_occ = (a * (cx / f) + b) * f
        y_bor = float(np.interp(cx / f, bx, by)) * f
        around = _surround(img, cx, cy)
        if around is None or y_bor <= y_occ:
            continue  # no level gives a crown: the centre is not brighter than its bone, or no body
        best: GermCandidate | None = None
        for q in LEVELS:
            c = _candidate(around, cx, cy, q, y_occ, y_bor, f, mid, side)
            if c is not None and (best is None or c.enclosure > best.enclosure):
                best = c
        if best is not None and best.enclosure > 0:
            out.append(best)
    return out


def _peaks(dog: np.ndarray, xs: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns (row-major order) of the positive local maxima of ``dog`` (over a
    crown-sized square) at columns ``xs`` where ``inside`` (rows x len(xs)) holds. Only the
    region's bounding box, widened by the square's half-size, is dilated: a maximum filter
    there reads the same pixels as over the whole image (the image edge counts as -inf either
    way), so the peaks are the same at a fraction of the cost."""
    hs, ws = dog.shape
    k = int(2 * GERM_RADIUS * WORK_SPAN) | 1
    r = k // 2
    on = np.flatnonzero(inside.any(axis=1))
    y0, y1, x0, x1 = int(on[0]), int(on[-1]) + 1, int(xs.min()), int(xs.max()) + 1
    py0, py1, px0, px1 = max(0, y0 - r), min(hs, y1 + r), max(0, x0 - r), min(ws, x1 + r)
    grown = cv2.dilate(dog[py0:py1, px0:px1], np.ones((k, k), np.uint8))[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
    box = dog[y0:y1, x0:x1]
    mask = np.zeros(box.shape, bool)
    mask[:, xs - x0] = inside[y0:y1]
    py, px = np.nonzero((box >= grown) & mask & (box > 0))
    return py + y0, px + x0


@dataclass(frozen=True)
class _Surround:
    """The local patch around a candidate centre and its two grey levels (the same at every
    segmentation level, so read once per candidate)."""

    patch: np.ndarray
    x0: int
    y0: int
    centre: float  # median of the 5 x 5 pixels at the centre
    bone: float  # median of the patch


def _surround(img: np.ndarray, cx: int, cy: int) -> _Surround | None:
    """The patch around (cx, cy), or None when its centre is not brighter than the bone."""
    hs, ws = img.shape
    half = int(PATCH * WORK_SPAN)
    x0, x1, y0, y1 = max(0, cx - half), min(ws, cx + half + 1), max(0, cy - half), min(hs, cy + half + 1)
    patch = img[y0:y1, x0:x1]
    centre = float(np.median(img[max(0, cy - 2) : cy + 3, max(0, cx - 2) : cx + 3]))
    bone = float(np.median(patch))
    if centre <= bone:
        return None
    return _Surround(patch=patch, x0=x0, y0=y0, centre=centre, bone=bone)


def _candidate(around: _Surround, cx: int, cy: int, level: float, y_occ: float, y_bor: float, f: float,
               mid: float, side: str) -> GermCandidate | None:
    """The component through (cx, cy) at ``level`` if it is crown-shaped, with its enclosure
    (``around``: the patch about (cx, cy), brighter at its centre than its bone; y_bor > y_occ)."""
    s = WORK_SPAN
    patch, x0, y0, centre, bone = around.patch, around.x0, around.y0, around.centre, around.bone
    bright = (patch >= bone + level * (centre - bone)).astype(np.uint8)
    if not bright[cy - y0, cx - x0]:
        return None
    # the 4-connected component through the centre, filled from it (marked 2): the same pixels
    # a labelling of the whole patch gives it, at the cost of the component alone; its bounding
    # box comes with the fill, and most components fail the shape tests on that box alone
    _, _, _, (bx0, by0, bw, bh) = cv2.floodFill(bright, None, (cx - x0, cy - y0), 2, flags=4)
    if by0 == 0 or bx0 == 0 or by0 + bh == bright.shape[0] or bx0 + bw == bright.shape[1]:
        return None  # runs out of the patch: part of something larger (a root to its crown, the cortex)
    wd, ht = bw / s, bh / s
    top, bottom = ((by0 + y0 - y_occ) / (y_bor - y_occ), (by0 + bh - 1 + y0 - y_occ) / (y_bor - y_occ))
    if not (GERM_WIDTH[0] <= wd <= GERM_WIDTH[1] and GERM_HEIGHT[0] <= ht <= GERM_HEIGHT[1]) or ht > MAX_ASPECT * wd:
        return None
    if top < MIN_TOP or bottom > MAX_BOTTOM:
        return None
    comp = bright == 2
    yy, xx = np.nonzero(comp)
    hull = cv2.convexHull(np.stack([xx, yy], 1).astype(np.int32))
    if comp.sum() < MIN_SOLIDITY * max(cv2.contourArea(hull), 1.0):
        return None
    ccx, ccy = float(xx.mean()), float(yy.mean())
    enclosure = _enclosure(patch, comp, ccx, ccy, float(patch[comp].mean()))
    gx, gy = (ccx + x0) / f, (ccy + y0) / f
    return GermCandidate(side=side, x=gx, y=gy, offset=abs(gx - mid) * f / s,
                         depth=(ccy + y0 - y_occ) / (y_bor - y_occ), width=float(wd), height=float(ht),
                         enclosure=enclosure)


def _enclosure(patch: np.ndarray, comp: np.ndarray, ccx: float, ccy: float, inner: float) -> float:
    """Fraction of rays from the centroid along which a dark rim follows the outline."""
    s = WORK_SPAN
    ang = np.linspace(0.0, 2.0 * np.pi, N_RAYS, endpoint=False)
    t = np.arange(0.0, PATCH * s, 0.5)
    rx = ccx + np.cos(ang)[:, None] * t[None, :]
    ry = ccy + np.sin(ang)[:, None] * t[None, :]
    inside = comp[np.clip(np.round(ry).astype(int), 0, comp.shape[0] - 1),
                  np.clip(np.round(rx).astype(int), 0, comp.shape[1] - 1)]
    prof = cv2.remap(patch, rx.astype(np.float32), ry.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
    enclosed = 0
    for k in range(N_RAYS):
        out = np.flatnonzero(~inside[k])
        if out.size == 0:
            continue
        rb = t[out[0]]
        rim = prof[k][(t >= rb) & (t <= rb + RIM * s)]
        beyond = prof[k][(t >= rb + OUTER[0] * s) & (t <= rb + OUTER[1] * s)]
        if rim.size == 0 or beyond.size == 0:
            continue
        outer = float(np.median(beyond))
        enclosed += bool(outer - float(rim.min()) >= RIM_DEPTH * max(inner - outer, 1e-6))
    return enclosed / N_RAYS

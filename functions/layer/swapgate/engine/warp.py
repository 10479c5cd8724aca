"""The classical swap: Delaunay triangles over the target's mesh points, one affine map per triangle
(done as a single ``cv2.remap``), a convex-hull mask and Poisson blending (``cv2.seamlessClone``).

Everything happens inside a region of interest around the target face, padded by edge replication
where the face leaves the frame, so large pictures cost no more than the face and faces at the edge
do not crash the blend. Pixels outside the (eroded) hull mask are never changed.
"""

from __future__ import annotations

import cv2
import numpy as np

# The inner lip ring of the 468-point mesh. Triangles whose three corners all lie on it cover the open
# mouth: they are left out so the target keeps its own teeth and mouth opening.
INNER_LIPS = frozenset(
    (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415)
)
_INNER_LIPS_ARRAY = np.array(sorted(INNER_LIPS))


def delaunay(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Delaunay triangles over ``points`` (N x 2, inside [0, width) x [0, height)) as an M x 3 array of
    point indices."""
    pts = np.asarray(points, dtype=np.float32)
    subdiv = cv2.Subdiv2D((0, 0, int(width), int(height)))
    subdiv.insert([(float(x), float(y)) for x, y in pts])
    tris = subdiv.getTriangleList().reshape(-1, 3, 2)
    if len(tris) == 0:
        return np.zeros((0, 3), dtype=np.int32)
    # Subdiv2D hands back the float32 coordinates it was given: map them back to point indices
    # (duplicate points collapse to one; corners on the virtual outer vertices find no index).
    index = {(float(x), float(y)): i for i, (x, y) in enumerate(pts)}
    idx = np.array(
        [index.get((float(x), float(y)), -1) for x, y in tris.reshape(-1, 2)], dtype=np.int32
    ).reshape(-1, 3)
    idx = idx[(idx >= 0).all(axis=1)]
    keep = (idx[:, 0] != idx[:, 1]) & (idx[:, 1] != idx[:, 2]) & (idx[:, 0] != idx[:, 2])
    return idx[keep]


def _crop_padded(img: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """img[y0:y1, x0:x1], with the parts outside the image filled by edge replication."""
    h, w = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    part = img[cy0:cy1, cx0:cx1]
    top, left, bottom, right = cy0 - y0, cx0 - x0, y1 - cy1, x1 - cx1
    if top or left or bottom or right:
        part = cv2.copyMakeBorder(part, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return part


def match_colours(warped: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Shift the warped face's colour statistics (mean and spread in Lab, inside the mask) towards the
    target face's, so the blend starts from the target's skin tone and lighting."""
    sel = mask > 0
    src = cv2.cvtColor(warped, cv2.COLOR_BGR2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_BGR2LAB).astype(np.float32)
    s_mean, s_std = src[sel].mean(axis=0), src[sel].std(axis=0) + 1e-3
    d_mean, d_std = dst[sel].mean(axis=0), dst[sel].std(axis=0) + 1e-3
    # Keep most of the face's own contrast: only partly adopt the target's spread.
    gain = np.clip(0.5 + 0.5 * d_std / s_std, 0.5, 2.0)
    out = (src - s_mean) * gain + d_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2BGR)


def swap_face(
    target: np.ndarray,
    target_pts: np.ndarray,
    face: np.ndarray,
    face_pts: np.ndarray,
    *,
    keep_mouth: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Put the face at ``face_pts`` in ``face`` onto the face at ``target_pts`` in ``target``.

    Both point sets are the same mesh (same length, same order), in pixels of their own image; the
    target's may lie partly outside its frame. Returns ``(result, mask)``: a new image the size of
    ``target`` and the uint8 mask (255 where pixels may have changed).
    """
    h, w = target.shape[:2]
    tp = target_pts.astype(np.float64)
    lo, hi = tp.min(axis=0), tp.max(axis=0)
    size = float(max(hi - lo))
    margin = int(max(8, 0.1 * size))
    x0, y0 = int(np.floor(lo[0])) - margin, int(np.floor(lo[1])) - margin
    x1, y1 = int(np.ceil(hi[0])) + margin + 1, int(np.ceil(hi[1])) + margin + 1
    roi = _crop_padded(target, x0, y0, x1, y1)
    rh, rw = roi.shape[:2]
    local = (tp - (x0, y0)).astype(np.float32)

    tris = delaunay(local, rw, rh)
    result = target.copy()
    full_mask = np.zeros((h, w), dtype=np.uint8)
    if len(tris) == 0:
        return result, full_mask

    dst = local[tris].astype(np.float64)  # M x 3 x 2 (ROI pixels)
    src = face_pts.astype(np.float64)[tris]  # M x 3 x 2 (face image pixels)
    a = np.concatenate([dst, np.ones((len(tris), 3, 1))], axis=2)  # M x 3 x 3
    det = np.linalg.det(a)
    ok = np.abs(det) > 1e-3
    if keep_mouth:
        mouth = np.isin(tris, _INNER_LIPS_ARRAY).all(axis=1)
        ok &= ~mouth
    if not ok.any():
        return result, full_mask
    tris_ok, a_ok, src_ok = tris[ok], a[ok], src[ok]
    # [x y 1] @ M = [sx sy]: one 3 x 2 affine map per triangle, from ROI pixels to face pixels
    maps = np.linalg.solve(a_ok, src_ok)  # K x 3 x 2

    # Rasterise triangle ids (1-based; 0 = untouched) over the ROI.
    ids = np.zeros((rh, rw), dtype=np.uint16)
    for i, tri in enumerate(tris_ok):
        cv2.fillConvexPoly(ids, np.round(local[tri]).astype(np.int32), int(i + 1))
    ys, xs = np.nonzero(ids)
    if len(xs) == 0:
        return result, full_mask
    m = maps[ids[ys, xs].astype(np.int64) - 1]  # P x 3 x 2
    map_x = np.full((rh, rw), -1.0, dtype=np.float32)
    map_y = np.full((rh, rw), -1.0, dtype=np.float32)
    map_x[ys, xs] = xs * m[:, 0, 0] + ys * m[:, 1, 0] + m[:, 2, 0]
    map_y[ys, xs] = xs * m[:, 0, 1] + ys * m[:, 1, 1] + m[:, 2, 1]
    warped = cv2.remap(face, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)

    mask = np.where(ids > 0, 255, 0).astype(np.uint8)
    erode = max(1, int(size / 60))
    mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode + 1, 2 * erode + 1)))
    # The blend needs the mask off the ROI border; the margin keeps it there, this makes sure.
    mask[:2, :] = 0
    mask[-2:, :] = 0
    mask[:, :2] = 0
    mask[:, -2:] = 0
    if cv2.countNonZero(mask) < 16:
        return result, full_mask
    warped = match_colours(warped, roi, mask)
    bx, by, bw, bh = cv2.boundingRect(mask)
    centre = (bx + bw // 2, by + bh // 2)
    # seamlessClone writes into the mask it is given: hand it a copy.
    blended = cv2.seamlessClone(warped, roi, mask.copy(), centre, cv2.NORMAL_CLONE)
    blended = np.where(mask[..., None] > 0, blended, roi)

    # Paste the part of the ROI that lies inside the frame back.
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return result, full_mask
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    result[cy0:cy1, cx0:cx1] = blended[sub]
    full_mask[cy0:cy1, cx0:cx1] = mask[sub]
    return result, full_mask

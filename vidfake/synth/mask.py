"""Blend masks from face landmarks: a face-region polygon, a smooth deformation, soft edges.

The polygon comes from dlib's 68 points (their convex hull) or from MTCNN's 5 points (an
ellipse over brows, cheeks and chin, sized from the eye distance and the eye-to-mouth height).
Deformations are expressed in the face's own frame, so one draw deforms every frame alike.
"""

from __future__ import annotations

import cv2
import numpy as np

N_POINTS = 72  # vertices of the densified polygon the deformation acts on


def check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Validate landmarks as (5,2) MTCNN or (68,2) dlib points (a flat 10/136 array is accepted)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim == 1 and pts.size in (10, 136):
        pts = pts.reshape(-1, 2)
    if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] not in (5, 68):
        raise ValueError(
            f"landmarks must be 5 MTCNN points or 68 dlib points as (K, 2); got shape {pts.shape}"
        )
    if not np.all(np.isfinite(pts)):
        raise ValueError("landmarks contain NaN or infinite values")
    return pts


def _eyes(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right eye centres of 5- or 68-point landmarks."""
    if len(pts) == 5:
        return pts[0], pts[1]
    return pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)


def face_angle(landmarks: np.ndarray) -> float:
    """Roll of the face in radians: the angle of the line from the left to the right eye."""
    left, right = _eyes(check_landmarks(landmarks))
    d = right - left
    return float(np.arctan2(d[1], d[0]))


def face_polygon(landmarks: np.ndarray) -> np.ndarray:
    """The face region as a closed polygon (N, 2) in the landmarks' pixel coordinates."""
    pts = check_landmarks(landmarks)
    if len(pts) == 68:
        hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
        return _densify(hull)
    left, right, mouth = pts[0], pts[1], (pts[3] + pts[4]) / 2
    eye_mid = (left + right) / 2
    eye_dist = max(float(np.linalg.norm(right - left)), 1.0)
    angle = face_angle(pts)
    across = np.array([np.cos(angle), np.sin(angle)])
    down = np.array([-across[1], across[0]])
    height = max(float(np.dot(mouth - eye_mid, down)), 0.6 * eye_dist)
    # Brows sit about 0.45 h above the eyes and the chin 0.55 h below the mouth; cheeks
    # reach about one eye distance either side of the eye midpoint.
    top, bottom = -0.45 * height, 1.55 * height
    centre = eye_mid + down * (top + bottom) / 2 + across * 0.2 * np.dot(mouth - eye_mid, across)
    semi_across, semi_down = 1.0 * eye_dist, (bottom - top) / 2
    theta = np.linspace(0, 2 * np.pi, N_POINTS, endpoint=False)
    return (
        centre
        + np.outer(np.cos(theta) * semi_across, across)
        + np.outer(np.sin(theta) * semi_down, down)
    )


def _densify(poly: np.ndarray) -> np.ndarray:
    """Resample a closed polygon to N_POINTS vertices evenly spaced along its outline."""
    closed = np.vstack([poly, poly[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    dist = np.concatenate([[0.0], np.cumsum(seg)])
    at = np.linspace(0, dist[-1], N_POINTS, endpoint=False)
    return np.stack([np.interp(at, dist, closed[:, 0]), np.interp(at, dist, closed[:, 1])], 1)


def polygon_size(poly: np.ndarray) -> float:
    """The longer side of the polygon's bounding box: the face size transforms scale with."""
    return float(max(np.ptp(poly[:, 0]), np.ptp(poly[:, 1]), 1.0))


def deform_polygon(
    poly: np.ndarray,
    angle: float,
    scale: tuple[float, float],
    rotation: float,
    harmonics: np.ndarray,
) -> np.ndarray:
    """Deform a face polygon in the face's frame: anisotropic scale, rotation, radial wobble.

    `harmonics` is (K, 2): cosine and sine amplitudes of the radial factor
    1 + sum_k a_k cos(k t) + b_k sin(k t), with t the vertex angle relative to the eye line.
    """
    centre = poly.mean(axis=0)
    rel = poly - centre
    cos_a, sin_a = np.cos(angle), np.sin(angle)
    to_face = np.array([[cos_a, sin_a], [-sin_a, cos_a]])
    local = rel @ to_face.T
    t = np.arctan2(local[:, 1], local[:, 0])
    k = np.arange(1, len(harmonics) + 1)[:, None]
    radial = (
        1 + (harmonics[:, :1] * np.cos(k * t)).sum(0) + (harmonics[:, 1:] * np.sin(k * t)).sum(0)
    )
    local = local * np.clip(radial, 0.5, 1.5)[:, None] * np.asarray(scale)
    cos_r, sin_r = np.cos(rotation), np.sin(rotation)
    local = local @ np.array([[cos_r, sin_r], [-sin_r, cos_r]])
    return local @ to_face + centre


def render_mask(poly: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Fill the polygon into an (H, W) float32 mask in [0, 1] and blur its edges by `sigma` px."""
    mask = np.zeros(shape, dtype=np.float32)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1.0, lineType=cv2.LINE_AA, shift=4)
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_CONSTANT)
        peak = float(mask.max())
        if peak > 0:
            mask = np.clip(mask / peak, 0.0, 1.0)
    return mask

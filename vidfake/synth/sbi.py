"""Self-blended pseudo-fakes (Shiohara & Yamasaki, CVPR 2022) of face crops and sequences.

From one real face, a source is made by colour, frequency and scale transforms of the same
face and blended into the untouched face through a deformed, soft-edged landmark mask. The
blend is a fake with the artefacts face swaps leave (boundary, colour and sharpness mismatch)
and nothing identity-specific. One parameter draw covers a whole sequence, so a temporal model
sees a stable forgery; `flicker` adds a small per-frame perturbation instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from vidfake.augment import unsharp_mask
from vidfake.synth.mask import (
    check_landmarks,
    deform_polygon,
    face_angle,
    face_polygon,
    polygon_size,
    render_mask,
)

RngLike = np.random.Generator | int | None


@dataclass(frozen=True)
class SBIParams:
    """One draw of every blending choice; fractions are of the face size, so any frame fits."""

    hsv_shift: tuple[float, float, float]  # hue in degrees, saturation and value in [0, 1] units
    rgb_shift: tuple[float, float, float]  # added to R, G, B, in [0, 1] units
    contrast: float  # source pixels are stretched about their mean by this factor
    brightness: float  # then shifted by this, in [0, 1] units
    sharpness: float  # > 0 unsharp-mask amount, < 0 Gaussian blur (sigma = -sharpness x size)
    scale: float  # the source is zoomed by this about the face centre
    shift: tuple[float, float]  # and moved by this fraction of the face size
    mask_scale: tuple[float, float]  # mask stretch across and along the face
    mask_rotation: float  # mask rotation in radians
    mask_harmonics: tuple[tuple[float, float], ...]  # radial wobble of the mask outline
    edge_blur: float  # sigma of the mask-edge blur, as a fraction of the face size
    ratio: float  # blend weight of the source at the mask's core

    def to_dict(self) -> dict:
        """The parameters as plain JSON-ready values."""
        return dataclasses.asdict(self)


def _signed(rng: np.random.Generator, lo: float, hi: float) -> float:
    """A magnitude in [lo, hi] with a random sign, so a draw never lands on 'no change'."""
    return float(rng.uniform(lo, hi) * rng.choice((-1.0, 1.0)))


class SelfBlend:
    """Makes self-blended fakes; the ranges below are the ones parameters are drawn from."""

    def __init__(
        self,
        hue: float = 8.0,
        saturation: float = 0.12,
        value: tuple[float, float] = (0.03, 0.12),
        rgb: float = 0.06,
        contrast: tuple[float, float] = (0.85, 1.15),
        sharpen: tuple[float, float] = (0.3, 1.5),
        blur: tuple[float, float] = (0.004, 0.015),
        scale: tuple[float, float] = (0.94, 1.06),
        shift: float = 0.03,
        mask_scale: tuple[float, float] = (0.92, 1.1),
        mask_rotation_deg: float = 6.0,
        elastic: float = 0.06,
        harmonics: int = 4,
        edge_blur: tuple[float, float] = (0.02, 0.07),
        ratio: tuple[float, float] = (0.5, 1.0),
        p_full_ratio: float = 0.4,
        flicker: float = 0.15,
        p_aligned: float = 0.0,
        p_sharpen: float = 0.5,
    ) -> None:
        """Set the ranges; `flicker` is the per-frame perturbation relative to each range;
        `p_aligned` is the share of draws whose source stays in place (scale 1, no shift), so
        the blend shows only its colour, frequency and mask edge (docs/synthetic.md);
        `p_sharpen` the share whose source is sharpened rather than blurred."""
        self.hue, self.saturation, self.value, self.rgb = hue, saturation, value, rgb
        self.contrast, self.sharpen, self.blur, self.scale = contrast, sharpen, blur, scale
        self.shift, self.mask_scale, self.elastic = shift, mask_scale, elastic
        self.mask_rotation = np.deg2rad(mask_rotation_deg)
        self.harmonics, self.edge_blur, self.ratio = harmonics, edge_blur, ratio
        self.p_full_ratio, self.flicker_strength = p_full_ratio, flicker
        if not 0.0 <= p_aligned <= 1.0:
            raise ValueError(f"p_aligned is a probability in [0, 1], got {p_aligned}")
        self.p_aligned = p_aligned
        if not 0.0 <= p_sharpen <= 1.0:
            raise ValueError(f"p_sharpen is a probability in [0, 1], got {p_sharpen}")
        self.p_sharpen = p_sharpen

    def sample_params(self, rng: RngLike = None) -> SBIParams:
        """Draw one parameter set; reuse it for every frame of a sequence."""
        rng = np.random.default_rng(rng)
        decay = 1.0 / np.arange(1, self.harmonics + 1)[:, None]
        wobble = rng.normal(0.0, self.elastic, (self.harmonics, 2)) * decay
        sharp = (
            rng.uniform(*self.sharpen)
            if rng.random() < self.p_sharpen
            else -rng.uniform(*self.blur)
        )
        ratio = 1.0 if rng.random() < self.p_full_ratio else rng.uniform(*self.ratio)
        params = SBIParams(
            hsv_shift=(
                float(rng.uniform(-self.hue, self.hue)),
                float(rng.uniform(-self.saturation, self.saturation)),
                _signed(rng, *self.value),
            ),
            rgb_shift=tuple(float(v) for v in rng.uniform(-self.rgb, self.rgb, 3)),
            contrast=float(rng.uniform(*self.contrast)),
            brightness=float(rng.uniform(-0.04, 0.04)),
            sharpness=float(sharp),
            scale=float(rng.uniform(*self.scale)),
            shift=tuple(float(v) for v in rng.uniform(-self.shift, self.shift, 2)),
            mask_scale=tuple(float(v) for v in rng.uniform(*self.mask_scale, 2)),
            mask_rotation=float(rng.uniform(-self.mask_rotation, self.mask_rotation)),
            mask_harmonics=tuple((float(a), float(b)) for a, b in wobble),
            edge_blur=float(rng.uniform(*self.edge_blur)),
            ratio=float(ratio),
        )
        # drawn last and only when asked for, so every other draw stays what it was
        if self.p_aligned > 0 and rng.random() < self.p_aligned:
            params = dataclasses.replace(params, scale=1.0, shift=(0.0, 0.0))
        return params

    def jitter(self, params: SBIParams, rng: RngLike = None) -> SBIParams:
        """A per-frame perturbation of `params` (temporal flicker), a fraction of each range."""
        rng = np.random.default_rng(rng)
        f = self.flicker_strength

        def near(v: float, spread: float) -> float:
            return float(v + rng.normal(0.0, f * spread))

        return dataclasses.replace(
            params,
            hsv_shift=(
                near(params.hsv_shift[0], self.hue),
                near(params.hsv_shift[1], self.saturation),
                near(params.hsv_shift[2], self.value[1]),
            ),
            rgb_shift=tuple(near(v, self.rgb) for v in params.rgb_shift),
            scale=near(params.scale, self.scale[1] - self.scale[0]),
            shift=tuple(near(v, self.shift) for v in params.shift),
            ratio=float(np.clip(near(params.ratio, 0.5), 0.2, 1.0)),
        )

    def mask(self, shape: tuple[int, int], landmarks: np.ndarray, params: SBIParams) -> np.ndarray:
        """The (H, W) float32 blend weight of the source for this face and parameter draw."""
        poly, sigma = self._outline(landmarks, params)
        return render_mask(poly, shape, sigma) * np.float32(params.ratio)

    def apply(
        self, img: np.ndarray, landmarks: np.ndarray, params: SBIParams
    ) -> tuple[np.ndarray, np.ndarray]:
        """Blend a transformed copy of `img` into itself; returns (fake uint8, mask float32)."""
        img = _check_image(img)
        poly, sigma = self._outline(landmarks, params)
        size = polygon_size(poly)
        h, w = img.shape[:2]
        pad = 4 * sigma + 2
        x0, y0 = (max(int(np.floor(poly[:, i].min() - pad)), 0) for i in (0, 1))
        x1 = min(int(np.ceil(poly[:, 0].max() + pad)) + 1, w)
        y1 = min(int(np.ceil(poly[:, 1].max() + pad)) + 1, h)
        mask = np.zeros((h, w), dtype=np.float32)
        fake = img.copy()
        if x1 <= x0 or y1 <= y0:
            return fake, mask
        roi_mask = render_mask(poly - (x0, y0), (y1 - y0, x1 - x0), sigma) * np.float32(
            params.ratio
        )
        source = self._source(img, poly.mean(axis=0), size, params, (x0, y0, x1, y1))
        target = img[y0:y1, x0:x1].astype(np.float32) / 255.0
        alpha = roi_mask[..., None]
        blended = source * alpha + target * (1.0 - alpha)
        fake[y0:y1, x0:x1] = np.clip(np.rint(blended * 255.0), 0, 255).astype(np.uint8)
        mask[y0:y1, x0:x1] = roi_mask
        return fake, mask

    def __call__(
        self, img: np.ndarray, landmarks: np.ndarray, rng: RngLike = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One self-blended fake of one face with a fresh parameter draw: (fake, mask)."""
        return self.apply(img, landmarks, self.sample_params(rng))

    def _outline(self, landmarks: np.ndarray, params: SBIParams) -> tuple[np.ndarray, float]:
        """The deformed mask polygon and its edge-blur sigma in pixels."""
        pts = check_landmarks(landmarks)
        base = face_polygon(pts)
        poly = deform_polygon(
            base,
            face_angle(pts),
            params.mask_scale,
            params.mask_rotation,
            np.asarray(params.mask_harmonics, dtype=np.float64).reshape(-1, 2),
        )
        return poly, params.edge_blur * polygon_size(base)

    @staticmethod
    def _source(
        img: np.ndarray,
        centre: np.ndarray,
        size: float,
        p: SBIParams,
        roi: tuple[int, int, int, int],
    ) -> np.ndarray:
        """The transformed face (scale, shift, colour, frequency) over the ROI, float in [0, 1]."""
        x0, y0, x1, y1 = roi
        s, (dx, dy) = p.scale, (p.shift[0] * size, p.shift[1] * size)
        warp = np.array(
            [
                [s, 0.0, (1 - s) * centre[0] + dx - x0],
                [0.0, s, (1 - s) * centre[1] + dy - y0],
            ]
        )
        src = cv2.warpAffine(
            img, warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        src = src.astype(np.float32) / 255.0
        hsv = cv2.cvtColor(src, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0] + p.hsv_shift[0]) % 360.0
        hsv[..., 1] = np.clip(hsv[..., 1] + p.hsv_shift[1], 0.0, 1.0)
        hsv[..., 2] = np.clip(hsv[..., 2] + p.hsv_shift[2], 0.0, 1.0)
        src = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) + np.asarray(p.rgb_shift, dtype=np.float32)
        mean = src.mean(axis=(0, 1), keepdims=True)
        src = (src - mean) * p.contrast + mean + p.brightness
        if p.sharpness > 0:
            src = unsharp_mask(src, p.sharpness, max(0.01 * size, 0.8))
        elif p.sharpness < 0:
            src = cv2.GaussianBlur(src, (0, 0), sigmaX=max(-p.sharpness * size, 0.5))
        return np.clip(src, 0.0, 1.0)


def _check_image(img: np.ndarray) -> np.ndarray:
    """Require an (H, W, 3) uint8 RGB image."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        raise ValueError(f"image must be a uint8 numpy array, got {type(img).__name__}")
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 8:
        raise ValueError(f"image must be (H, W, 3) with H, W >= 8; got shape {img.shape}")
    return img


def pseudo_fake_sequence(
    frames: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray],
    rng: RngLike = None,
    flicker: bool = False,
    blender: SelfBlend | None = None,
) -> list[np.ndarray]:
    """Self-blend every frame of a face sequence with ONE parameter draw (jittered if flicker)."""
    if len(frames) != len(landmarks):
        raise ValueError(f"{len(frames)} frames but {len(landmarks)} landmark sets")
    blender = blender or SelfBlend()
    rng = np.random.default_rng(rng)
    params = blender.sample_params(rng)
    out = []
    for frame, pts in zip(frames, landmarks, strict=True):
        frame_params = blender.jitter(params, rng) if flicker else params
        out.append(blender.apply(frame, pts, frame_params)[0])
    return out


def landmarks_in_crop(
    landmarks: np.ndarray, bbox: Sequence[float], margin: float, size: int
) -> np.ndarray:
    """Map full-frame landmarks into a face crop's pixels.

    The crop is square, centred on the box centre, side = margin x max(box w, h), resized to
    size x size (vidfake.faces.crop and CropConfig). Accepts (K, 2) or a flat (2K,) array.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    pts = pts.reshape(-1, 2)
    x1, y1, x2, y2 = (float(v) for v in bbox)
    side = margin * max(x2 - x1, y2 - y1)
    if not side > 0:
        raise ValueError(f"bbox {list(bbox)} has no area")
    origin = np.array([(x1 + x2 - side) / 2, (y1 + y2 - side) / 2])
    return ((pts - origin) * (size / side)).astype(np.float32)

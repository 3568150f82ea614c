"""Augmentations that matter for deepfakes, drawn once per sequence and applied to every frame.

JPEG re-compression, an H.264 round trip of the whole sequence, blur or sharpening, downscaling,
colour jitter and horizontal flips mimic how videos are shared; one parameter draw per sequence
keeps the frames consistent, so a temporal model never sees flicker the augmentation made.
Compressing reals and pseudo-fakes alike after the blend also hides the one trace a blend on
stored crops has and a blend in a video does not: the blended region lost the crop's JPEG
history. Nothing that erases blending traces (cutout, mixup, strong warps) is on by default.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np

from vidfake.config import FORBID_EXTRA, Float, Int

SHARPEN_SIGMA = 1.0  # pixels: the radius of the unsharp mask, as phone and editor filters use


def unsharp_mask(img: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """`img` (float) plus `amount` times its detail above a Gaussian of `sigma` pixels."""
    return img + amount * (img - cv2.GaussianBlur(img, (0, 0), sigma))


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the per-sequence augmentations (0 disables one)."""

    __pydantic_config__ = FORBID_EXTRA

    flip: Float = 0.5  # probability of a horizontal flip
    jpeg: Float = 0.3  # probability of JPEG re-compression
    jpeg_quality: tuple[Int, Int] = (60, 95)  # quality range of the re-compression
    blur: Float = 0.1  # probability of a Gaussian blur
    blur_sigma: tuple[Float, Float] = (0.3, 1.2)  # sigma range of the blur, in pixels
    sharpen: Float = 0.0  # probability of an unsharp mask over the whole crop (never with blur)
    sharpen_amount: tuple[Float, Float] = (0.3, 1.5)  # strength range of that unsharp mask
    downscale: Float = 0.2  # probability of downscaling then upscaling back
    downscale_factor: tuple[Float, Float] = (0.5, 0.9)  # scale range of the downscaling
    color: Float = 0.3  # probability of brightness/contrast/saturation jitter
    color_strength: Float = 0.15  # maximum relative change of each colour property
    affine: Float = 0.0  # probability of a small rotation, zoom and shift (same for all frames)
    affine_rotate: Float = 12.0  # largest rotation, degrees
    affine_scale: tuple[Float, Float] = (0.9, 1.12)  # zoom range
    affine_shift: Float = 0.05  # largest shift of the centre, as a fraction of the side
    video: Float = 0.0  # probability of an H.264 round trip of the whole sequence (libx264)
    video_crf: tuple[Int, Int] = (18, 30)  # constant-rate-factor range of that round trip


def h264_round_trip(frames: list[np.ndarray], crf: int) -> list[np.ndarray]:
    """Encode RGB frames as H.264 (yuv420p, in memory) and decode them back.

    Odd sizes are padded by edge replication for the encoder and cropped back afterwards.
    """
    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = w + w % 2, h + h % 2, "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": "ultrafast"}
        stream.codec_context.thread_count = 1  # x264's output would follow the machine's cores
        for f in frames:
            img = np.ascontiguousarray(np.pad(f, pad, mode="edge"))
            out.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf) as inp:
        back = [
            np.ascontiguousarray(fr.to_ndarray(format="rgb24")[:h, :w])
            for fr in inp.decode(video=0)
        ]
    if len(back) != len(frames):
        raise RuntimeError(f"H.264 round trip returned {len(back)} of {len(frames)} frames")
    return back


class SequenceAugment:
    """Draws one parameter set per sequence (`sample`) and applies it to each frame (`apply`)."""

    def __init__(self, cfg: AugmentConfig | None = None) -> None:
        self.cfg = cfg or AugmentConfig()

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One random parameter set; absent keys mean the augmentation is off."""
        c = self.cfg
        p: dict[str, Any] = {"flip": bool(rng.random() < c.flip)}
        if rng.random() < c.jpeg:
            p["jpeg"] = int(rng.integers(c.jpeg_quality[0], c.jpeg_quality[1] + 1))
        if rng.random() < c.blur:
            p["blur"] = float(rng.uniform(*c.blur_sigma))
        elif c.sharpen > 0 and rng.random() < c.sharpen:
            p["sharpen"] = float(rng.uniform(*c.sharpen_amount))
        if rng.random() < c.downscale:
            p["downscale"] = float(rng.uniform(*c.downscale_factor))
        if rng.random() < c.color:
            s = c.color_strength
            p["color"] = tuple(float(v) for v in rng.uniform(1 - s, 1 + s, size=3))
        if rng.random() < c.affine:
            p["affine"] = (
                float(rng.uniform(-c.affine_rotate, c.affine_rotate)),
                float(rng.uniform(*c.affine_scale)),
                *(float(v) for v in rng.uniform(-c.affine_shift, c.affine_shift, size=2)),
            )
        if rng.random() < c.video:
            p["video"] = int(rng.integers(c.video_crf[0], c.video_crf[1] + 1))
        return p

    def apply(self, img: np.ndarray, p: dict[str, Any]) -> np.ndarray:
        """Apply parameter set `p` to one uint8 RGB image."""
        out = img
        if p.get("flip"):
            out = out[:, ::-1]
        if "affine" in p:
            angle, zoom, dx, dy = p["affine"]
            h, w = out.shape[:2]
            m = cv2.getRotationMatrix2D((w / 2 + dx * w, h / 2 + dy * h), angle, zoom)
            out = cv2.warpAffine(
                np.ascontiguousarray(out), m, (w, h), borderMode=cv2.BORDER_REFLECT
            )
        if "color" in p:
            brightness, contrast, saturation = p["color"]
            f = out.astype(np.float32)
            grey = f.mean(axis=2, keepdims=True)
            f = grey + (f - grey) * saturation
            f = (f - f.mean()) * contrast + f.mean() * brightness
            out = np.clip(f, 0, 255).astype(np.uint8)
        if "blur" in p:
            out = cv2.GaussianBlur(np.ascontiguousarray(out), (0, 0), p["blur"])
        if "sharpen" in p:
            f = unsharp_mask(out.astype(np.float32), p["sharpen"], SHARPEN_SIGMA)
            out = np.clip(np.rint(f), 0, 255).astype(np.uint8)
        if "downscale" in p:
            h, w = out.shape[:2]
            small = (max(1, round(w * p["downscale"])), max(1, round(h * p["downscale"])))
            out = cv2.resize(np.ascontiguousarray(out), small, interpolation=cv2.INTER_AREA)
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
        if "jpeg" in p:
            ok, buf = cv2.imencode(
                ".jpg", np.ascontiguousarray(out[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, p["jpeg"]]
            )
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
        return np.ascontiguousarray(out)

    def __call__(
        self,
        frames: list[np.ndarray],
        rng: np.random.Generator,
        eyes: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray]] | None]:
        """Augment a sequence (and its eye patches, swapping left and right on a flip)."""
        p = self.sample(rng)
        out = [self.apply(f, p) for f in frames]
        if "video" in p:
            out = h264_round_trip(out, p["video"])
        if eyes is None:
            return out, None
        pairs = [(self.apply(left, p), self.apply(right, p)) for left, right in eyes]
        if p["flip"]:
            pairs = [(r, left) for left, r in pairs]
        return out, pairs

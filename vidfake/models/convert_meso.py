"""One-off: MesoNet's published Keras weights (HDF5) → vidfake safetensors.

`python -m vidfake.models.convert_meso SRC_DIR OUT_DIR` reads the authors' `Meso4_DF.h5`,
`Meso4_F2F.h5`, `MesoInception_DF.h5` and `MesoInception_F2F.h5` and writes
`{meso4,mesoinception4}_{df,f2f}.safetensors` plus the LICENSE and NOTICE beside them. Keras'
layers are matched to the torch modules in creation order (the number in each auto-generated
layer name), kernels moved from HWIO to OIHW, Dense kernels transposed, the first Dense's inputs
reordered from Keras' channels-last flatten to torch's channel-first one, and the last layer
negated: the published sigmoid is P(real), vidfake's logit is the log-odds of fake.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from vidfake.models._base import probe_output

SOURCES = {  # output name -> (vidfake arch, published file)
    "meso4_df": ("meso4", "Meso4_DF.h5"),
    "meso4_f2f": ("meso4", "Meso4_F2F.h5"),
    "mesoinception4_df": ("mesoinception4", "MesoInception_DF.h5"),
    "mesoinception4_f2f": ("mesoinception4", "MesoInception_F2F.h5"),
}
SHIPPED_BESIDE = ("LICENSE", "NOTICE")
_KINDS = {"conv2d": nn.Conv2d, "batch_normalization": nn.BatchNorm2d, "dense": nn.Linear}


def read_keras_weights(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Layer name → {weight name (`kernel`, `gamma`, ...) → array} from a Keras weights file."""
    try:
        import h5py
    except ImportError:
        raise ModuleNotFoundError(
            "reading Keras HDF5 weights needs h5py: `.venv/bin/pip install h5py`"
        ) from None
    layers: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        for raw in f.attrs["layer_names"]:
            name = raw.decode()
            group = f[name]
            layers[name] = {
                w.decode().rsplit("/", 1)[-1].split(":")[0]: np.asarray(group[w.decode()])
                for w in group.attrs["weight_names"]
            }
    return layers


def keras_layers_of(layers: dict[str, dict[str, np.ndarray]], kind: str) -> list[str]:
    """Names of the layers of one kind (`conv2d`, `dense`, ...) in the order Keras created them."""
    pattern = re.compile(rf"{kind}_(\d+)")
    found = [(int(m.group(1)), n) for n in layers if (m := pattern.fullmatch(n))]
    return [n for _, n in sorted(found)]


def _put(state: dict[str, torch.Tensor], key: str, value: np.ndarray) -> None:
    """Set one tensor of the state dict, refusing a shape that does not fit."""
    if tuple(value.shape) != tuple(state[key].shape):
        raise ValueError(f"{key}: Keras gives {value.shape}, torch wants {tuple(state[key].shape)}")
    state[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))


def keras_to_state_dict(
    model: nn.Module, layers: dict[str, dict[str, np.ndarray]]
) -> dict[str, torch.Tensor]:
    """The state dict of `model` (a vidfake MesoNet) holding the Keras weights, logit negated."""
    state = model.state_dict()
    named = {m: n for n, m in model.named_modules()}
    size = model.default_cfg["input_size"][-1]
    feature_shape = probe_output(model.face.encoder.features, size).shape[1:]  # (C, H, W)
    for kind, cls in _KINDS.items():
        torch_mods = [m for m in model.modules() if isinstance(m, cls)]
        keras_names = keras_layers_of(layers, kind)
        if len(torch_mods) != len(keras_names):
            raise ValueError(f"{len(keras_names)} Keras {kind} layers for {len(torch_mods)} torch")
        for i, (mod, lname) in enumerate(zip(torch_mods, keras_names, strict=True)):
            w, prefix = layers[lname], named[mod]
            if kind == "conv2d":
                _put(state, f"{prefix}.weight", w["kernel"].transpose(3, 2, 0, 1))
                _put(state, f"{prefix}.bias", w["bias"])
            elif kind == "batch_normalization":
                _put(state, f"{prefix}.weight", w["gamma"])
                _put(state, f"{prefix}.bias", w["beta"])
                _put(state, f"{prefix}.running_mean", w["moving_mean"])
                _put(state, f"{prefix}.running_var", w["moving_variance"])
            else:
                kernel = w["kernel"]
                if i == 0:  # Keras flattened (H, W, C); torch flattens (C, H, W)
                    c, h, wd = feature_shape
                    kernel = (
                        kernel.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(c * h * wd, -1)
                    )
                sign = -1.0 if i == len(torch_mods) - 1 else 1.0  # P(real) -> logit of fake
                _put(state, f"{prefix}.weight", sign * kernel.T)
                _put(state, f"{prefix}.bias", sign * w["bias"])
    return state


def convert(src: str | Path, out: str | Path) -> list[Path]:
    """Convert every published file in `src` into `out`, with the licence files beside them."""
    from vidfake.models import create_model

    src, out = Path(src), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (arch, filename) in SOURCES.items():
        model = create_model(arch)
        state = keras_to_state_dict(model, read_keras_weights(src / filename))
        model.load_state_dict(state, strict=True)
        path = out / f"{name}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        written.append(path)
    for filename in SHIPPED_BESIDE:
        shutil.copyfile(src / filename, out / filename)
    return written


def main(argv: list[str] | None = None) -> None:
    """Command line: SRC_DIR (the published .h5 files, LICENSE, NOTICE) and OUT_DIR."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="folder with the published .h5 files")
    parser.add_argument(
        "out", type=Path, help="folder for the safetensors (vidfake/weights/mesonet)"
    )
    args = parser.parse_args(argv)
    try:
        written = convert(args.src, args.out)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise SystemExit(f"convert_meso: {exc}") from None
    for path in written:
        print(path)


if __name__ == "__main__":
    main()

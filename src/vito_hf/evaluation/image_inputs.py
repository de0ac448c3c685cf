"""uint8 RGB images at a model's input size (`VitoImageProcessor.image_size_of`), for suites that alter pixels
before encoding them."""

from __future__ import annotations

import numpy as np
from PIL import Image


def rgb_at_size(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[N, H, W]`` / ``[N, H, W, 1]`` / ``[N, H, W, 3]`` -> uint8 RGB ``[N, size, size, 3]`` (bicubic)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        out[index] = np.asarray(Image.fromarray(image).convert("RGB").resize((size, size), Image.BICUBIC))
    return out

"""uint8 RGB images at a model's input size (`VitoImageProcessor.image_size_of`), for suites that alter pixels
before encoding them, and the PNG files those suites read and write."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from ..atomic_files import write_atomic
from ..image_processing_vito import VitoImageProcessor
from .batched_inputs import processor_forced, resize_uint8, uint8_batch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Image files the suites read from folders (cue-conflict stimuli, ClickMe-style images)."""


def suite_image_size(image_processor: object | None, quick: bool) -> int:
    """The input size a suite feeds: the processor's (`VitoImageProcessor.image_size_of`), at most 64 px when quick."""
    size = VitoImageProcessor.image_size_of(image_processor)
    return min(size, 64) if quick else size


def rgb_at_size(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[N, H, W]`` / ``[N, H, W, 1]`` / ``[N, H, W, 3]`` -> uint8 RGB ``[N, size, size, 3]``: Pillow's bicubic
    resize of each image, computed for the whole batch at once (image by image through Pillow inside
    :func:`~.batched_inputs.use_image_processor`)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if not processor_forced():
        resized = resize_uint8(uint8_batch(images), (size, size)).permute(0, 2, 3, 1)
        if resized.stride(-1) == 0:  # grey images, resized once: stack their three equal channels
            return np.stack([resized[..., 0].numpy()] * 3, axis=-1)
        return resized.contiguous().numpy()
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        out[index] = np.asarray(Image.fromarray(image).convert("RGB").resize((size, size), Image.BICUBIC))
    return out


def load_rgb(paths: Sequence[str | os.PathLike], size: int) -> np.ndarray:
    """Image files as uint8 RGB ``[N, size, size, 3]`` (bicubic resize of the whole image)."""
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BICUBIC)) for p in paths])


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """A uint8 image array as a PNG file, written under a temporary name and renamed into place."""
    write_atomic(path, lambda temporary: Image.fromarray(image).save(temporary, format="PNG"))

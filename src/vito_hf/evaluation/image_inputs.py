"""Image sizes and uint8 RGB images at a model's input size, for suites that alter pixels before encoding them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .batched_inputs import processor_forced, resize_uint8, uint8_batch

DEFAULT_IMAGE_SIZE = 224


def processor_image_size(image_processor: object | None) -> int:
    """The square input size a checkpoint expects: its processor's crop size (when it crops), else its resize size,
    else 224.

    Sizes come as plain dicts (older processors, JSON) or as transformers 5's ``SizeDict`` (attributes, not a
    ``dict``); both are read."""
    crops = getattr(image_processor, "do_center_crop", True) is not False
    for attribute in ("crop_size", "size") if crops else ("size",):
        size = getattr(image_processor, attribute, None)
        if isinstance(size, int):
            return size
        for key in ("height", "shortest_edge", "width"):
            value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
            if value:
                return int(value)
    return DEFAULT_IMAGE_SIZE


def rgb_at_size(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 ``[N, H, W]`` / ``[N, H, W, 1]`` / ``[N, H, W, 3]`` -> uint8 RGB ``[N, size, size, 3]``: Pillow's bicubic
    resize of each image, computed for the whole batch at once (image by image through Pillow inside
    :func:`~.batched_inputs.use_image_processor`)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if not processor_forced():
        return resize_uint8(uint8_batch(images), (size, size)).permute(0, 2, 3, 1).contiguous().numpy()
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    out = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        out[index] = np.asarray(Image.fromarray(image).convert("RGB").resize((size, size), Image.BICUBIC))
    return out

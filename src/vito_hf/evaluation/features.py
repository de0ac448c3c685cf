"""Frozen features of an image encoder (any model whose output has ``pooler_output``) over a labelled image set.

Small grayscale sets (8x8 digits, 28x28 Fashion-MNIST) are far from the encoder's input size, so the images are
replicated to RGB, resized to the model's ``image_size`` with bicubic interpolation (the resampling of
``VitoImageProcessor``) and normalised with the processor's ImageNet mean and std, in batches of tensors.
The whole image is kept: the processor's resize-then-center-crop would cut the border of a digit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD


def images_to_pixel_values(
    images: np.ndarray | torch.Tensor,
    image_size: int,
    *,
    image_mean: Sequence[float] = IMAGENET_DEFAULT_MEAN,
    image_std: Sequence[float] = IMAGENET_DEFAULT_STD,
) -> torch.Tensor:
    """uint8 images ``[N, H, W]``, ``[N, H, W, 1]`` or ``[N, H, W, 3]`` -> normalised float ``[N, 3, S, S]``."""
    pixels = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if pixels.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (0..255), got {pixels.dtype}; convert them with .astype(np.uint8)")
    if pixels.ndim == 3:
        pixels = pixels.unsqueeze(-1)
    if pixels.ndim != 4 or pixels.shape[-1] not in (1, 3):
        raise ValueError(f"images must have shape [N, H, W], [N, H, W, 1] or [N, H, W, 3], got {tuple(pixels.shape)}")
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    pixels = pixels.permute(0, 3, 1, 2).float().div_(255.0).expand(-1, 3, -1, -1)
    if pixels.shape[-2:] != (image_size, image_size):
        # Bicubic overshoots at edges; clamping keeps the range a uint8 image (what PIL produces) would have.
        pixels = F.interpolate(
            pixels, size=(image_size, image_size), mode="bicubic", align_corners=False, antialias=True
        )
        pixels = pixels.clamp_(0.0, 1.0)
    mean = torch.tensor(image_mean, dtype=pixels.dtype).view(1, 3, 1, 1)
    std = torch.tensor(image_std, dtype=pixels.dtype).view(1, 3, 1, 1)
    return (pixels - mean) / std


def extract_features(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    image_size: int | None = None,
    image_processor: object | None = None,
    batch_size: int = 256,
) -> torch.Tensor:
    """Frozen ``pooler_output`` features ``[N, D]`` (float32, CPU) of ``model`` over uint8 ``images``.

    Runs in eval mode (batch norm uses its running statistics, so a feature does not depend on its batch) under
    ``torch.inference_mode``, on the model's device and dtype, and restores the model's train/eval mode after.
    ``image_size`` defaults to ``model.config.image_size``; mean and std come from ``image_processor``
    (e.g. a ``VitoImageProcessor``) when given, else the ImageNet constants VITO is trained with.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    size = image_size if image_size is not None else getattr(getattr(model, "config", None), "image_size", None)
    if size is None:
        raise ValueError("the model's config has no image_size: pass image_size= (the input resolution it expects)")
    size = size if isinstance(size, int) else int(size["height"]) if isinstance(size, dict) else int(size[0])
    image_mean = getattr(image_processor, "image_mean", None) or IMAGENET_DEFAULT_MEAN
    image_std = getattr(image_processor, "image_std", None) or IMAGENET_DEFAULT_STD
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                pixel_values = images_to_pixel_values(
                    images[start : start + batch_size], size, image_mean=image_mean, image_std=image_std
                )
                outputs = model(pixel_values=pixel_values.to(device=device, dtype=dtype))
                pooled = getattr(outputs, "pooler_output", None)
                if pooled is None:
                    raise TypeError(
                        f"{type(model).__name__} returns no pooler_output: pass the encoder itself "
                        "(a VitoModel, e.g. VitoForPreTraining(...).vito, or AutoModel.from_pretrained(folder))"
                    )
                chunks.append(pooled.flatten(1).float().cpu())
    finally:
        model.train(was_training)
    if not chunks:
        raise ValueError("no images given: the image array is empty")
    # Concatenating outside inference mode gives an ordinary tensor that autograd-based probes can use.
    return torch.cat(chunks)

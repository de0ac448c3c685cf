"""An image processor's preprocessing on batched uint8 tensors, equal to its output: resize, center crop, rescale,
normalise for a whole batch at once instead of image by image through PIL and numpy.

Resizing reproduces Pillow's resampling exactly (the processors' PIL backend resizes uint8 images with it): the same
filter (bicubic ``a = -0.5`` or bilinear, widened by the scale when shrinking, i.e. antialiased), the same fixed-point
weights (22 fractional bits, rounded half away from zero), a horizontal pass rounded and clipped to uint8, then a
vertical one. ``torch.nn.functional.interpolate(..., antialias=True)`` on floats misses that intermediate rounding and
clipping (up to 24 grey levels apart on noisy images); on uint8 it is up to 2 levels apart. Here the passes are
integer gathers and sums, so the uint8 result is Pillow's bit for bit, and the float output equals the processor's
(the same float64 rescale and float32 normalisation). Center cropping uses transformers' offsets and zero padding.

:func:`tensor_preprocessing` reads a processor's settings; processors it cannot reproduce (another backend,
an overridden ``preprocess``, another resampling filter, padding, ``longest_edge``) are left to the processor
itself, and :func:`preprocessing_path` says which path runs. Inside ``with use_image_processor():`` every caller
takes the processor's own path (the reference, and the "before" of the speed benchmark).
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from PIL import Image

PRECISION_BITS = 32 - 8 - 2
"""Fractional bits of Pillow's fixed-point resampling weights for 8-bit images (``Resample.c``)."""


def _bicubic(x: torch.Tensor) -> torch.Tensor:
    a = -0.5
    x = x.abs()
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return torch.where(x < 1.0, near, torch.where(x < 2.0, far, torch.zeros_like(x)))


def _bilinear(x: torch.Tensor) -> torch.Tensor:
    return (1.0 - x.abs()).clamp(min=0.0)


FILTERS: dict[int, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    int(Image.Resampling.BICUBIC): (_bicubic, 2.0),
    int(Image.Resampling.BILINEAR): (_bilinear, 1.0),
}
"""Pillow's convolution filters reproduced here (function, support), by ``PIL.Image.Resampling`` value."""

_FORCE_PROCESSOR = contextvars.ContextVar("vito_hf_force_image_processor", default=False)


@contextmanager
def use_image_processor() -> Iterator[None]:
    """Within the block, images are prepared by the image processor itself (per image, PIL and numpy)."""
    token = _FORCE_PROCESSOR.set(True)
    try:
        yield
    finally:
        _FORCE_PROCESSOR.reset(token)


def processor_forced() -> bool:
    """Whether the caller is inside :func:`use_image_processor`."""
    return _FORCE_PROCESSOR.get()


def _resample_weights(in_size: int, out_size: int, resample: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices ``[out_size, K]`` and fixed-point weights ``[out_size, K]`` (int32) of one pass, as Pillow's
    ``precompute_coeffs`` and ``normalize_coeffs_8bpc`` make them; unused taps point at 0 with weight 0."""
    kernel, support = FILTERS[resample]
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = support * filter_scale
    taps = int(math.ceil(support)) * 2 + 1
    centers = (torch.arange(out_size, dtype=torch.float64) + 0.5) * scale
    # Pillow truncates toward zero, then clamps; both equal floor-then-clamp for these ranges.
    first = torch.clamp((centers - support + 0.5).trunc(), min=0).long()
    last = torch.clamp((centers + support + 0.5).trunc(), max=in_size).long()
    offsets = torch.arange(taps)
    index = first[:, None] + offsets[None, :]
    valid = offsets[None, :] < (last - first)[:, None]
    weights = kernel((index.double() - centers[:, None] + 0.5) / filter_scale) * valid
    totals = weights.sum(1, keepdim=True)
    weights = torch.where(totals != 0, weights / torch.where(totals != 0, totals, 1.0), weights)
    fixed = weights * (1 << PRECISION_BITS)
    fixed = torch.where(fixed < 0, (fixed - 0.5).trunc(), (fixed + 0.5).trunc()).to(torch.int32)
    return torch.where(valid, index, 0), fixed


def _resample_pass(images: torch.Tensor, out_size: int, dim: int, resample: int) -> torch.Tensor:
    """One Pillow pass along ``dim`` of an int32 tensor of 0..255 values, rounded and clipped back to 0..255."""
    index, weights = _resample_weights(images.shape[dim], out_size, resample)
    index, weights = index.to(images.device), weights.to(images.device)
    shape = [1] * images.ndim
    shape[dim] = out_size
    total = torch.full((), 1 << (PRECISION_BITS - 1), dtype=torch.int32, device=images.device)
    for tap in range(index.shape[1]):
        total = total + images.index_select(dim, index[:, tap]) * weights[:, tap].view(shape)
    return (total >> PRECISION_BITS).clamp_(0, 255)


@lru_cache(maxsize=256)
def _pass_order(in_size: tuple[int, int], out_size: tuple[int, int], resample: int) -> tuple[int, ...] | None:
    """The order of the passes (dims of a ``[3, H, W]`` image) that gives Pillow's result for this geometry, or
    ``None`` when no order does. Pillow 12 always ran the horizontal pass first; Pillow 13 chooses by a rule of
    its own, so the order is read off one Pillow resize of black-and-white noise (where the two orders differ
    wherever the intermediate rounding does)."""
    noise = np.random.default_rng(0).integers(0, 2, (*in_size, 3), dtype=np.uint8) * 255
    expected = torch.from_numpy(np.array(Image.fromarray(noise).resize(out_size[::-1], resample))).permute(2, 0, 1)
    values = torch.from_numpy(noise).permute(2, 0, 1).to(torch.int32)
    for order in ((2, 1), (1, 2)):
        if torch.equal(_run_passes(values, out_size, order, resample).to(torch.uint8), expected):
            return order
    return None


def _run_passes(values: torch.Tensor, size: tuple[int, int], order: tuple[int, ...], resample: int) -> torch.Tensor:
    for dim in order:
        axis = values.ndim - 3 + dim
        values = _resample_pass(values, size[dim - 1], axis, resample)
    return values


def resize_uint8(images: torch.Tensor, size: tuple[int, int], resample: int = Image.Resampling.BICUBIC) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` -> uint8 ``[N, C, h, w]``, equal to Pillow's ``Image.resize((w, h), resample)`` of
    each image (through Pillow itself, image by image, for a geometry whose result no pass order reproduces)."""
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    resample = int(resample)
    if resample not in FILTERS:
        raise ValueError(f"resampling {resample!r} is not reproduced; use one of {sorted(FILTERS)}")
    height, width = size
    in_size = tuple(images.shape[-2:])
    if (height, width) == in_size:
        return images
    # Pillow skips a pass whose size does not change.
    changed = tuple(dim for dim, (a, b) in ((1, (in_size[0], height)), (2, (in_size[1], width))) if a != b)
    order = changed if len(changed) == 1 else _pass_order(in_size, (height, width), resample)
    if order is None:
        return torch.stack([_pillow_resize(image, size, resample) for image in images.cpu()]).to(images.device)
    return _run_passes(images.to(torch.int32), (height, width), order, resample).to(torch.uint8)


def _pillow_resize(image: torch.Tensor, size: tuple[int, int], resample: int) -> torch.Tensor:
    array = image.permute(1, 2, 0).numpy()
    resized = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).resize(size[::-1], resample)
    return torch.from_numpy(np.array(resized)).reshape(size[0], size[1], -1).permute(2, 0, 1)


def center_crop(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[..., H, W]`` -> ``[..., h, w]`` with transformers' offsets; an image smaller than the crop is zero-padded
    around its centre first (as ``transformers.image_transforms.center_crop``)."""
    height, width = images.shape[-2:]
    crop_height, crop_width = size
    top, left = (height - crop_height) // 2, (width - crop_width) // 2
    if top >= 0 and left >= 0:
        return images[..., top : top + crop_height, left : left + crop_width]
    padded_height, padded_width = max(crop_height, height), max(crop_width, width)
    top_pad, left_pad = math.ceil((padded_height - height) / 2), math.ceil((padded_width - width) / 2)
    padded = images.new_zeros((*images.shape[:-2], padded_height, padded_width))
    padded[..., top_pad : top_pad + height, left_pad : left_pad + width] = images
    top, left = top + top_pad, left + left_pad
    return padded[..., max(0, top) : min(padded_height, top + crop_height),
                  max(0, left) : min(padded_width, left + crop_width)]


@dataclass(frozen=True)
class TensorPreprocessing:
    """A processor's resize / center crop / rescale / normalise, applied to uint8 ``[N, 3, H, W]`` tensors."""

    shortest_edge: int | None
    """Resize so the short side is this long (the long side truncated as transformers does), or ``None``."""
    resize_to: tuple[int, int] | None
    """Resize to this ``(height, width)`` (when ``shortest_edge`` is ``None``), or ``None``: no resizing."""
    resample: int
    crop_to: tuple[int, int] | None
    rescale_factor: float | None
    image_mean: tuple[float, ...] | None
    image_std: tuple[float, ...] | None

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` of an image of this size after resizing (before cropping)."""
        if self.shortest_edge is not None:
            short, long = sorted((height, width))
            new_long = int(self.shortest_edge * long / short)
            return (new_long, self.shortest_edge) if width <= height else (self.shortest_edge, new_long)
        return self.resize_to or (height, width)

    def uint8(self, images: torch.Tensor) -> torch.Tensor:
        """Resized and cropped uint8 ``[N, 3, h, w]`` of uint8 ``[N, 3, H, W]`` (one size per call)."""
        images = resize_uint8(images, self.output_size(*images.shape[-2:]), self.resample)
        return center_crop(images, self.crop_to) if self.crop_to is not None else images

    def __call__(self, images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        """float32 ``pixel_values [N, 3, h, w]`` of uint8 images: one ``[N, 3, H, W]`` tensor, or a sequence of
        ``[3, H, W]`` tensors of any sizes (batched by size, returned in their order)."""
        if isinstance(images, torch.Tensor):
            prepared = self.uint8(images)
        else:
            prepared = self._by_size(list(images))
        values = prepared.to(torch.float64)
        if self.rescale_factor is not None:
            values = values * self.rescale_factor
        values = values.to(torch.float32)
        if self.image_mean is not None:
            mean = torch.tensor(self.image_mean, dtype=torch.float32, device=values.device).view(1, -1, 1, 1)
            std = torch.tensor(self.image_std, dtype=torch.float32, device=values.device).view(1, -1, 1, 1)
            values = (values - mean) / std
        # Contiguous like the processor's output: a channels-last tensor (from [N, H, W, 3] arrays) would send
        # convolutions down another kernel, with other rounding.
        return values.contiguous()

    def _by_size(self, images: list[torch.Tensor]) -> torch.Tensor:
        groups: dict[tuple[int, int], list[int]] = {}
        for position, image in enumerate(images):
            groups.setdefault(tuple(image.shape[-2:]), []).append(position)
        outputs: list[torch.Tensor | None] = [None] * len(images)
        for positions in groups.values():
            for position, image in zip(positions, self.uint8(torch.stack([images[p] for p in positions]))):
                outputs[position] = image
        sizes = {tuple(image.shape) for image in outputs}
        if len(sizes) > 1:
            raise ValueError(
                f"the processor makes images of {len(sizes)} sizes ({sorted(sizes)}) from images of different aspect "
                "ratios, which cannot be batched: give the processor a crop_size or a fixed size"
            )
        return torch.stack(outputs)


def tensor_preprocessing(processor: Any) -> TensorPreprocessing | str:
    """The :class:`TensorPreprocessing` equal to ``processor``'s output, or why it cannot be reproduced."""
    from transformers.image_processing_backends import PilBackend

    cls = type(processor)
    if not isinstance(processor, PilBackend):
        return f"{cls.__name__} is not a PIL-backend image processor"
    if cls._preprocess is not PilBackend._preprocess or cls.preprocess is not PilBackend.preprocess:
        return f"{cls.__name__} overrides the PIL backend's preprocessing"
    if getattr(processor, "do_pad", None):
        return "padding is not reproduced"
    if getattr(processor, "do_reduce_labels", None):
        return "label reduction is not reproduced"
    shortest_edge = resize_to = None
    resample = int(processor.resample if processor.resample is not None else Image.Resampling.BILINEAR)
    if processor.do_resize:
        size = processor.size
        if int(resample) not in FILTERS:
            return f"resampling {resample} is not reproduced (only bicubic and bilinear)"
        if getattr(size, "longest_edge", None) or getattr(size, "max_height", None):
            return f"resizing to {dict(size)} is not reproduced (only shortest_edge or height and width)"
        if getattr(size, "shortest_edge", None):
            shortest_edge = int(size.shortest_edge)
        elif getattr(size, "height", None) and getattr(size, "width", None):
            resize_to = (int(size.height), int(size.width))
        else:
            return f"resizing to {dict(size)} is not reproduced"
    crop_to = None
    if processor.do_center_crop:
        crop_to = (int(processor.crop_size.height), int(processor.crop_size.width))
    normalise = bool(processor.do_normalize)
    mean, std = processor.image_mean, processor.image_std
    if normalise and (not isinstance(mean, Sequence) or not isinstance(std, Sequence) or len(mean) != 3 or len(std) != 3):
        return "only per-channel RGB image_mean and image_std (three values each) are reproduced"
    return TensorPreprocessing(
        shortest_edge=shortest_edge, resize_to=resize_to, resample=resample, crop_to=crop_to,
        rescale_factor=float(processor.rescale_factor) if processor.do_rescale else None,
        image_mean=tuple(float(v) for v in mean) if normalise else None,
        image_std=tuple(float(v) for v in std) if normalise else None,
    )


def preprocessing_path(processor: Any) -> str:
    """Which path prepares images for ``processor`` here: ``"batched tensors"`` or ``"image processor (why)"``."""
    if processor_forced():
        return "image processor (chosen with use_image_processor)"
    plan = tensor_preprocessing(processor)
    return "batched tensors" if isinstance(plan, TensorPreprocessing) else f"image processor ({plan})"


def uint8_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``[N, 3, H, W]`` (a view where possible) of a uint8 array or tensor ``[N, H, W]``, ``[N, H, W, 1]``
    or ``[N, H, W, 3]``; grey images get three equal channels, as Pillow's conversion to RGB gives them."""
    batch = torch.as_tensor(images)
    if batch.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (0..255), got {batch.dtype}; convert them with .astype(np.uint8)")
    if batch.ndim == 4 and batch.shape[-1] == 1:
        batch = batch[..., 0]
    if batch.ndim == 3:
        batch = batch[..., None].expand(-1, -1, -1, 3)
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"images must have shape [N, H, W], [N, H, W, 1] or [N, H, W, 3], got {tuple(batch.shape)}")
    return batch.permute(0, 3, 1, 2)

"""An image processor's preprocessing on batched uint8 tensors, equal to its output: resize, center crop, rescale,
normalise for a whole batch at once instead of image by image through PIL and numpy.

Resizing gives Pillow's bytes (the processors' PIL backend resizes uint8 images with Pillow). On an accelerator,
:func:`tensor_resize` reproduces Pillow's algorithm: the same filter (bicubic ``a = -0.5`` or bilinear, widened by
the scale when shrinking, i.e. antialiased), the same fixed-point weights (22 fractional bits, rounded half away
from zero), one pass rounded and clipped to uint8, then the other, as exact integer arithmetic in float64 matrix
products. ``torch.nn.functional.interpolate(..., antialias=True)`` misses the intermediate rounding and clipping (up
to 24 grey levels apart on noisy images as floats, 1-2 as uint8). On the CPU, Pillow's own C kernels are faster
than those matrix passes, so they are used there, one call per pass over the whole batch (:func:`pillow_resize`). The
rescale and normalisation give the processor's own float arithmetic exactly: as float32 arithmetic over the batch
where that equals it on every byte and channel (checked once per processor), else as a lookup per byte and channel.
Center cropping uses transformers' offsets and zero padding.

:func:`tensor_preprocessing` reads a processor's settings; processors it cannot reproduce (another backend,
an overridden ``preprocess``, another resampling filter, padding, ``longest_edge``) are left to the processor
itself, and :func:`preprocessing_path` says which path runs. Inside ``with use_image_processor():`` every caller
takes the processor's own path (the reference, and the "before" of the speed benchmark).
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
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


BICUBIC = int(Image.Resampling.BICUBIC)
FILTERS: dict[int, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    BICUBIC: (_bicubic, 2.0),
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


@lru_cache(maxsize=256)
def _resample_matrix(in_size: int, out_size: int, resample: int) -> torch.Tensor:
    """float64 ``[out_size, in_size]`` matrix of one pass's fixed-point weights, as Pillow's ``precompute_coeffs``
    and ``normalize_coeffs_8bpc`` make them (the window clipped at the borders and renormalised, each weight scaled
    by 2**22 and rounded half away from zero)."""
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
    fixed = torch.where(fixed < 0, (fixed - 0.5).trunc(), (fixed + 0.5).trunc())
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    return matrix.scatter_add_(1, torch.where(valid, index, 0), fixed * valid)


def _resample_pass(values: torch.Tensor, out_size: int, dim: int, resample: int) -> torch.Tensor:
    """One Pillow pass along ``dim`` (-1: width, -2: height) of float64 ``[N, C, H, W]`` holding 0..255 integers,
    rounded and clipped back to 0..255. Every product and partial sum is an integer below 2**53, so float64 holds
    them exactly in any summation order and the result is Pillow's integer arithmetic."""
    matrix = _resample_matrix(values.shape[dim], out_size, resample).to(values.device)
    total = values @ matrix.T if dim == -1 else matrix @ values
    return total.add_(1 << (PRECISION_BITS - 1)).mul_(2.0**-PRECISION_BITS).floor_().clamp_(0, 255)


@lru_cache(maxsize=256)
def _pass_order(in_size: tuple[int, int], out_size: tuple[int, int], resample: int) -> tuple[int, ...] | None:
    """The order of the passes (-1: width, -2: height) that gives Pillow's result for this geometry, or ``None``
    when no order does. Pillow 12 always ran the horizontal pass first; Pillow 13 picks the order by a rule of its
    own, so it is read off one Pillow resize of black-and-white noise (where the two orders differ wherever the
    intermediate rounding does)."""
    noise = np.random.default_rng(0).integers(0, 2, (1, *in_size, 3), dtype=np.uint8) * 255
    expected = torch.from_numpy(np.array(Image.fromarray(noise[0]).resize(out_size[::-1], resample)))
    values = torch.from_numpy(noise).permute(0, 3, 1, 2).double()
    for order in ((-1, -2), (-2, -1)):
        if torch.equal(_run_passes(values, out_size, order, resample)[0].permute(1, 2, 0).to(torch.uint8), expected):
            return order
    return None


def _run_passes(values: torch.Tensor, size: tuple[int, int], order: tuple[int, ...], resample: int) -> torch.Tensor:
    for dim in order:
        values = _resample_pass(values, size[dim], dim, resample)
    return values


def tensor_resize(images: torch.Tensor, size: tuple[int, int], resample: int = BICUBIC) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` -> uint8 ``[N, C, h, w]`` on the images' device, equal to Pillow's
    ``Image.resize((w, h), resample)`` of each image (computed by Pillow, image by image, for a geometry whose
    result no pass order reproduces)."""
    _check_resize(images, resample)
    in_size = tuple(images.shape[-2:])
    if tuple(size) == in_size:
        return images
    # Pillow skips a pass whose size does not change.
    changed = tuple(dim for dim in (-1, -2) if in_size[dim] != size[dim])
    order = changed if len(changed) == 1 else _pass_order(in_size, tuple(size), int(resample))
    if order is None:
        return pillow_resize(images.cpu(), size, resample).to(images.device)
    return _run_passes(images.double(), tuple(size), order, int(resample)).to(torch.uint8)


def pillow_resize(images: torch.Tensor, size: tuple[int, int], resample: int = BICUBIC) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` (CPU) -> uint8 ``[N, C, h, w]`` through Pillow's ``Image.resize``, equal to resizing
    each image on its own.

    A Pillow pass computes every row (the horizontal pass) or every column (the vertical one) on its own, from
    weights that depend only on the lengths along that axis, so a batch is resized in one Pillow call per pass: the
    images stacked into one tall image for the horizontal pass and side by side for the vertical one, in the order
    Pillow would take (:func:`_pass_order`). Three channels are resized as one RGB image (Pillow computes each
    channel with the same integer arithmetic), any other count channel by channel; channels that are one channel
    expanded (grey images from :func:`uint8_batch`) are resized once. The batch is split over
    ``torch.get_num_threads()`` threads (Pillow releases the GIL while resizing)."""
    _check_resize(images, resample)
    size = (int(size[0]), int(size[1]))
    if size == tuple(images.shape[-2:]):
        return images
    if images.shape[1] > 1 and images.stride(1) == 0:
        return pillow_resize(images[:, :1], size, resample).expand(-1, images.shape[1], -1, -1)
    in_size = tuple(images.shape[-2:])
    changed = tuple(dim for dim in (-1, -2) if in_size[dim] != size[dim])
    order = changed if len(changed) == 1 else _pass_order(in_size, size, int(resample))
    # [N, H, W, C] with C = 3 (RGB images), else [N * C, H, W, 1] (one grey image per channel).
    arrays = images.permute(0, 2, 3, 1) if images.shape[1] == 3 else images.reshape(-1, *in_size, 1)
    arrays = arrays.numpy()
    out = np.empty((len(arrays), *size, arrays.shape[-1]), dtype=np.uint8)

    def resize_part(start: int, stop: int) -> None:
        if order is None:  # no pass order gives Pillow's result: image by image
            for index in range(start, stop):
                image = Image.fromarray(np.ascontiguousarray(arrays[index].squeeze(-1) if arrays.shape[-1] == 1
                                                             else arrays[index]))
                out[index] = np.asarray(image.resize(size[::-1], resample)).reshape(out.shape[1:])
            return
        part = arrays[start:stop]
        for dim in order:
            part = _pillow_pass(part, size[dim], dim, int(resample))
        out[start:stop] = part

    parts = max(1, min(torch.get_num_threads(), len(arrays)))
    bounds = [len(arrays) * part // parts for part in range(parts + 1)]
    with ThreadPoolExecutor(max_workers=parts - 1) if parts > 1 else nullcontext() as pool:
        pending = [pool.submit(resize_part, start, stop) for start, stop in zip(bounds[1:-1], bounds[2:])]
        resize_part(bounds[0], bounds[1])
        for future in pending:
            future.result()
    resized = torch.from_numpy(out)
    if images.shape[1] == 3:
        return resized.permute(0, 3, 1, 2)
    return resized.reshape(len(images), images.shape[1], *size)


def _pillow_pass(arrays: np.ndarray, length: int, dim: int, resample: int) -> np.ndarray:
    """One Pillow pass over uint8 ``[N, H, W, C]`` (C = 1 or 3): every width (``dim`` -1) or height (-2) to ``length``,
    as one Pillow image of the batch stacked along the other axis."""
    count, height, width, channels = arrays.shape
    pixel = () if channels == 1 else (channels,)
    if dim == -1:
        tall = np.ascontiguousarray(arrays).reshape(count * height, width, *pixel)
        resized = np.asarray(Image.fromarray(tall).resize((length, count * height), resample))
        return resized.reshape(count, height, length, channels)
    wide = np.ascontiguousarray(arrays.transpose(1, 0, 2, 3)).reshape(height, count * width, *pixel)
    resized = np.asarray(Image.fromarray(wide).resize((count * width, length), resample))
    return resized.reshape(length, count, width, channels).transpose(1, 0, 2, 3)


def resize_uint8(images: torch.Tensor, size: tuple[int, int], resample: int = BICUBIC) -> torch.Tensor:
    """Pillow's resize of every image of a uint8 ``[N, C, H, W]`` batch: by Pillow itself on the CPU
    (:func:`pillow_resize`, 2.5-6x faster than the float64 matrix passes here), by :func:`tensor_resize` on an
    accelerator. Both give the same bytes."""
    resize = pillow_resize if images.device.type == "cpu" else tensor_resize
    return resize(images, size, resample)


def _check_resize(images: torch.Tensor, resample: int) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}")
    if int(resample) not in FILTERS:
        raise ValueError(f"resampling {resample!r} is not reproduced; use one of {sorted(FILTERS)}")


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
        prepared = self.uint8(images) if isinstance(images, torch.Tensor) else self._by_size(list(images))
        out = torch.empty(prepared.shape, dtype=torch.float32, device=prepared.device)
        if _arithmetic_is_exact(self, prepared.shape[1], prepared.device):
            # Bytes made contiguous first: converting a channels-last or expanded view directly is several times slower.
            return self._arithmetic(out.copy_(prepared.contiguous()))
        # Each output value depends only on the input byte and its channel: look the processor's arithmetic up.
        table = self._table(prepared.shape[1], prepared.device)
        for channel in range(prepared.shape[1]):
            out[:, channel] = table[channel][prepared[:, channel].int()]
        return out

    def _table(self, channels: int, device: torch.device) -> torch.Tensor:
        """float32 ``[channels, 256]``: the processor's arithmetic on every byte (float64 rescale, float32 cast,
        float32 normalisation)."""
        values = torch.arange(256, dtype=torch.float64, device=device)
        if self.rescale_factor is not None:
            values = values * self.rescale_factor
        values = values.to(torch.float32).expand(channels, 256)
        if self.image_mean is not None:
            mean = torch.tensor(self.image_mean, dtype=torch.float32, device=device)[:, None]
            std = torch.tensor(self.image_std, dtype=torch.float32, device=device)[:, None]
            values = (values - mean) / std
        return values

    def _arithmetic(self, values: torch.Tensor) -> torch.Tensor:
        """float32 ``[N, C, H, W]`` of bytes, in place: divided by ``1 / rescale_factor`` (rounded to float32), then
        normalised, all in float32. Three passes over the batch instead of a per-element lookup; used only where
        :func:`_arithmetic_is_exact` finds it equal to :meth:`_table` on all 256 bytes of every channel."""
        if self.rescale_factor is not None:
            values.div_(torch.tensor(1.0 / self.rescale_factor, dtype=torch.float32, device=values.device))
        if self.image_mean is not None:
            shape = (len(self.image_mean), 1, 1)
            values.sub_(torch.tensor(self.image_mean, dtype=torch.float32, device=values.device).view(shape))
            values.div_(torch.tensor(self.image_std, dtype=torch.float32, device=values.device).view(shape))
        return values

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


@lru_cache(maxsize=64)
def _arithmetic_is_exact(plan: TensorPreprocessing, channels: int, device: torch.device) -> bool:
    """Whether ``plan._arithmetic`` gives ``plan._table`` exactly for every byte and channel (so for every image):
    true for the usual ``1/255`` rescale and normalisations; float32 rounding decides it for others."""
    every_byte = torch.arange(256, dtype=torch.float32, device=device).expand(1, channels, 256)[..., None]
    return torch.equal(plan._arithmetic(every_byte.clone())[0, ..., 0], plan._table(channels, device))


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
    per_channel = all(isinstance(v, Sequence) and len(v) == 3 for v in (mean, std))
    if normalise and not per_channel:
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

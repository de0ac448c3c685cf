"""BYOL-style view augmentations in plain torch, split into a geometric and a photometric part.

The geometric part (random resized crop, bicubic resize, flip) runs per frame on uint8 in the
DataLoader workers: frames of different clips differ in size, and resizing uint8 to the training
size early makes everything after it cheap. The photometric part (colour jitter in random order,
grayscale, Gaussian blur, solarize) works on float batches ``[N, 3, H, W]`` with per-sample random
parameters on any device, so it can run in the workers or, batched, on the accelerator, where it
costs almost nothing (an H200 ran ~41,000 view-images/s at batch 256, 224x224), while on CPU
it is the most expensive step of the loader (~80 view-images/s per core; see
``benchmarks/data_loading.py``).

Parameters follow the paper (BYOL's): crop area scale (0.4, 1) (not ImageNet's 0.08), aspect
(3/4, 4/3), flip 0.5, jitter p 0.8 with brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1,
grayscale p 0.2, blur 23x23 with sigma in [0.1, 2] with p 1.0 (view 1) / 0.1 (view 2), solarize
p 0.0 (view 1) / 0.2 (view 2). With more than two views, the second view (index 1) uses the
view-2 distribution and every other view the view-1 distribution, as the paper does for its
third view.

Randomness comes from an explicit CPU ``torch.Generator`` or torch's global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ViewAugmentation:
    """The distribution of augmentations for one view."""

    crop_scale: tuple[float, float] = (0.4, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 1.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_size: int = 23
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5

    def __post_init__(self) -> None:
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value}.")
        low, high = self.crop_scale
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {self.crop_scale}.")
        if not 0.0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            raise ValueError(f"crop_ratio must satisfy 0 < low <= high, got {self.crop_ratio}.")
        if self.blur_kernel_size < 1 or self.blur_kernel_size % 2 == 0:
            raise ValueError(f"blur_kernel_size must be odd and positive, got {self.blur_kernel_size}.")
        if not 0.0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"blur_sigma must satisfy 0 < low <= high, got {self.blur_sigma}.")
        if not 0.0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}.")


BYOL_VIEW_1 = ViewAugmentation(blur_p=1.0, solarize_p=0.0)
BYOL_VIEW_2 = ViewAugmentation(blur_p=0.1, solarize_p=0.2)


def byol_view_augmentations(num_views: int = 3, crop_scale: tuple[float, float] = (0.4, 1.0)) -> list[ViewAugmentation]:
    """Per-view distributions: index 1 gets view 2's (rare blur, solarize), all others view 1's."""
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}.")
    return [replace(BYOL_VIEW_2 if k == 1 else BYOL_VIEW_1, crop_scale=crop_scale) for k in range(num_views)]


# Geometric part (per frame, uint8).


def _rand(generator: torch.Generator | None, size: int = 1) -> torch.Tensor:
    return torch.rand(size, generator=generator, dtype=torch.float64)


def sample_crop_box(
    height: int,
    width: int,
    scale: tuple[float, float] = (0.4, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """A random crop ``(top, left, crop_height, crop_width)`` covering a ``scale`` fraction of the frame.

    Area uniform in ``scale``, aspect log-uniform in ``ratio``; up to 10 draws, then (for frames
    too elongated to fit) the largest centred crop with the nearest allowed aspect.
    """
    area = height * width
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        draws = _rand(generator, 4).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * draws[0])
        aspect = math.exp(log_low + (log_high - log_low) * draws[1])
        crop_w = int(round(math.sqrt(target * aspect)))
        crop_h = int(round(math.sqrt(target / aspect)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = min(int(draws[2] * (height - crop_h + 1)), height - crop_h)
            left = min(int(draws[3] * (width - crop_w + 1)), width - crop_w)
            return top, left, crop_h, crop_w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        crop_w, crop_h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        crop_h, crop_w = height, int(round(height * ratio[1]))
    else:
        crop_w, crop_h = width, height
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w


def random_resized_crop(
    frame: np.ndarray | torch.Tensor,
    size: int,
    view: ViewAugmentation = BYOL_VIEW_1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random crop, bicubic (antialiased) resize to ``size``x``size`` and random flip of one frame.

    ``frame`` is uint8 ``[H, W, 3]`` (as decoded); returns uint8 ``[3, size, size]``.
    """
    image = torch.from_numpy(frame) if isinstance(frame, np.ndarray) else frame
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] frame, got {tuple(image.shape)} {image.dtype}.")
    height, width = image.shape[:2]
    top, left, crop_h, crop_w = sample_crop_box(height, width, view.crop_scale, view.crop_ratio, generator)
    crop = image[top : top + crop_h, left : left + crop_w].permute(2, 0, 1).unsqueeze(0)
    resized = F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True, align_corners=False)[0]
    if _rand(generator).item() < view.flip_p:
        resized = resized.flip(-1)
    return resized


# Photometric part (batched, float in [0, 1], any device).


@dataclass
class PhotometricParams:
    """Per-sample photometric draws for ``N`` images (tensors of length ``N``).

    ``order[i]`` is the permutation of the four jitter operations (0 brightness, 1 contrast,
    2 saturation, 3 hue) for image ``i``; factors of images without jitter are the identity.
    """

    jitter: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    order: torch.Tensor
    grayscale: torch.Tensor
    blur: torch.Tensor
    sigma: torch.Tensor
    solarize: torch.Tensor
    blur_kernel_size: int = 23
    solarize_threshold: float = 0.5

    def to(self, device: torch.device | str) -> PhotometricParams:
        moved = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()}
        return PhotometricParams(**moved)


def sample_photometric_params(
    n: int, view: ViewAugmentation = BYOL_VIEW_1, generator: torch.Generator | None = None
) -> PhotometricParams:
    """Draw photometric parameters for ``n`` images of one view distribution (on the CPU)."""
    u = torch.rand(n, 9, generator=generator)

    def factor(column: int, spread: float) -> torch.Tensor:
        return max(0.0, 1.0 - spread) + (2 * spread - max(0.0, spread - 1.0)) * u[:, column]

    jitter = u[:, 0] < view.jitter_p
    identity = torch.ones(n)
    order = torch.argsort(torch.rand(n, 4, generator=generator), dim=1)
    return PhotometricParams(
        jitter=jitter,
        brightness=torch.where(jitter, factor(1, view.brightness), identity),
        contrast=torch.where(jitter, factor(2, view.contrast), identity),
        saturation=torch.where(jitter, factor(3, view.saturation), identity),
        hue=torch.where(jitter, (2 * u[:, 4] - 1) * view.hue, torch.zeros(n)),
        order=order,
        grayscale=u[:, 5] < view.grayscale_p,
        blur=u[:, 6] < view.blur_p,
        sigma=view.blur_sigma[0] + (view.blur_sigma[1] - view.blur_sigma[0]) * u[:, 7],
        solarize=u[:, 8] < view.solarize_p,
        blur_kernel_size=view.blur_kernel_size,
        solarize_threshold=view.solarize_threshold,
    )


def concat_params(parts: Sequence[PhotometricParams]) -> PhotometricParams:
    """Join parameter sets of several views (same kernel size and threshold) into one batch."""
    first = parts[0]
    if any(p.blur_kernel_size != first.blur_kernel_size or p.solarize_threshold != first.solarize_threshold for p in parts):
        raise ValueError("views with different blur kernel sizes or solarize thresholds cannot share one batch.")
    fields = {k: torch.cat([getattr(p, k) for p in parts]) for k, v in first.__dict__.items() if isinstance(v, torch.Tensor)}
    return PhotometricParams(**fields, blur_kernel_size=first.blur_kernel_size, solarize_threshold=first.solarize_threshold)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.to(torch.float32).view(-1, 1, 1, 1)


def _brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return (x * _per_image(f)).clamp_(0.0, 1.0)


def _contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + _per_image(f) * (x - mean)).clamp_(0.0, 1.0)


def _saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    gray = _gray(x)
    return (gray + _per_image(f) * (x - gray)).clamp_(0.0, 1.0)


def _hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by ``shift`` turns, exactly as an HSV round trip would (saturation, value kept).

    With hue ``H`` in sextants, channel ``c`` of an HSV colour is
    ``max - (max - min) * clamp(min(k, 4 - k), 0, 1)`` with ``k = (n_c + H) mod 6`` and
    ``n = 5, 3, 1`` for red, green, blue: no HSV image is ever materialised.
    """
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    maxc = x.amax(dim=1)
    delta = maxc - x.amin(dim=1)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    sextant = torch.where(maxc == r, (g - b) / safe, torch.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    sextant = sextant + 6.0 * shift.to(x.dtype).view(-1, 1, 1)
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(sextant + n, 6.0)
        channels.append(maxc - delta * torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0))
    return torch.stack(channels, dim=1)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Separable Gaussian blur with one sigma per image, reflect padding."""
    n, c, h, w = x.shape
    radius = kernel_size // 2
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets.view(1, -1) / sigma.to(x.dtype).view(-1, 1)) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)
    flat = x.reshape(1, n * c, h, w)
    pad_w, pad_h = min(radius, w - 1), min(radius, h - 1)
    if pad_w < radius or pad_h < radius:
        flat = F.pad(flat, (pad_w, pad_w, pad_h, pad_h), mode="reflect")
        flat = F.pad(flat, (radius - pad_w, radius - pad_w, radius - pad_h, radius - pad_h), mode="replicate")
    else:
        flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(n * c, 1, 1, kernel_size), groups=n * c)
    flat = F.conv2d(flat, kernel.view(n * c, 1, kernel_size, 1), groups=n * c)
    return flat.view(n, c, h, w)


_JITTER_OPS = (_brightness, _contrast, _saturation, _hue)
_JITTER_IDENTITY = (1.0, 1.0, 1.0, 0.0)


def apply_photometric(images: torch.Tensor, params: PhotometricParams) -> torch.Tensor:
    """Apply drawn photometric augmentations to float images ``[N, 3, H, W]`` in [0, 1].

    Order as in BYOL: colour jitter (its four operations in each image's own random order),
    grayscale, blur, solarize. Only the images an operation selects are computed; a jitter
    factor equal to the identity is skipped (the hue round trip through HSV is not exact).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected float images [N, 3, H, W], got {tuple(images.shape)}.")
    # Which images each operation selects is decided on the host, where the parameters are drawn: selecting
    # on the accelerator (`nonzero`) would stall the host until the device caught up, once per operation.
    params = params.to("cpu")
    device = images.device

    def to_device(values: torch.Tensor) -> torch.Tensor:
        return values.to(device, non_blocking=True)

    x = images.to(torch.float32).clone()
    factors = (params.brightness, params.contrast, params.saturation, params.hue)
    for position in range(4):
        for op_index, op in enumerate(_JITTER_OPS):
            selected = params.jitter & (params.order[:, position] == op_index)
            chosen = torch.nonzero(selected & (factors[op_index] != _JITTER_IDENTITY[op_index])).flatten()
            if chosen.numel():
                rows = to_device(chosen)
                x[rows] = op(x[rows], to_device(factors[op_index][chosen]))
    gray = torch.nonzero(params.grayscale).flatten()
    if gray.numel():
        rows = to_device(gray)
        x[rows] = _gray(x[rows]).expand(-1, 3, -1, -1)
    blur = torch.nonzero(params.blur).flatten()
    if blur.numel():
        rows = to_device(blur)
        x[rows] = _gaussian_blur(x[rows], to_device(params.sigma[blur]), params.blur_kernel_size)
    solar = torch.nonzero(params.solarize).flatten()
    if solar.numel():
        rows = to_device(solar)
        part = x[rows]
        x[rows] = torch.where(part >= params.solarize_threshold, 1.0 - part, part)
    return x


def augment_frame(
    frame: np.ndarray | torch.Tensor,
    size: int,
    view: ViewAugmentation = BYOL_VIEW_1,
    generator: torch.Generator | None = None,
    photometric: bool = True,
) -> torch.Tensor:
    """Per-sample entry point (DataLoader workers): one uint8 ``[H, W, 3]`` frame to a view.

    With ``photometric`` returns float ``[3, size, size]`` in [0, 1]; without it, the uint8 crop
    (photometric augmentation then runs batched, see :func:`augment_views`).
    """
    crop = random_resized_crop(frame, size, view, generator)
    if not photometric:
        return crop
    params = sample_photometric_params(1, view, generator)
    return apply_photometric(crop.unsqueeze(0).to(torch.float32).div_(255.0), params)[0]


def augment_views(
    views: torch.Tensor,
    augmentations: Sequence[ViewAugmentation],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Batched entry point: photometric augmentation of ``[B, V, 3, H, W]`` on the tensor's device.

    uint8 input is scaled to [0, 1]; view ``v`` uses ``augmentations[v]``. Parameters are drawn
    on the CPU (``generator`` or the global RNG) so results do not depend on the device's RNG.
    Returns float32 ``[B, V, 3, H, W]`` in [0, 1].
    """
    if views.ndim != 5 or views.shape[2] != 3:
        raise ValueError(f"expected [B, V, 3, H, W], got {tuple(views.shape)}.")
    batch, num_views = views.shape[:2]
    if len(augmentations) != num_views:
        raise ValueError(f"got {len(augmentations)} view augmentations for {num_views} views.")
    x = views.to(torch.float32)
    if views.dtype == torch.uint8:
        x = x / 255.0
    params = concat_params([sample_photometric_params(batch, augmentations[v], generator) for v in range(num_views)])
    flat = x.transpose(0, 1).reshape(num_views * batch, *x.shape[2:])
    out = apply_photometric(flat, params)
    return out.view(num_views, batch, *x.shape[2:]).transpose(0, 1).contiguous()

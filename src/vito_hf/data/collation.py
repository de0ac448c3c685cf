"""From examples to VITO's multi-view batch: photometric augmentation (batched), normalisation, collation.

The photometric part of the BYOL augmentation runs batched on the CPU in
:class:`VitoPretrainingCollator` (the default), or on the accelerator with
:class:`DeviceViewAugmentation` when the collator leaves the batch uint8 (``VitoTrainer`` applies it
when given one; the data argument ``device_augmentation`` turns it on, by default on CUDA only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .augmentation import ViewAugmentation, augment_views, byol_view_augmentations
from .transforms import SkipLog

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_views(pixel_values: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """``(x - mean) / std`` per channel of ``[..., 3, H, W]`` float images in [0, 1]."""
    shape = (3, 1, 1)
    m = torch.tensor(mean, dtype=pixel_values.dtype, device=pixel_values.device).view(shape)
    s = torch.tensor(std, dtype=pixel_values.dtype, device=pixel_values.device).view(shape)
    return (pixel_values - m) / s


class VitoPretrainingCollator:
    """Examples to ``{"pixel_values": float32 [B, V, 3, H, W]}``, normalised with ImageNet mean/std.

    uint8 views get the batched photometric augmentation here (``apply_photometric=True``,
    default). For augmentation on the accelerator, set ``apply_photometric=False,
    normalize=False``: the batch stays uint8 (4x less to copy) and :class:`DeviceViewAugmentation`
    finishes it on the device. Skipped examples (``pixel_values is None``) are dropped and counted.
    """

    def __init__(
        self,
        augmentations: Sequence[ViewAugmentation] | None = None,
        apply_photometric: bool = True,
        normalize: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        generator: torch.Generator | None = None,
    ):
        self.augmentations = list(augmentations) if augmentations is not None else None
        self.apply_photometric = apply_photometric
        self.normalize = normalize
        self.mean, self.std = tuple(mean), tuple(std)
        self.generator = generator
        self.dropped = SkipLog()

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        kept = []
        for example in examples:
            if example.get("pixel_values") is None:
                self.dropped.add(example.get("skip_reason") or "example without pixel_values")
            else:
                kept.append(torch.as_tensor(example["pixel_values"]))
        if not kept:
            raise RuntimeError(
                f"every clip of this batch of {len(examples)} failed to decode (see the warnings above); "
                "check the dataset, or wrap it in ResamplingViewDataset."
            )
        batch = torch.stack(kept)
        if batch.dtype == torch.uint8:
            if self.apply_photometric:
                augmentations = self.augmentations or byol_view_augmentations(batch.shape[1])
                batch = augment_views(batch, augmentations, self.generator)
            elif self.normalize:
                batch = batch.to(torch.float32).div_(255.0)
        if self.normalize:
            batch = normalize_views(batch.to(torch.float32), self.mean, self.std)
        return {"pixel_values": batch}


class DeviceViewAugmentation(torch.nn.Module):
    """Photometric augmentation and normalisation of a uint8 ``[B, V, 3, H, W]`` batch on its device.

    Pair with ``VitoPretrainingCollator(apply_photometric=False, normalize=False)``; ``VitoTrainer`` calls it
    on each batch once the batch is on the accelerator (``build_pretraining_data`` sets this up).
    """

    def __init__(
        self,
        augmentations: Sequence[ViewAugmentation] | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.augmentations = list(augmentations) if augmentations is not None else None
        self.mean, self.std = tuple(mean), tuple(std)
        self.generator = generator

    def forward(self, pixel_values: torch.Tensor, seed: int | None = None) -> torch.Tensor:
        """`seed` (e.g. the batch's `augmentation_seed`) makes the draw reproducible on any device: the
        parameters are drawn on the CPU (a generator on the batch's device could not draw them) and only the
        pixels are touched on the device, with no read-back to the host."""
        generator = self.generator
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
        augmentations = self.augmentations or byol_view_augmentations(pixel_values.shape[1])
        return normalize_views(augment_views(pixel_values, augmentations, generator), self.mean, self.std)

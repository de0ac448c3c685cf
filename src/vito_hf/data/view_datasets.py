"""Datasets of views: a clip dataset plus a view transform, with bad clips replaced or skipped.

:class:`ResamplingViewDataset` (map-style) replaces a clip that fails to decode by another random
clip, so batches keep their size; :class:`SkippingViewDataset` (streams) skips it.
"""

from __future__ import annotations

from typing import Any

import torch

from .transforms import VitoViewTransform


class ResamplingViewDataset(torch.utils.data.Dataset):
    """A map-style clip dataset whose bad clips are replaced by other random clips (constant batch size).

    ``dataset[i]`` is a row (any map-style dataset, e.g. from :func:`build_clip_dataset`); the
    transform turns it into views. After ``max_attempts`` bad clips in a row it raises.
    """

    def __init__(
        self,
        dataset: Any,
        transform: VitoViewTransform,
        max_attempts: int = 20,
        generator: torch.Generator | None = None,
    ):
        self.dataset = dataset
        self.transform = transform
        self.max_attempts = max_attempts
        self.generator = generator

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        for _ in range(self.max_attempts):
            row = self.dataset[int(index)]
            out = self.transform(row)
            if out["pixel_values"] is not None:
                return {"pixel_values": out["pixel_values"]}
            index = int(torch.randint(len(self.dataset), (1,), generator=self.generator))
        raise RuntimeError(
            f"{self.max_attempts} clips in a row failed to decode; the dataset is mostly unreadable "
            f"(first reasons: {self.transform.skipped.reasons[:3]})."
        )


class SkippingViewDataset(torch.utils.data.IterableDataset):
    """A streaming clip dataset (any iterable of rows) yielding views, skipping bad clips."""

    def __init__(self, dataset: Any, transform: VitoViewTransform):
        self.dataset = dataset
        self.transform = transform

    def __iter__(self):
        for row in self.dataset:
            out = self.transform(row)
            if out["pixel_values"] is not None:
                yield {"pixel_values": out["pixel_values"]}


def views_dataset(dataset: Any, transform: VitoViewTransform) -> torch.utils.data.Dataset:
    """Wrap a map-style or streaming clip dataset so every item is a good example's views."""
    if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__getitem__"):
        return SkippingViewDataset(dataset, transform)
    return ResamplingViewDataset(dataset, transform)

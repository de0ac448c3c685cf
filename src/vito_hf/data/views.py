"""From a dataset row to VITO's multi-view batch: sample times, decode, augment, collate.

Pipeline per example (DataLoader worker): the temporal sampler draws ``V`` times in seconds,
:func:`~vito_hf.data.decoding.decode_frames_at` seeks and decodes just those frames, and each
frame gets its own random resized crop and flip (uint8). The photometric part of the BYOL
augmentation then runs either in the worker (``photometric_in_worker=True``), in the collator
(batched, still on the CPU; the default), or on the accelerator with
:class:`DeviceViewAugmentation` when the collator is told to leave it out.

A clip that fails to decode never stops training: the transform logs it, counts it and marks the
example as skipped; :class:`VitoPretrainingCollator` drops skipped examples, and
:class:`ResamplingViewDataset` replaces them by another random clip so batches keep their size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .augmentation import (
    ViewAugmentation,
    apply_photometric,
    augment_views,
    byol_view_augmentations,
    random_resized_crop,
    sample_photometric_params,
)
from .decoding import VideoDecodeError, decode_frames_at, probe_video
from .sampling import MarginalSampler, TemporalSampler

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def video_source(value: Any) -> str | bytes:
    """The decodable source in a dataset cell: a path, bytes, or a ``{"path", "bytes"}`` video dict."""
    if isinstance(value, Mapping):
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path"):
            return value["path"]
        raise ValueError(f"video cell has neither bytes nor path: {sorted(value)}.")
    if isinstance(value, (str, bytes, os.PathLike)):
        return os.fspath(value) if isinstance(value, os.PathLike) else value
    raise TypeError(f"cannot read a video from a {type(value).__name__}; store a path, bytes or a video dict.")


class SkipLog:
    """Counts skipped clips with their reasons (the first ``keep`` are kept for reports)."""

    def __init__(self, keep: int = 1000):
        self.count = 0
        self.keep = keep
        self.reasons: list[str] = []

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.reasons) < self.keep:
            self.reasons.append(reason)
        logger.warning("Skipping a clip (%d skipped so far in this process): %s", self.count, reason)


class VitoViewTransform:
    """Row(s) of a clip dataset to ``{"pixel_values": [V, 3, S, S]}`` (one tensor per row).

    Works as ``dataset.set_transform(t)`` / ``with_transform(t)`` (batched dicts of lists) and as
    ``iterable_dataset.map(t)`` (one row). ``pixel_values`` is uint8 (crop and flip only) unless
    ``photometric_in_worker``, which returns float in [0, 1] fully augmented. A row whose clip
    cannot be decoded gets ``pixel_values=None`` and ``skip_reason``; see :attr:`skipped`.
    The row's ``duration`` column is used when present (else the clip is probed).
    """

    def __init__(
        self,
        image_size: int = 224,
        sampler: TemporalSampler | None = None,
        augmentations: Sequence[ViewAugmentation] | None = None,
        photometric_in_worker: bool = False,
        video_column: str = "video",
        duration_column: str = "duration",
        generator: torch.Generator | None = None,
    ):
        self.image_size = image_size
        self.sampler = sampler or MarginalSampler()
        self.augmentations = list(augmentations or byol_view_augmentations(self.sampler.num_views))
        if len(self.augmentations) != self.sampler.num_views:
            raise ValueError(
                f"{len(self.augmentations)} view augmentations for a sampler of {self.sampler.num_views} views."
            )
        self.photometric_in_worker = photometric_in_worker
        self.video_column = video_column
        self.duration_column = duration_column
        self.generator = generator
        self.skipped = SkipLog()

    def views(self, source: str | bytes, duration: float | None = None) -> torch.Tensor:
        """The ``[V, 3, S, S]`` views of one clip (raises :class:`VideoDecodeError` on a bad clip)."""
        if not duration or duration <= 0:
            duration = probe_video(source, decode_first_frame=False).duration
        times = self.sampler(duration, self.generator).times
        frames = decode_frames_at(source, times)
        crops = [random_resized_crop(frames[v], self.image_size, aug, self.generator) for v, aug in enumerate(self.augmentations)]
        views = torch.stack(crops)
        if not self.photometric_in_worker:
            return views
        out = views.to(torch.float32).div_(255.0)
        for v, aug in enumerate(self.augmentations):
            out[v] = apply_photometric(out[v : v + 1], sample_photometric_params(1, aug, self.generator))[0]
        return out

    def _one(self, video: Any, duration: Any) -> tuple[torch.Tensor | None, str | None]:
        try:
            source = video_source(video)
            return self.views(source, float(duration) if duration is not None else None), None
        except (VideoDecodeError, ValueError, TypeError, OSError) as exc:
            name = video.get("path") if isinstance(video, Mapping) else (video if isinstance(video, str) else "<bytes>")
            reason = f"{name}: {type(exc).__name__}: {exc}"
            self.skipped.add(reason)
            return None, reason

    def __call__(self, rows: dict[str, Any]) -> dict[str, Any]:
        videos = rows[self.video_column]
        durations = rows.get(self.duration_column)
        if isinstance(videos, list):
            durations = durations if isinstance(durations, list) else [None] * len(videos)
            results = [self._one(v, d) for v, d in zip(videos, durations)]
            return {"pixel_values": [r[0] for r in results], "skip_reason": [r[1] for r in results]}
        views, reason = self._one(videos, durations)
        return {"pixel_values": views, "skip_reason": reason}


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

    Pair with ``VitoPretrainingCollator(apply_photometric=False, normalize=False)``; call it on the
    batch after it moved to the accelerator (for example in the trainer's ``compute_loss``).
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

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        augmentations = self.augmentations or byol_view_augmentations(pixel_values.shape[1])
        return normalize_views(augment_views(pixel_values, augmentations, self.generator), self.mean, self.std)


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



"""From a dataset row to one clip's views: sample times, decode just those frames, crop and flip.

Per example (in a DataLoader worker): the temporal sampler draws ``V`` times in seconds,
:func:`~vito_hf.data.decoding.decode_frames_at` seeks and decodes just those frames, and each frame
gets its own random resized crop and flip (uint8). The photometric part of the BYOL augmentation
runs here only with ``photometric_in_worker``; otherwise in the collator or on the accelerator
(:mod:`vito_hf.data.collation`). A clip that fails to decode never stops training: the transform
logs it, counts it and marks the example as skipped.
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
    byol_view_augmentations,
    random_resized_crop,
    sample_photometric_params,
)
from .decoding import VideoDecodeError, decode_frames_at, probe_video
from .samplers import MarginalSampler, TemporalSampler

logger = logging.getLogger(__name__)


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

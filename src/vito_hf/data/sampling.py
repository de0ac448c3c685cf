"""Temporal samplers: which times (seconds) of a clip become the views of one training example.

Samplers work in seconds, not frame indices, so variable-frame-rate clips and clips stored at any
rate sample the same way; :func:`vito_hf.data.decoding.decode_frames_at` turns the times into
frames. Randomness comes from an explicit ``torch.Generator`` or torch's global RNG, so
DataLoader worker seeding and Trainer's RNG checkpoints make sampling reproducible.

A clip of ``duration`` seconds holds frames at times in ``[0, duration)``. A window longer than
the clip shrinks to the whole clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SampledTimes:
    """The window an example was drawn from and its view times (seconds, in view order)."""

    window_start: float
    window_end: float
    times: tuple[float, ...]

    @property
    def gaps(self) -> tuple[float, ...]:
        """Absolute time between every pair of views."""
        t = self.times
        return tuple(abs(t[i] - t[j]) for i in range(len(t)) for j in range(i + 1, len(t)))


def _uniform(low: float, high: float, size: int, generator: torch.Generator | None) -> list[float]:
    draws = torch.rand(size, generator=generator, dtype=torch.float64)
    return (low + (high - low) * draws).tolist()


def _check(duration: float, num_views: int) -> None:
    if not duration > 0:
        raise ValueError(f"clip duration must be positive seconds, got {duration}; probe the clip or drop it.")
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}.")


def _check_window(window_seconds: float, num_views: int) -> None:
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}.")
    _check(1.0, num_views)


def _window(duration: float, window_seconds: float, generator: torch.Generator | None) -> tuple[float, float]:
    length = min(window_seconds, duration)
    start = _uniform(0.0, duration - length, 1, generator)[0] if duration > length else 0.0
    return start, start + length


@dataclass(frozen=True)
class MarginalSampler:
    """The paper's sampling: a random window, then each view time uniform and independent in it.

    Defaults: a 2.56 s window (64 frames at 25 fps) and 3 views; the median gap between two
    views is then about 0.76 s. Views may coincide in time; their augmentations still differ.
    """

    window_seconds: float = 2.56
    num_views: int = 3

    def __post_init__(self) -> None:
        _check_window(self.window_seconds, self.num_views)

    def __call__(self, duration: float, generator: torch.Generator | None = None) -> SampledTimes:
        _check(duration, self.num_views)
        start, end = _window(duration, self.window_seconds, generator)
        return SampledTimes(start, end, tuple(_uniform(start, end, self.num_views, generator)))


@dataclass(frozen=True)
class FixedDelaySampler:
    """Ablation: views ``delay_seconds`` apart (``t0, t0 + d, t0 + 2d, ...``) from a random ``t0``.

    On a clip too short for ``(num_views - 1) * delay_seconds`` the delay shrinks so all views fit.
    """

    delay_seconds: float = 0.5
    num_views: int = 3

    def __post_init__(self) -> None:
        if self.delay_seconds < 0:
            raise ValueError(f"delay_seconds must be >= 0, got {self.delay_seconds}.")
        _check(1.0, self.num_views)

    def __call__(self, duration: float, generator: torch.Generator | None = None) -> SampledTimes:
        _check(duration, self.num_views)
        steps = self.num_views - 1
        delay = min(self.delay_seconds, duration / (steps + 1)) if steps else 0.0
        span = steps * delay
        start = _uniform(0.0, duration - span, 1, generator)[0]
        times = tuple(start + k * delay for k in range(self.num_views))
        return SampledTimes(start, start + span, times)


@dataclass(frozen=True)
class ChunkSampler:
    """Ablation: a random window cut into ``num_views`` equal chunks, one uniform time per chunk."""

    window_seconds: float = 2.56
    num_views: int = 3

    def __post_init__(self) -> None:
        _check_window(self.window_seconds, self.num_views)

    def __call__(self, duration: float, generator: torch.Generator | None = None) -> SampledTimes:
        _check(duration, self.num_views)
        start, end = _window(duration, self.window_seconds, generator)
        chunk = (end - start) / self.num_views
        offsets = _uniform(0.0, chunk, self.num_views, generator)
        return SampledTimes(start, end, tuple(start + k * chunk + offsets[k] for k in range(self.num_views)))


TemporalSampler = MarginalSampler | FixedDelaySampler | ChunkSampler

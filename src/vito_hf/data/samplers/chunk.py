"""An ablation of the paper: one view time per equal chunk of the window."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .base import SampledTimes, TemporalSampler, check_duration, check_window, random_window, uniform


@dataclass(frozen=True)
class ChunkSampler(TemporalSampler, name="chunk"):
    """Ablation: one time per equal chunk of the window.

    A random window cut into ``num_views`` equal chunks, one uniform time per chunk.
    """

    window_seconds: float = field(
        default=2.56, metadata={"help": "Window the views are drawn from (paper: 64 frames at 25 fps)."}
    )
    num_views: int = 3

    def __post_init__(self) -> None:
        check_window(self.window_seconds, self.num_views)

    def __call__(self, duration: float, generator: torch.Generator | None = None) -> SampledTimes:
        check_duration(duration, self.num_views)
        start, end = random_window(duration, self.window_seconds, generator)
        chunk = (end - start) / self.num_views
        offsets = uniform(0.0, chunk, self.num_views, generator)
        return SampledTimes(start, end, tuple(start + k * chunk + offsets[k] for k in range(self.num_views)))

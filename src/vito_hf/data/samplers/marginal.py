"""The paper's temporal sampler."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .base import SampledTimes, TemporalSampler, check_duration, check_window, random_window, uniform


@dataclass(frozen=True)
class MarginalSampler(TemporalSampler, name="marginal"):
    """The paper: uniform in a random window.

    A random window, then each view time uniform and independent in it. Defaults: a 2.56 s window (64 frames
    at 25 fps) and 3 views; the median gap between two views is then about 0.76 s. Views may coincide in
    time; their augmentations still differ.
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
        return SampledTimes(start, end, tuple(uniform(start, end, self.num_views, generator)))

"""An ablation of the paper: views a fixed delay apart."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .base import SampledTimes, TemporalSampler, check_duration, uniform


@dataclass(frozen=True)
class FixedDelaySampler(TemporalSampler, name="delta"):
    """Ablation: views --delay_seconds apart.

    Views at ``t0, t0 + d, t0 + 2d, ...`` from a random ``t0``. On a clip too short for
    ``(num_views - 1) * delay_seconds`` the delay shrinks so all views fit.
    """

    delay_seconds: float = field(default=0.5, metadata={"help": "Gap between views."})
    num_views: int = 3

    def __post_init__(self) -> None:
        if self.delay_seconds < 0:
            raise ValueError(f"delay_seconds must be >= 0, got {self.delay_seconds}.")
        check_duration(1.0, self.num_views)

    def __call__(self, duration: float, generator: torch.Generator | None = None) -> SampledTimes:
        check_duration(duration, self.num_views)
        steps = self.num_views - 1
        delay = min(self.delay_seconds, duration / (steps + 1)) if steps else 0.0
        span = steps * delay
        start = uniform(0.0, duration - span, 1, generator)[0]
        times = tuple(start + k * delay for k in range(self.num_views))
        return SampledTimes(start, start + span, times)

"""Temporal samplers: which times (seconds) of a clip become the views of one training example.

Samplers work in seconds, not frame indices, so variable-frame-rate clips and clips stored at any rate sample
the same way; `vito_hf.data.decoding.decode_frames_at` turns the times into frames. Randomness comes from an
explicit `torch.Generator` or torch's global RNG, so DataLoader worker seeding and Trainer's RNG checkpoints
make sampling reproducible. A clip of `duration` seconds holds frames at times in `[0, duration)`; a window
longer than the clip shrinks to the whole clip.

A new sampler is one module in this folder holding one `TemporalSampler` subclass (see its docstring): every
module here is imported with the package, so `--temporal_sampler <name>` and the sampler's parameters as
flags reach it with no other file edited.
"""

import importlib
import pkgutil

from .base import (
    SampledTimes,
    SamplerParameter,
    TemporalSampler,
    build_sampler,
    describe_samplers,
    sampler_class,
    sampler_names,
    sampler_parameters,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

from .chunk import ChunkSampler  # noqa: E402
from .fixed_delay import FixedDelaySampler  # noqa: E402
from .marginal import MarginalSampler  # noqa: E402

__all__ = [
    "ChunkSampler",
    "FixedDelaySampler",
    "MarginalSampler",
    "SampledTimes",
    "SamplerParameter",
    "TemporalSampler",
    "build_sampler",
    "describe_samplers",
    "sampler_class",
    "sampler_names",
    "sampler_parameters",
]

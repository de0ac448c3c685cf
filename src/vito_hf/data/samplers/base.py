"""What every temporal sampler shares: the drawn times, the base class that registers a sampler by name, the
registry's readers, and the helpers the built-in samplers draw with."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

_REGISTRY: dict[str, type[TemporalSampler]] = {}


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


class TemporalSampler:
    """Base of the temporal samplers: `class MySampler(TemporalSampler, name="mine")`, a frozen dataclass.

    The `name` is the `--temporal_sampler` value. The dataclass fields are the sampler's parameters; each is
    filled from the data argument of the same name, and a field that `DataArguments` does not declare
    (`num_views` it does) becomes one of its fields and a flag of the pretraining script, with the field's
    default and `metadata["help"]`. Samplers that share a parameter share its flag, so they must agree on its
    type and default. The first line of the class docstring is the sampler's entry in `--help`.
    """

    name: ClassVar[str]
    num_views: int

    def __init_subclass__(cls, *, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is None:
            return
        known = _REGISTRY.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise ValueError(
                f"temporal sampler name {name!r} is taken by {known.__module__}.{known.__qualname__}; "
                f"give {cls.__module__}.{cls.__qualname__} another name"
            )
        cls.name = name
        _REGISTRY[name] = cls

    def __call__(self, duration: float, generator: torch.Generator | None = None) -> SampledTimes:
        """View times in a clip of `duration` seconds, drawn with `generator` (torch's global RNG when None)."""
        raise NotImplementedError


@dataclass(frozen=True)
class SamplerParameter:
    """One parameter of the registered samplers, as `DataArguments` declares it."""

    name: str
    type: Any
    default: Any
    help: str
    samplers: tuple[str, ...]


def sampler_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def sampler_class(name: str) -> type[TemporalSampler]:
    if name not in _REGISTRY:
        raise ValueError(f"`temporal_sampler` must be one of {sampler_names()}, got {name!r}.")
    return _REGISTRY[name]


def describe_samplers() -> str:
    """`name (first docstring line)` of every sampler, for the `--temporal_sampler` help."""
    return "; ".join(f"{name} ({(cls.__doc__ or '').strip().splitlines()[0].rstrip('.')})" for name, cls in _REGISTRY.items())


def sampler_parameters(declared: Collection[str] = ()) -> dict[str, SamplerParameter]:
    """The parameters of all registered samplers but those named in `declared` (the data arguments' own
    fields), merged by name; a shared name with another type or default raises `TypeError`."""
    merged: dict[str, SamplerParameter] = {}
    for sampler, cls in _REGISTRY.items():
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"temporal sampler {sampler!r} ({cls.__qualname__}) must be a dataclass")
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            if item.name in declared:
                continue
            if item.default is dataclasses.MISSING:
                raise TypeError(f"parameter `{item.name}` of temporal sampler {sampler!r} needs a default")
            help_text = item.metadata.get("help", "")
            known = merged.get(item.name)
            if known is None:
                merged[item.name] = SamplerParameter(item.name, hints[item.name], item.default, help_text, (sampler,))
                continue
            if (known.type, known.default) != (hints[item.name], item.default):
                raise TypeError(
                    f"temporal samplers {known.samplers[0]!r} and {sampler!r} both have a parameter "
                    f"`{item.name}` but with another type or default ({known.type}, {known.default!r} vs "
                    f"{hints[item.name]}, {item.default!r}); one flag has one default: rename one of them"
                )
            merged[item.name] = dataclasses.replace(
                known, help=known.help or help_text, samplers=(*known.samplers, sampler)
            )
    return merged


def build_sampler(name: str, values: object) -> TemporalSampler:
    """The sampler called `name`, each parameter taken from the attribute of that name of `values`
    (the data arguments)."""
    cls = sampler_class(name)
    return cls(**{item.name: getattr(values, item.name) for item in dataclasses.fields(cls)})


def uniform(low: float, high: float, size: int, generator: torch.Generator | None) -> list[float]:
    draws = torch.rand(size, generator=generator, dtype=torch.float64)
    return (low + (high - low) * draws).tolist()


def check_duration(duration: float, num_views: int) -> None:
    if not duration > 0:
        raise ValueError(f"clip duration must be positive seconds, got {duration}; probe the clip or drop it.")
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}.")


def check_window(window_seconds: float, num_views: int) -> None:
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}.")
    check_duration(1.0, num_views)


def random_window(duration: float, window_seconds: float, generator: torch.Generator | None) -> tuple[float, float]:
    length = min(window_seconds, duration)
    start = uniform(0.0, duration - length, 1, generator)[0] if duration > length else 0.0
    return start, start + length

"""Temporal samplers: bounds, determinism, short clips, and the marginal gap distribution."""

from __future__ import annotations

import statistics

import pytest
import torch

from vito_hf.data.samplers import ChunkSampler, FixedDelaySampler, MarginalSampler

SAMPLERS = [MarginalSampler(), FixedDelaySampler(delay_seconds=0.5), ChunkSampler()]


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("duration", [10.0, 2.56, 1.0, 0.2])
def test_times_stay_inside_the_clip_and_the_window(sampler, duration):
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        sample = sampler(duration, generator)
        assert len(sample.times) == sampler.num_views
        assert 0.0 <= sample.window_start <= sample.window_end <= duration
        assert all(sample.window_start <= t <= sample.window_end for t in sample.times)
        assert all(0.0 <= t < duration for t in sample.times)


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: type(s).__name__)
def test_deterministic_given_a_generator_and_varies_without_reseeding(sampler):
    first = [sampler(10.0, torch.Generator().manual_seed(7)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    generator = torch.Generator().manual_seed(7)
    draws = {sampler(10.0, generator).times for _ in range(20)}
    assert len(draws) == 20


def test_global_rng_is_used_without_a_generator():
    torch.manual_seed(3)
    a = MarginalSampler()(10.0)
    torch.manual_seed(3)
    assert MarginalSampler()(10.0) == a


def test_marginal_window_length_and_median_gap():
    sampler = MarginalSampler(window_seconds=2.56, num_views=3)
    generator = torch.Generator().manual_seed(0)
    samples = [sampler(10.0, generator) for _ in range(3000)]
    assert all(s.window_end - s.window_start == pytest.approx(2.56) for s in samples)
    gaps = [g for s in samples for g in s.gaps]
    # |U1 - U2| on a window of length L has median L * (1 - 1/sqrt(2)) = 0.75 s for 2.56 s.
    assert statistics.median(gaps) == pytest.approx(2.56 * (1 - 2**-0.5), abs=0.05)
    assert max(gaps) <= 2.56
    starts = [s.window_start for s in samples]
    assert min(starts) < 0.3 and max(starts) > 7.1  # window start spans [0, 10 - 2.56]


def test_short_clip_uses_the_whole_clip():
    sample = MarginalSampler(window_seconds=2.56)(1.5, torch.Generator().manual_seed(0))
    assert (sample.window_start, sample.window_end) == (0.0, 1.5)


def test_fixed_delay_spacing_and_shrinking():
    sample = FixedDelaySampler(delay_seconds=0.5, num_views=3)(10.0, torch.Generator().manual_seed(1))
    assert sample.times[1] - sample.times[0] == pytest.approx(0.5)
    assert sample.times[2] - sample.times[1] == pytest.approx(0.5)
    short = FixedDelaySampler(delay_seconds=0.5, num_views=3)(0.6, torch.Generator().manual_seed(1))
    assert short.times[1] - short.times[0] == pytest.approx(0.2) and short.times[-1] < 0.6


def test_chunk_sampler_puts_one_view_in_each_chunk():
    sampler = ChunkSampler(window_seconds=3.0, num_views=3)
    generator = torch.Generator().manual_seed(2)
    for _ in range(200):
        sample = sampler(10.0, generator)
        for k, t in enumerate(sample.times):
            assert sample.window_start + k <= t <= sample.window_start + k + 1


def test_invalid_arguments():
    with pytest.raises(ValueError):
        MarginalSampler(window_seconds=0)
    with pytest.raises(ValueError):
        ChunkSampler(num_views=0)
    with pytest.raises(ValueError):
        FixedDelaySampler(delay_seconds=-1)
    with pytest.raises(ValueError, match="duration"):
        MarginalSampler()(0.0)

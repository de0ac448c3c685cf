"""One source per data parameter: num_views, the window and the image size, each changed in DataArguments
alone, reach the sampler, the collator and the model input of a real VitoTrainer step."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from training_helpers import cpu_args, tiny_model, write_real_clips

from vito_hf.data import (
    ChunkSampler,
    DataArguments,
    FixedDelaySampler,
    MarginalSampler,
    build_pretraining_data,
    temporal_sampler,
)
from vito_hf.training import VitoTrainer
from vito_hf.training.pretraining import save_encoder

BASE = DataArguments(image_size=32, num_views=3, window_seconds=1.0, device_augmentation=False)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return write_real_clips(tmp_path_factory.mktemp("pretraining_data") / "clips")


def model_input_of_one_step(data_args: DataArguments, clips: Path, output_dir: Path):
    """What reached each stage: the sampler, a collated batch, and the pixel values the model was called with."""
    data = build_pretraining_data(replace(data_args, cache_dir=str(output_dir / "cache")), seed=0, data_dir=clips)
    sampler = data.train_dataset.dataset.transform.sampler
    batch = data.data_collator([data.train_dataset[i] for i in range(2)])
    model = tiny_model()
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["pixel_values"].shape), with_kwargs=True)
    trainer = VitoTrainer(
        model=model, args=cpu_args(output_dir, max_steps=1, per_device_train_batch_size=2),
        device_augmentation=data.device_augmentation, **data.trainer_kwargs(),
    )
    trainer.train()
    return sampler, batch["pixel_values"].shape, seen[0]


@pytest.mark.parametrize(
    "change", [{"num_views": 2}, {"image_size": 24}, {"window_seconds": 0.4}], ids=lambda c: next(iter(c))
)
def test_each_data_parameter_has_one_source(change, clips, tmp_path):
    data_args = replace(BASE, **change)
    sampler, collated, model_input = model_input_of_one_step(data_args, clips, tmp_path)
    views, size = data_args.num_views, data_args.image_size
    assert (sampler.num_views, sampler.window_seconds) == (views, data_args.window_seconds)
    assert collated == (2, views, 3, size, size)
    assert model_input == (2, views, 3, size, size)
    spans = [max(s.times) - min(s.times) for s in (sampler(2.0, torch.Generator().manual_seed(k)) for k in range(50))]
    assert max(spans) <= data_args.window_seconds + 1e-9
    assert max(spans) > 0.5 * data_args.window_seconds  # the window, not a smaller default, bounds the views


def test_the_ablation_samplers_are_chosen_by_the_data_arguments():
    assert isinstance(temporal_sampler(BASE), MarginalSampler)
    chunk = temporal_sampler(replace(BASE, temporal_sampler="chunk", num_views=4))
    assert isinstance(chunk, ChunkSampler) and (chunk.window_seconds, chunk.num_views) == (1.0, 4)
    delta = temporal_sampler(replace(BASE, temporal_sampler="delta", delay_seconds=0.3))
    assert isinstance(delta, FixedDelaySampler) and (delta.delay_seconds, delta.num_views) == (0.3, 3)
    times = delta(5.0, torch.Generator().manual_seed(0)).times
    assert [b - a for a, b in zip(times, times[1:])] == pytest.approx([0.3, 0.3])
    with pytest.raises(ValueError, match="temporal_sampler"):
        DataArguments(temporal_sampler="random")


def test_the_saved_encoder_states_the_trained_image_size(tmp_path):
    folder = save_encoder(tiny_model(), tmp_path / "encoder", image_size=24)
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["crop_size"] == {"height": 24, "width": 24}


def test_device_augmentation_finishes_uint8_batches_reproducibly(clips, tmp_path):
    """On the accelerator path the collator leaves the batch uint8; VitoTrainer augments it with the batch's seed."""
    data_args = replace(BASE, device_augmentation=True, cache_dir=str(tmp_path / "cache"))
    data = build_pretraining_data(data_args, seed=0, data_dir=clips)
    examples = [data.train_dataset[i] for i in range(2)]
    batch = data.data_collator(examples)
    assert batch["pixel_values"].dtype == torch.uint8
    first = data.device_augmentation(batch["pixel_values"], batch["augmentation_seed"])
    again = data.device_augmentation(batch["pixel_values"], data.data_collator(examples)["augmentation_seed"])
    assert first.dtype == torch.float32 and torch.equal(first, again)
    assert not torch.equal(first, data.device_augmentation(batch["pixel_values"], batch["augmentation_seed"] + 1))
    losses = []
    for run in range(2):
        trainer = VitoTrainer(
            model=tiny_model(), args=cpu_args(tmp_path / f"run{run}", max_steps=2, per_device_train_batch_size=2),
            device_augmentation=data.device_augmentation, **data.trainer_kwargs(),
        )
        trainer.train()
        losses.append([entry["loss"] for entry in trainer.state.log_history if "loss" in entry])
    assert losses[0] == losses[1] and len(losses[0]) == 2

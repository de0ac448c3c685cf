"""The one way to build pretraining data: data arguments and a seed in, what `Trainer` needs out.

`build_pretraining_data(data_args, seed)` reads the clips (`build_clip_dataset`), draws views with the
sampler and augmentation of `data_args`, seeds every example by (seed, epoch, index) (or by clip for
streams) and returns a `PretrainingData`: the dataset, the collator, the callback that tells the
seeding which epoch it is, and the device augmentation when the batch is finished on the accelerator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import datasets
import torch
from transformers import TrainerCallback

from ..clip_store import is_shard_store
from .arguments import DataArguments
from .augmentation import byol_view_augmentations
from .builder import build_clip_dataset, check_shard_split
from .collation import DeviceViewAugmentation, VitoPretrainingCollator
from .samplers import TemporalSampler, build_sampler
from .store_location import is_url, locate_store
from .seeding import EpochSeedingCallback, PerExampleSeededDataset, PerExampleSeededStream, SeededBatchCollator
from .transforms import VitoViewTransform
from .view_datasets import ResamplingViewDataset


@dataclass
class PretrainingData:
    """What a pretraining `Trainer` is given: `Trainer(..., **data.trainer_kwargs())`, and for `VitoTrainer`
    also `device_augmentation=data.device_augmentation`."""

    train_dataset: Any
    data_collator: Any
    callbacks: list[TrainerCallback] = field(default_factory=list)
    device_augmentation: DeviceViewAugmentation | None = None

    def trainer_kwargs(self) -> dict[str, Any]:
        return {"train_dataset": self.train_dataset, "data_collator": self.data_collator, "callbacks": list(self.callbacks)}


def temporal_sampler(data_args: DataArguments) -> TemporalSampler:
    """The sampler `data_args.temporal_sampler` names, its parameters (the view count among them) from `data_args`."""
    return build_sampler(data_args.temporal_sampler, data_args)


def uses_device_augmentation(data_args: DataArguments) -> bool:
    if data_args.photometric_in_worker:
        return False
    return torch.cuda.is_available() if data_args.device_augmentation is None else data_args.device_augmentation


def seeded_pretraining_data(
    seeding: PerExampleSeededDataset | PerExampleSeededStream,
    train_dataset: Any,
    collate_fn: Any,
    device_augmentation: DeviceViewAugmentation | None = None,
) -> PretrainingData:
    """Per-example-seeded data (`seeding` is the dataset itself, or the stream's transform) with its collator
    seeded per batch and the callback that moves the seeding's epoch."""
    return PretrainingData(
        train_dataset=train_dataset,
        data_collator=SeededBatchCollator(collate_fn),
        callbacks=[EpochSeedingCallback(seeding)],
        device_augmentation=device_augmentation,
    )


def build_pretraining_data(
    data_args: DataArguments,
    seed: int,
    data_dir: str | os.PathLike | None = None,
    *,
    world_size: int = 1,
    num_workers: int = 0,
) -> PretrainingData:
    """Views of the clips in `data_dir` (default `data_args.data_dir`), drawn as `data_args` says, seeded by `seed`.

    Map-style: bad clips are replaced by other clips, each example is seeded by (seed, epoch, index) and the
    list is repeated `repeat_clips` times per epoch. Streaming: a shuffled `datasets.IterableDataset` that
    Accelerate shards by process, each example seeded by (seed, epoch, clip); bad clips are dropped. A shard
    store (WebDataset tars) is always streamed; `world_size` processes x `num_workers` DataLoader workers must
    not outnumber its tars (`check_shard_split`). `data_dir` may name a Hub dataset (`vito_hf.data.store_location`).
    """
    data_dir = data_dir if data_dir is not None else data_args.data_dir
    if data_dir is None:
        raise ValueError("No clips: set `data_dir` (a curated clip folder or a folder of videos).")
    augmentations = byol_view_augmentations(data_args.num_views, crop_scale=(data_args.crop_scale_min, 1.0))
    transform = VitoViewTransform(
        image_size=data_args.image_size,
        sampler=temporal_sampler(data_args),
        augmentations=augmentations,
        photometric_in_worker=data_args.photometric_in_worker,
    )
    on_device = uses_device_augmentation(data_args)
    collator = VitoPretrainingCollator(augmentations, apply_photometric=not on_device, normalize=not on_device)
    device_augmentation = DeviceViewAugmentation(augmentations) if on_device else None
    store = locate_store(data_dir)
    sharded = is_url(store) or is_shard_store(store)
    rows = build_clip_dataset(data_dir, streaming=data_args.streaming or sharded, cache_dir=data_args.cache_dir)
    if sharded:
        check_shard_split(rows.num_shards, world_size, num_workers)
    if isinstance(rows, datasets.IterableDataset):
        seeding = PerExampleSeededStream(transform, seed=seed)
        views = rows.shuffle(seed=seed, buffer_size=256).map(seeding)
        views = views.filter(lambda example: example["pixel_values"] is not None)
        return seeded_pretraining_data(seeding, views, collator, device_augmentation)
    dataset = PerExampleSeededDataset(ResamplingViewDataset(rows, transform), seed=seed, repeats=data_args.repeat_clips)
    return seeded_pretraining_data(dataset, dataset, collator, device_augmentation)

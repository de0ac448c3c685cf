"""Views that are a pure function of (seed, epoch, example index) and of the batch they are collated in.

The augmentation draws its randomness from torch's global RNG. Under `Trainer` that stream depends on
things a resumed run cannot replay: Accelerate's loader fetches one batch ahead (so the RNG state saved in
a checkpoint has already served the next batch), DataLoader workers are re-seeded whenever an iterator is
created, and a different number of workers or processes interleaves the draws differently. Seeding the
RNG per example removes all of that: the same example in the same epoch gets the same views whether the
run was resumed, how many workers decode, or how many processes share the batch. Randomness drawn while
collating (the batched photometric augmentation of `VitoPretrainingCollator`) is seeded from the seeds of the
batch's examples, so it too replays exactly on resume (for a fixed batch layout).

Streams have no stable index, but within one pass each clip comes once: `PerExampleSeededStream` seeds
each example by (seed, epoch, the clip's file name) instead, whatever the worker, process or shuffle buffer.
`EpochSeedingCallback` tells either which epoch it is, through Trainer's callback events.
"""

import hashlib
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import TrainerCallback


SEED_KEY = "example_seed"
AUGMENTATION_SEED_KEY = "augmentation_seed"


_MASK64 = (1 << 64) - 1


def mixed_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from integers: a SplitMix64 finaliser chained over the values (as fast in
    Python as a seed can be made, since it runs for every example of every batch)."""
    state = 0x9E3779B97F4A7C15
    for value in values:
        state = (state ^ (value & _MASK64)) + 0x9E3779B97F4A7C15 & _MASK64
        state = (state ^ (state >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
        state = (state ^ (state >> 27)) * 0x94D049BB133111EB & _MASK64
        state ^= state >> 31
    return state >> 1


def example_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of item `index` in epoch `epoch` of a run seeded with `seed`."""
    return mixed_seed(seed, epoch, index)


@contextmanager
def seeded_cpu_rng(seed: int):
    """Run the block with torch's CPU RNG seeded by `seed`, then restore the caller's RNG state.

    Only the CPU generator is touched: `torch.manual_seed` would also queue seeds for CUDA/XPU/MTIA,
    recording a Python traceback each time (about 1 ms per call), for generators the augmentations never
    use; and `torch.random.fork_rng` costs twice what saving one state does.
    """
    generator = torch.default_generator
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(state)


class _SharedEpoch:
    """The epoch, in shared memory: DataLoader workers (persistent or not) see `set_epoch` calls made in
    the main process."""

    def __init__(self):
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch)


class PerExampleSeededDataset(_SharedEpoch, Dataset):
    """Map-style view of `dataset`, `repeats` times over, each item fetched under its own seeded RNG.

    Item `i` is `dataset[i % len(dataset)]` fetched with the CPU RNG forked and seeded by
    `(seed, epoch, i)`; the caller's RNG is untouched. Dict items carry that seed under `"example_seed"`
    for `SeededBatchCollator`.
    """

    def __init__(self, dataset: Dataset, seed: int, repeats: int = 1):
        if repeats < 1:
            raise ValueError(f"`repeats` must be at least 1, got {repeats}.")
        if len(dataset) == 0:
            raise ValueError("The training dataset is empty: check the clip folder (no clip passed curation?).")
        super().__init__()
        self.dataset = dataset
        self.seed = seed
        self.repeats = repeats

    def __len__(self) -> int:
        return len(self.dataset) * self.repeats

    def __getitem__(self, index: int):
        seed = example_seed(self.seed, self.epoch, index)
        with seeded_cpu_rng(seed):
            item = self.dataset[index % len(self.dataset)]
        return {**item, SEED_KEY: seed} if isinstance(item, dict) else item


class SeededBatchCollator:
    """Runs `collate_fn` under an RNG seeded from the batch's example seeds (then drops them). A batch left
    uint8 for the augmentation on the accelerator gets a seed for it, under `"augmentation_seed"`.

    Batches without example seeds (e.g. evaluation) are collated as they are.
    """

    def __init__(self, collate_fn: Callable[[Sequence[Any]], Any]):
        self.collate_fn = collate_fn

    def __call__(self, examples: Sequence[Any]) -> Any:
        if not examples or not isinstance(examples[0], dict) or SEED_KEY not in examples[0]:
            return self.collate_fn(examples)
        seeds = [example[SEED_KEY] for example in examples]
        stripped = [{key: value for key, value in example.items() if key != SEED_KEY} for example in examples]
        batch_seed = mixed_seed(*seeds)
        with seeded_cpu_rng(batch_seed):
            batch = self.collate_fn(stripped)
        pixel_values = batch.get("pixel_values") if isinstance(batch, dict) else None
        if isinstance(pixel_values, torch.Tensor) and pixel_values.dtype == torch.uint8:
            batch[AUGMENTATION_SEED_KEY] = mixed_seed(batch_seed, 1)  # for the augmentation on the accelerator
        return batch


class PerExampleSeededStream(_SharedEpoch):
    """The view transform of a stream (a function for `datasets.IterableDataset.map`), each clip's views
    drawn under the CPU RNG seeded by (seed, epoch, the clip's `key_column`), the seed kept under
    `"example_seed"` for `SeededBatchCollator`.

    `EpochSeedingCallback` sets the epoch before each epoch's iterator is created.
    """

    def __init__(self, transform: Callable[[dict], dict], seed: int, key_column: str = "file_name"):
        super().__init__()
        self.transform = transform
        self.seed = seed
        self.key_column = key_column

    def __call__(self, row: dict) -> dict:
        key = hashlib.blake2b(str(row[self.key_column]).encode(), digest_size=8).digest()
        seed = mixed_seed(self.seed, self.epoch, int.from_bytes(key, "little"))
        with seeded_cpu_rng(seed):
            out = self.transform(row)
        return {**out, SEED_KEY: seed}


class EpochSeedingCallback(TrainerCallback):
    """Tells a per-example seeding which epoch starts, before Trainer creates that epoch's iterator.

    Trainer calls `on_epoch_begin` right before each epoch's pass. The first epoch of a run is the number
    of epochs the resumed state has finished (`int(state.epoch)`: Trainer's own count for map-style data,
    and for streams the pass `VitoTrainer` resumes in); each `on_epoch_end` moves to the next.
    """

    def __init__(self, seeding: PerExampleSeededDataset | PerExampleSeededStream):
        self.seeding = seeding
        self.epoch = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.epoch = int(state.epoch or 0)

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.seeding.set_epoch(self.epoch)

    def on_epoch_end(self, args, state, control, **kwargs):
        self.epoch += 1

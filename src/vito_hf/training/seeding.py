"""Views that are a pure function of (seed, epoch, example index).

The augmentation draws its randomness from torch's global RNG. Under `Trainer` that stream depends on
things a resumed run cannot replay: Accelerate's loader fetches one batch ahead (so the RNG state saved in
a checkpoint has already served the next batch), DataLoader workers are re-seeded whenever an iterator is
created, and a different number of workers or processes interleaves the draws differently. Seeding the
RNG per example removes all of that: the same example in the same epoch gets the same views whether the
run was resumed, how many workers decode, or how many processes share the batch.
"""

import numpy as np
import torch
from torch.utils.data import Dataset


def example_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 63-bit seed from the three integers (NumPy's SeedSequence hashing)."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class PerExampleSeededDataset(Dataset):
    """Map-style view of `dataset`, `repeats` times over, each item fetched under its own seeded RNG.

    Item `i` is `dataset[i % len(dataset)]` fetched with the CPU RNG forked and seeded by
    `(seed, epoch, i)`; the caller's RNG is untouched. The epoch lives in shared memory, so DataLoader
    workers (persistent or not) see `set_epoch` calls made in the main process.
    """

    def __init__(self, dataset: Dataset, seed: int, repeats: int = 1):
        if repeats < 1:
            raise ValueError(f"`repeats` must be at least 1, got {repeats}.")
        if len(dataset) == 0:
            raise ValueError("The training dataset is empty: check the clip folder (no clip passed curation?).")
        self.dataset = dataset
        self.seed = seed
        self.repeats = repeats
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.dataset) * self.repeats

    def __getitem__(self, index: int):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(example_seed(self.seed, int(self._epoch), index))
            return self.dataset[index % len(self.dataset)]

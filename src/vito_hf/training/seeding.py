"""Deprecated: data determinism moved to `vito_hf.data.seeding` in 0.2; this alias goes in the next release."""

import warnings

warnings.warn(
    "vito_hf.training.seeding moved to vito_hf.data.seeding; the old path will be removed in the next release",
    DeprecationWarning,
    stacklevel=2,
)

from ..data.seeding import (  # noqa: E402,F401
    EpochSeedingCallback,
    PerExampleSeededDataset,
    PerExampleSeededStream,
    SeededBatchCollator,
    example_seed,
    mixed_seed,
    seeded_cpu_rng,
)

"""Shared fixtures: tiny VITO configs so the suite runs on 2 CPU cores."""

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from vito_hf import VitoConfig, load_preset

# examples/ (the sample footage, the demo) and tests/helpers/ (the modules tests share) are on pytest's path through
# pyproject's `pythonpath`; test files that run themselves in subprocesses need them there too.
TESTS = Path(__file__).resolve().parent
SHARED_PATHS = [str(TESTS.parent / "examples"), str(TESTS / "helpers")]
os.environ["PYTHONPATH"] = os.pathsep.join([*SHARED_PATHS, *filter(None, [os.environ.get("PYTHONPATH")])])


@pytest.fixture(autouse=True)
def seeded_rngs():
    """Every test starts from the same global RNG state, so a test passes or fails the same way every run."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def tiny_config() -> VitoConfig:
    return load_preset("tiny")


@pytest.fixture
def views() -> torch.Tensor:
    """A fixed batch of 4 clips x 3 views of 64x64 normalised images."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(4, 3, 3, 64, 64, generator=generator)

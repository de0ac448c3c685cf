"""Named optimisation recipes (`--recipe`): today the paper's, batch 4,096 for 300 ImageNet epochs.

The paper trains with LARS at batch 4,096, learning rate 0.3 x batch / 256 with 10 warm-up epochs and cosine
decay, for the equivalent of 300 ImageNet epochs (an epoch is 1.28 M examples: 93,750 steps at 4,096). A launch
reaches 4,096 as processes x per-device batch x gradient-accumulation steps; `plan_recipe` checks that product
and turns the epochs into steps. Under accumulation each micro-batch is its own contrastive problem: its
negatives are the clips of that micro-batch on all processes, not the whole 4,096.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .schedules import scaled_learning_rate

IMAGENET_EPOCH_EXAMPLES = 1_280_000
"""The paper counts training in ImageNet epochs of 1.28 M examples."""


@dataclass(frozen=True)
class Recipe:
    name: str
    global_batch_size: int
    base_learning_rate: float
    optimizer_name: str
    warmup_epochs: float
    epochs: float
    weight_decay: float


RECIPES = {"paper": Recipe("paper", 4096, 0.3, "lars", 10, 300, 1e-6)}
PAPER_BASE_LEARNING_RATE = RECIPES["paper"].base_learning_rate


def steps_for_epochs(epochs: float, global_batch_size: int) -> int:
    """Optimizer steps that show `epochs` ImageNet epochs of examples at `global_batch_size` (rounded up)."""
    return math.ceil(IMAGENET_EPOCH_EXAMPLES * epochs / global_batch_size)


@dataclass(frozen=True)
class RecipePlan:
    """What a recipe means for one launch."""

    recipe: Recipe
    processes: int
    per_device_batch_size: int
    gradient_accumulation_steps: int
    learning_rate: float
    warmup_steps: int
    max_steps: int

    @property
    def global_batch_size(self) -> int:
        return self.processes * self.per_device_batch_size * self.gradient_accumulation_steps

    @property
    def negatives_batch_size(self) -> int:
        """Clips in one micro-batch over all processes: the batch each InfoNCE term draws negatives from."""
        return self.processes * self.per_device_batch_size

    def describe(self) -> str:
        r = self.recipe
        accumulation = (
            f"each of the {self.gradient_accumulation_steps} accumulated micro-batches draws its negatives from its "
            f"own {self.negatives_batch_size:,} clips only, not from all {self.global_batch_size:,}"
            if self.gradient_accumulation_steps > 1 else f"negatives from all {self.global_batch_size:,} clips"
        )
        return (
            f"recipe {r.name}: global batch {self.global_batch_size:,} = {self.processes} process(es) x "
            f"{self.per_device_batch_size} per device x {self.gradient_accumulation_steps} accumulation step(s); "
            f"{r.optimizer_name.upper()} at {r.base_learning_rate:g} x {self.global_batch_size:,}/256 = "
            f"{self.learning_rate:g}, weight decay {r.weight_decay:g}; warm-up {self.warmup_steps:,} steps "
            f"({r.warmup_epochs:g} ImageNet epochs), then cosine decay; {self.max_steps:,} steps = {r.epochs:g} "
            f"ImageNet epochs of {IMAGENET_EPOCH_EXAMPLES:,} examples; {accumulation}"
        )


def plan_recipe(name: str, processes: int, per_device_batch_size: int, gradient_accumulation_steps: int) -> RecipePlan:
    """The steps and learning rate of recipe `name` for this launch; `ValueError` when it misses the batch."""
    if name not in RECIPES:
        raise ValueError(f"Unknown --recipe {name!r}; known: {', '.join(RECIPES)}.")
    recipe = RECIPES[name]
    batch = processes * per_device_batch_size * gradient_accumulation_steps
    if batch != recipe.global_batch_size:
        per_process, remainder = divmod(recipe.global_batch_size, processes)
        per_device = min(128, per_process)
        hint = (
            f"with {processes} process(es) pass per-device batch x accumulation = {per_process} (e.g. "
            f"--per_device_train_batch_size {per_device} --gradient_accumulation_steps {per_process // per_device})"
            if remainder == 0 and per_process % per_device == 0
            else f"launch a number of processes that divides {recipe.global_batch_size}"
        )
        raise ValueError(
            f"--recipe {name} needs a global batch of {recipe.global_batch_size} = processes x "
            f"--per_device_train_batch_size x --gradient_accumulation_steps, but this launch gives {processes} x "
            f"{per_device_batch_size} x {gradient_accumulation_steps} = {batch}; {hint}, or launch with "
            "training_scripts/slurm_paper_recipe.sh."
        )
    return RecipePlan(
        recipe=recipe, processes=processes, per_device_batch_size=per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        learning_rate=scaled_learning_rate(recipe.base_learning_rate, batch),
        warmup_steps=steps_for_epochs(recipe.warmup_epochs, batch), max_steps=steps_for_epochs(recipe.epochs, batch),
    )

"""Argument dataclasses of a VITO pretraining run, for `transformers.HfArgumentParser`.

`ModelArguments` (which model), `DataArguments` (the data recipe; defined in `vito_hf.data`) and
`VitoTrainingArguments`, which keeps every `TrainingArguments` field, adds VITO's optimisation and EMA
options, and changes the defaults that a contrastive pretraining run needs (no label columns to keep,
the paper's schedule and weight decay, no gradient clipping, equal-size batches on every process).
"""

from dataclasses import dataclass, field

from transformers import TrainingArguments

from ..data.arguments import DataArguments
from .recipes import PAPER_BASE_LEARNING_RATE, RECIPES, RecipePlan, plan_recipe
from .schedules import EMA_SCHEDULES, scaled_learning_rate

OPTIMIZERS = ("lars", "adamw")

__all__ = ["DataArguments", "ModelArguments", "VitoTrainingArguments"]


@dataclass
class ModelArguments:
    """Which model to pretrain."""

    preset: str = field(
        default="tiny",
        metadata={"help": "Architecture preset (vito_hf/preset_configs/): resnet50 (the paper), swin-s, small, tiny."},
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Start from this VitoForPreTraining checkpoint folder instead of a random preset."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Comma-separated `key=value` overrides of the preset, e.g. `temperature=0.2`."},
    )


@dataclass
class VitoTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus VITO's optimisation options."""

    recipe: str | None = field(
        default=None,
        metadata={
            "help": "paper: the paper's recipe (vito_hf.training.recipes): LARS, global batch 4,096 = processes x "
            "per-device batch x accumulation (checked), lr 0.3 x 4096/256, 10 warm-up and 300 ImageNet epochs of "
            "1.28 M examples (93,750 steps).",
            "choices": list(RECIPES),
        },
    )
    learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "Peak learning rate. Default: with LARS, --base_learning_rate (default 0.3, the paper's) x "
            "global batch / 256; with AdamW, 5e-5."
        },
    )
    optimizer_name: str = field(
        default="lars",
        metadata={"help": "lars (the paper; large batches) or adamw (fused; small runs).", "choices": list(OPTIMIZERS)},
    )
    base_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "If set, learning_rate = base_learning_rate * global batch / 256 (paper: 0.3 with LARS, the "
            "default with LARS when --learning_rate is not given); the global batch counts every process and "
            "accumulation step."
        },
    )
    lars_momentum: float = field(default=0.9, metadata={"help": "LARS heavy-ball momentum."})
    lars_trust_coefficient: float = field(default=1e-3, metadata={"help": "LARS trust coefficient (eta)."})
    channels_last: bool = field(default=False, metadata={"help": "Keep conv weights and activations channels-last."})
    sync_batchnorm: bool = field(
        default=True, metadata={"help": "Under several processes, normalise with the statistics of the global batch."}
    )
    ema_momentum_base: float = field(
        default=0.996, metadata={"help": "EMA momentum of the target network at the first step (paper: 0.996)."}
    )
    ema_momentum_schedule: str = field(
        default="cosine",
        metadata={
            "help": "cosine raises the momentum from --ema_momentum_base to 1 over training; constant keeps it.",
            "choices": list(EMA_SCHEDULES),
        },
    )
    weight_decay: float = field(default=1e-6, metadata={"help": "Weight decay of weight matrices (paper: 1e-6)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Linear warm-up then cosine decay."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Gradient clipping (0: none, as in the paper)."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "The collator needs every column."})
    dataloader_drop_last: bool = field(
        default=True, metadata={"help": "Equal batches on every step: batch norm and the negatives need them."}
    )
    logging_nan_inf_filter: bool = field(
        default=False, metadata={"help": "Off: VitoTrainer stops on a non-finite loss instead of hiding it."}
    )

    def __post_init__(self):
        if self.optimizer_name not in OPTIMIZERS:
            raise ValueError(f"`optimizer_name` must be one of {OPTIMIZERS}, got {self.optimizer_name!r}.")
        if self.base_learning_rate is not None and self.base_learning_rate <= 0:
            raise ValueError(f"`base_learning_rate` must be positive, got {self.base_learning_rate}.")
        if self.lars_trust_coefficient <= 0:
            raise ValueError(f"`lars_trust_coefficient` must be positive, got {self.lars_trust_coefficient}.")
        if not 0.0 <= self.lars_momentum < 1.0:
            raise ValueError(f"`lars_momentum` must lie in [0, 1), got {self.lars_momentum}.")
        if not 0.0 <= self.ema_momentum_base <= 1.0:
            raise ValueError(f"`ema_momentum_base` must lie in [0, 1], got {self.ema_momentum_base}.")
        if self.ema_momentum_schedule not in EMA_SCHEDULES:
            raise ValueError(f"`ema_momentum_schedule` must be one of {EMA_SCHEDULES}, got {self.ema_momentum_schedule!r}.")
        if self.recipe is not None:
            self._check_recipe_fields()
        if self.base_learning_rate is None and self.learning_rate is None and self.optimizer_name == "lars":
            self.base_learning_rate = PAPER_BASE_LEARNING_RATE
        if self.learning_rate is None:
            self.learning_rate = 5e-5  # Trainer's default: replaced below when a base learning rate is set
        super().__post_init__()
        if self.recipe is not None:
            plan = self.recipe_plan()
            self.max_steps, self.warmup_steps = plan.max_steps, plan.warmup_steps
        if self.base_learning_rate is not None:
            global_batch = self.per_device_train_batch_size * self.world_size * self.gradient_accumulation_steps
            self.learning_rate = scaled_learning_rate(self.base_learning_rate, global_batch)
        if self.dataloader_pin_memory:
            # Batches come from pinned memory: copy them to the GPU without blocking the host.
            self.accelerator_config.non_blocking = True
        if self.accelerator_config.dispatch_batches is None:
            # Every process reads its own clips: map-style datasets through the distributed batch sampler,
            # streaming `datasets` through `shard` by node (what `split_dataset_by_node` does).
            self.accelerator_config.dispatch_batches = False

    def _check_recipe_fields(self) -> None:
        """A recipe sets the optimizer, learning rate and length; contradicting flags are refused, not ignored."""
        if self.recipe not in RECIPES:
            raise ValueError(f"`recipe` must be one of {tuple(RECIPES)}, got {self.recipe!r}.")
        recipe = RECIPES[self.recipe]
        conflicts = []
        if self.optimizer_name != recipe.optimizer_name:
            conflicts.append(f"--optimizer_name {self.optimizer_name} (the recipe uses {recipe.optimizer_name})")
        if self.base_learning_rate not in (None, recipe.base_learning_rate) or self.learning_rate is not None:
            conflicts.append(f"a learning rate (the recipe uses {recipe.base_learning_rate:g} x batch / 256)")
        if self.max_steps != -1:
            conflicts.append(f"--max_steps (the recipe trains {recipe.epochs:g} ImageNet epochs)")
        if self.warmup_steps:
            conflicts.append(f"--warmup_steps (the recipe warms up for {recipe.warmup_epochs:g} ImageNet epochs)")
        if conflicts:
            raise ValueError(f"--recipe {self.recipe} sets these itself; drop " + "; ".join(conflicts) + ".")
        self.base_learning_rate = recipe.base_learning_rate
        self.weight_decay = recipe.weight_decay

    def recipe_plan(self) -> RecipePlan | None:
        """The recipe's batch, steps and learning rate for this launch (None without `--recipe`); `ValueError` when
        processes x per-device batch x accumulation misses the recipe's global batch."""
        if self.recipe is None:
            return None
        return plan_recipe(self.recipe, self.world_size, self.per_device_train_batch_size, self.gradient_accumulation_steps)

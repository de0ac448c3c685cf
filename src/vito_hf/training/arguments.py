"""Argument dataclasses of a VITO pretraining run, for `transformers.HfArgumentParser`.

`ModelArguments` (which model), `DataArguments` (the data recipe; defined in `vito_hf.data`) and
`VitoTrainingArguments`, which keeps every `TrainingArguments` field, adds VITO's optimisation and EMA
options, and changes the defaults that a contrastive pretraining run needs (no label columns to keep,
the paper's schedule and weight decay, no gradient clipping, equal-size batches on every process).
"""

from dataclasses import dataclass, field

from transformers import TrainingArguments

from ..data.arguments import DataArguments
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

    optimizer_name: str = field(
        default="lars",
        metadata={"help": "lars (the paper; large batches) or adamw (fused; small runs).", "choices": list(OPTIMIZERS)},
    )
    base_learning_rate: float | None = field(
        default=None,
        metadata={
            "help": "If set, learning_rate = base_learning_rate * global batch / 256 (paper: 0.3 with LARS); "
            "the global batch counts every process and accumulation step."
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
        super().__post_init__()
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

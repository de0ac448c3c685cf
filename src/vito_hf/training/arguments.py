"""Argument dataclasses of a VITO pretraining run, for `transformers.HfArgumentParser`.

`VitoTrainingArguments` keeps every `TrainingArguments` field and changes the defaults that a
contrastive pretraining run needs (no label columns to keep, the paper's schedule and weight decay, no
gradient clipping, equal-size batches on every process).
"""

from dataclasses import dataclass, field

from transformers import TrainingArguments

OPTIMIZERS = ("lars", "adamw")


@dataclass
class ModelArguments:
    """Which model to pretrain."""

    preset: str = field(
        default="tiny",
        metadata={"help": "Architecture preset from modeling/presets: resnet50 (the paper), swin-s, small, tiny."},
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Start from this VitoForPreTraining checkpoint folder instead of a random preset."},
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "Comma-separated `key=value` overrides of the preset, e.g. `temperature=0.2,num_views=2`."},
    )


@dataclass
class DataArguments:
    """Where the clips come from and how views are drawn."""

    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "A curated clip folder (metadata.jsonl + clips/) or a plain folder of videos (required)."
        },
    )
    streaming: bool = field(default=False, metadata={"help": "Stream clips instead of building a map-style dataset."})
    cache_dir: str | None = field(default=None, metadata={"help": "Cache folder of the datasets builder."})
    window_seconds: float = field(
        default=2.56, metadata={"help": "Length of the window the views are drawn from (paper: 64 frames at 25 fps)."}
    )
    image_size: int | None = field(default=None, metadata={"help": "Side of the crops (default: the preset's)."})
    photometric_in_worker: bool = field(
        default=False,
        metadata={
            "help": "Colour/blur/solarize each example in the loader (views independent of how clips are split "
            "into batches and processes) instead of batched in the collator (several times faster on CPU)."
        },
    )
    repeat_clips: int = field(
        default=1,
        metadata={"help": "List each clip this many times per epoch (tiny collections: more views per epoch)."},
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
    per_example_seeding: bool = field(
        default=True,
        metadata={
            "help": "Draw each example's views from an RNG seeded by (seed, epoch, index), so a resumed run and "
            "any number of workers or processes see the very same views."
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
        super().__post_init__()

"""Pretraining VITO with `transformers.Trainer`: the trainer, its EMA callback, LARS, batch norm synchronised
over processes, schedules, argument dataclasses and the whole run as a function (`pretraining`).

The data (views, collator, per-example seeding) comes from `vito_hf.data.build_pretraining_data`."""

from .arguments import DataArguments, ModelArguments, VitoTrainingArguments
from .callbacks import EmaTargetCallback
from .checkpoints import last_complete_checkpoint
from .lars import LARS, build_optimizer
from .schedules import ema_momentum, scaled_learning_rate
from .sync_batchnorm import convert_sync_batchnorm
from .trainer import NonFiniteLossError, VitoTrainer

__all__ = [
    "LARS",
    "DataArguments",
    "EmaTargetCallback",
    "ModelArguments",
    "NonFiniteLossError",
    "VitoTrainer",
    "VitoTrainingArguments",
    "build_optimizer",
    "convert_sync_batchnorm",
    "ema_momentum",
    "last_complete_checkpoint",
    "scaled_learning_rate",
]

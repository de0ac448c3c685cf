"""Pretraining VITO with `transformers.Trainer`: the trainer, its EMA callback, LARS, batch norm synchronised
over processes, schedules and argument dataclasses."""

from .arguments import DataArguments, ModelArguments, VitoTrainingArguments
from .callbacks import EmaTargetCallback
from .checkpoints import last_complete_checkpoint
from .lars import LARS, build_optimizer
from .schedules import cosine_ema_momentum, scaled_learning_rate, warmup_cosine_schedule
from .seeding import PerExampleSeededDataset, PerExampleSeededStream
from .sync_batchnorm import convert_sync_batchnorm
from .trainer import NonFiniteLossError, VitoTrainer

__all__ = [
    "LARS",
    "DataArguments",
    "EmaTargetCallback",
    "ModelArguments",
    "NonFiniteLossError",
    "PerExampleSeededDataset",
    "PerExampleSeededStream",
    "VitoTrainer",
    "VitoTrainingArguments",
    "build_optimizer",
    "convert_sync_batchnorm",
    "cosine_ema_momentum",
    "last_complete_checkpoint",
    "scaled_learning_rate",
    "warmup_cosine_schedule",
]

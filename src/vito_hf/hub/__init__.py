"""Sharing VITO checkpoints and clip stores: model cards written from runs, and publishing to the Hub."""

from .cards import (
    ModelCardError,
    build_model_card,
    update_card_with_results,
    write_model_card,
    write_pretraining_card,
)

__all__ = [
    "ModelCardError",
    "build_model_card",
    "update_card_with_results",
    "write_model_card",
    "write_pretraining_card",
]

"""Loading the checkpoint an evaluation measures, and the randomly initialised twin it is compared with."""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import torch
from transformers import AutoImageProcessor, AutoModel, PreTrainedModel

from ..hub_access import is_hub_repo_id, read_from_cache_only
from .results import EvaluationError

logger = logging.getLogger(__name__)


def random_init_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A fresh instance of ``model``'s class from a copy of its config, initialised under ``seed``.

    The global RNG state is restored afterwards, so building the baseline does not shift any other randomness.
    """
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(
            f"{type(model).__name__} has no .config to rebuild it from: pass a transformers model such as VitoModel"
        )
    parameter = next(model.parameters(), None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(model)(copy.deepcopy(config))
    if parameter is not None:
        fresh = fresh.to(device=parameter.device, dtype=parameter.dtype)
    return fresh.eval()


def load_checkpoint(
    model_name_or_path: str | os.PathLike, *, random_init: bool = False, seed: int = 0
) -> tuple[PreTrainedModel, Any | None]:
    """``(model, image_processor)`` of a saved vision encoder (``AutoModel``); the processor is ``None`` when the
    folder has none. ``random_init`` keeps the architecture and the processor but re-initialises the weights
    under ``seed`` (the baseline a pretrained checkpoint must beat)."""
    try:  # a Hub repo id: downloaded, or read from the cache when the Hub does not answer (HubUnreachableError)
        cache_only = is_hub_repo_id(model_name_or_path) and read_from_cache_only(str(model_name_or_path))
        hub_kwargs = {"local_files_only": True} if cache_only else {}
        model = AutoModel.from_pretrained(model_name_or_path, **hub_kwargs)
    except OSError as error:
        raise EvaluationError(
            f"cannot load a model from {model_name_or_path} ({error}). Pass a folder written by save_pretrained "
            "(config.json + weights) or a Hub repo id"
        ) from error
    try:
        image_processor = AutoImageProcessor.from_pretrained(model_name_or_path, **hub_kwargs)
    except (OSError, ValueError) as error:
        logger.warning("No image processor in %s (%s): using ImageNet mean/std at 224 px", model_name_or_path, error)
        image_processor = None
    if random_init:
        model = random_init_like(model, seed)
    return model.eval(), image_processor

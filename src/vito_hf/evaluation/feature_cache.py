"""On-disk cache of frozen features, keyed by what determines them: model weights, data, preprocessing.

The key hashes the model's content (every tensor of its state dict, so a checkpoint folder, a fine-tuned copy and a
random initialisation all differ), the dataset's `datasets` fingerprint and the image processor's settings. A
second evaluation of the same checkpoint on the same data reads the features instead of running the model.
Files are written to a temporary name and renamed, so an interrupted run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import datasets
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..atomic_files import write_atomic
from .features import extract_features, feature_choice, resolve_processor

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$VITO_HF_FEATURE_CACHE``, else ``$XDG_CACHE_HOME/vito_hf/features`` (``~/.cache/vito_hf/features``)."""
    if "VITO_HF_FEATURE_CACHE" in os.environ:
        return Path(os.environ["VITO_HF_FEATURE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vito_hf" / "features"


def model_content_hash(model: torch.nn.Module) -> str:
    """SHA-256 of the model's class and of every state-dict tensor (name, dtype, shape, bytes)."""
    digest = hashlib.sha256(type(model).__name__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cached_features(
    model: torch.nn.Module,
    dataset: datasets.Dataset,
    *,
    image_column: str,
    image_processor: Any | None = None,
    image_size: int | None = None,
    batch_size: int = 256,
    cache_dir: str | os.PathLike | None = None,
    model_hash: str | None = None,
    progress: str | None = None,
) -> tuple[torch.Tensor, bool]:
    """``(features, hit)``: :func:`extract_features` of ``dataset[image_column]``, read from the cache when present.

    ``cache_dir=None`` uses :func:`default_cache_dir`. ``model_hash`` saves rehashing the weights for every split.
    """
    processor = resolve_processor(image_processor, image_size)
    key = {
        "format": CACHE_FORMAT,
        "model": model_hash or model_content_hash(model),
        "dataset": dataset._fingerprint,
        "image_column": image_column,
        "features": feature_choice(model),
        "preprocessing": json.loads(processor.to_json_string()),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / f"{digest}.safetensors"
    if path.is_file():
        try:
            features = load_file(path)["features"]
            if len(features) == len(dataset):
                return features, True
            logger.warning("Feature cache entry %s has the wrong length; recomputing it", path)
        except (SafetensorError, KeyError, OSError) as error:
            logger.warning("Feature cache entry %s is unreadable (%s); recomputing it", path, error)
    features = extract_features(
        model, dataset, image_processor=processor, batch_size=batch_size, image_column=image_column, progress=progress
    )
    metadata = {"key": json.dumps(key, default=str)}
    write_atomic(path, lambda temporary: save_file({"features": features.contiguous()}, temporary, metadata=metadata))
    return features, False

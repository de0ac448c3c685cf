"""One command for every evaluation: load a checkpoint, run the named suites, write ``results.json`` and pictures.

A suite is a registry entry, name -> ``"module:function"``, imported only when it runs, so suites live in their own
modules and a missing one fails with a clear message instead of breaking the others. Every suite function has the
signature ``run_<suite>_suite(model, image_processor, *, output_dir, quick=False, seed=0, **options) -> dict`` and
returns ``{"dataset", "settings", "results", "metrics", "pictures"}``. ``results.json`` is rewritten (under a
temporary name, then renamed) after each suite, so a crash in a later suite keeps the finished ones.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import AutoImageProcessor, AutoModel, PreTrainedModel

from ..hub_access import is_hub_repo_id, read_from_cache_only
from .feature_cache import model_content_hash
from .probe import random_init_like

logger = logging.getLogger(__name__)

RESULTS_FORMAT_VERSION = 1

SUITES: dict[str, str] = {
    "probe": "vito_hf.evaluation.probe:run_probe_suite",
    "finetune": "vito_hf.evaluation.finetune:run_finetune_suite",
    "propagation": "vito_hf.evaluation.propagation:run_propagation_suite",
    "corruptions": "vito_hf.evaluation.corruptions:run_corruptions_suite",
    "shape-bias": "vito_hf.evaluation.alignment:run_shape_bias_suite",
    "saliency": "vito_hf.evaluation.alignment:run_saliency_suite",
}
"""Suite name -> ``"module:function"`` of its suite function."""

SuiteFunction = Callable[..., dict]


class EvaluationError(RuntimeError):
    """The evaluation cannot start or a suite failed; the message says which and why."""


def suite_function(name: str, registry: Mapping[str, str] = SUITES) -> SuiteFunction:
    """Import the suite function registered under ``name``."""
    if name not in registry:
        raise EvaluationError(f"unknown suite {name!r}; known suites: {', '.join(registry)}")
    module_name, _, function_name = registry[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise EvaluationError(
            f"suite {name!r} lives in {module_name}, which cannot be imported ({error}): this vito_hf lacks it"
        ) from error
    function = getattr(module, function_name, None)
    if function is None:
        raise EvaluationError(f"suite {name!r}: {module_name} has no function {function_name}")
    return function


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


def run_evaluation(
    model_name_or_path: str | os.PathLike,
    suites: Sequence[str],
    output_dir: str | os.PathLike,
    *,
    quick: bool = False,
    seed: int = 0,
    random_init: bool = False,
    suite_options: Mapping[str, Mapping[str, Any]] | None = None,
    registry: Mapping[str, str] = SUITES,
) -> dict[str, Any]:
    """Run ``suites`` on the checkpoint and write ``output_dir/results.json``; returns what was written.

    ``suite_options`` maps a suite name to extra keyword arguments of its function. A failing suite is logged and
    recorded under ``settings["errors"]``; the others still run, then :class:`EvaluationError` is raised.
    """
    suites = list(dict.fromkeys(suites))
    if not suites:
        raise EvaluationError("no suites given: name at least one of " + ", ".join(registry))
    suite_options = dict(suite_options or {})
    unknown = [name for name in [*suites, *suite_options] if name not in registry]
    if unknown:
        raise EvaluationError(f"unknown suite(s) {unknown}; known suites: {', '.join(registry)}")
    functions = {name: suite_function(name, registry) for name in suites}
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model, image_processor = load_checkpoint(model_name_or_path, random_init=random_init, seed=seed)
    results: dict[str, Any] = {
        "format_version": RESULTS_FORMAT_VERSION,
        "model": {
            "name_or_path": str(model_name_or_path),
            "model_type": model.config.model_type,
            "content_hash": model_content_hash(model),
        },
        "settings": {
            "suites": suites, "quick": quick, "seed": seed, "random_init": random_init,
            "suite_options": {name: dict(options) for name, options in suite_options.items()},
            "image_processor": None if image_processor is None else json.loads(image_processor.to_json_string()),
            "errors": {},
        },
        "suites": {},
    }
    for name in tqdm(suites, desc="evaluation suites", unit="suite"):
        suite_dir = output_dir / name
        torch.manual_seed(seed)
        try:
            outcome = functions[name](
                model, image_processor, output_dir=suite_dir, quick=quick, seed=seed, **suite_options.get(name, {})
            )
        except Exception as error:  # one failing suite must not lose the others' numbers
            logger.error("Suite %s failed:\n%s", name, traceback.format_exc())
            results["settings"]["errors"][name] = f"{type(error).__name__}: {error}"
        else:
            outcome = dict(outcome)
            pictures = outcome.get("pictures", [])
            outcome["pictures"] = [_relative_picture(picture, suite_dir, output_dir) for picture in pictures]
            results["suites"][name] = outcome
        write_results(results, output_dir / "results.json")
    if results["settings"]["errors"]:
        raise EvaluationError(
            f"suite(s) failed: {results['settings']['errors']}; "
            f"the others' results are in {output_dir / 'results.json'}"
        )
    return results


def write_results(results: dict[str, Any], path: Path) -> None:
    """Write ``results`` as JSON under a temporary name, then rename it into place."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(results, indent=2, default=_to_json) + "\n")
    os.replace(temporary, path)


def _relative_picture(picture: str, suite_dir: Path, output_dir: Path) -> str:
    path = Path(picture)
    path = path if path.is_absolute() else suite_dir / path
    return path.resolve().relative_to(output_dir.resolve()).as_posix()


def _to_json(value: Any) -> Any:
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def parse_suite_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["probe.datasets=[\\"digits\\"]", "finetune.video_dir=clips/"]`` -> ``{suite: {key: value}}``.

    A value is read as JSON when it parses (numbers, lists, true/false), else kept as a string.
    """
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        target, equals, raw = item.partition("=")
        suite, dot, key = target.partition(".")
        if not equals or not dot or not suite or not key:
            raise EvaluationError(f"option {item!r} must look like SUITE.KEY=VALUE, e.g. probe.limit=500")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(suite, {})[key] = value
    return options

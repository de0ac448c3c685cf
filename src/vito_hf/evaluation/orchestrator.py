"""One command for every evaluation: load a checkpoint, run the named suites, write ``results.json`` and pictures.

The suites are the modules of :mod:`vito_hf.evaluation.suites`, found by name (:data:`SUITES`); each returns a
:class:`~vito_hf.evaluation.results.SuiteResult`. Options are checked against each suite's keywords before anything
runs. ``results.json`` is rewritten (under a temporary name, then renamed) after each suite, so a crash in a later
suite keeps the finished ones.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .checkpoints import load_checkpoint
from .feature_cache import model_content_hash
from .results import RESULTS_FORMAT_VERSION, EvaluationError, SuiteResult, write_results
from .suites import discover_suites

logger = logging.getLogger(__name__)

SUITES: dict[str, str] = discover_suites()
"""Suite name -> ``"module:function"`` of its suite function (one module per suite in ``suites/``)."""

RUN_ARGUMENTS = ("output_dir", "quick", "seed")
"""Keywords every suite function takes from the orchestrator rather than from the suite options."""

SuiteFunction = Callable[..., SuiteResult]

__all__ = ["SUITES", "EvaluationError", "parse_suite_options", "run_evaluation", "suite_function"]


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


def options_of(function: SuiteFunction) -> list[str]:
    """The options a suite function accepts (its keywords other than :data:`RUN_ARGUMENTS`)."""
    parameters = list(inspect.signature(function).parameters.values())[2:]
    return [p.name for p in parameters if p.kind is p.KEYWORD_ONLY and p.name not in RUN_ARGUMENTS]


def check_options(name: str, function: SuiteFunction, options: Mapping[str, Any]) -> None:
    """Refuse an option the suite does not take, naming the ones it does."""
    allowed = options_of(function)
    unknown = [key for key in options if key not in allowed]
    if unknown:
        raise EvaluationError(
            f"suite {name!r} has no option {', '.join(map(repr, unknown))}; its options are: {', '.join(allowed)}"
        )


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
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Run ``suites`` on the checkpoint (on ``device``) and write ``output_dir/results.json``; returns what was
    written.

    ``suite_options`` maps a suite name to extra keyword arguments of its function; suite names and options are
    checked before the checkpoint is loaded. A failing suite is logged and recorded under ``settings["errors"]``;
    the others still run, then :class:`EvaluationError` is raised.
    """
    suites = list(dict.fromkeys(suites))
    suite_options = {name: dict(options) for name, options in (suite_options or {}).items()}
    functions = _checked_suites(suites, suite_options, registry)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model, image_processor = load_checkpoint(model_name_or_path, random_init=random_init, seed=seed)
    model = model.to(device)
    results: dict[str, Any] = {
        "format_version": RESULTS_FORMAT_VERSION,
        "model": {
            "name_or_path": str(model_name_or_path),
            "model_type": model.config.model_type,
            "content_hash": model_content_hash(model),
        },
        "settings": {
            "suites": suites, "quick": quick, "seed": seed, "random_init": random_init,
            "suite_options": suite_options,
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
            if not isinstance(outcome, SuiteResult):
                raise TypeError(f"a suite function must return a SuiteResult, got {type(outcome).__name__}")
        except Exception as error:  # one failing suite must not lose the others' numbers
            logger.error("Suite %s failed:\n%s", name, traceback.format_exc())
            results["settings"]["errors"][name] = f"{type(error).__name__}: {error}"
        else:
            entry = outcome.to_dict()
            entry["pictures"] = [_relative_picture(picture, suite_dir, output_dir) for picture in outcome.pictures]
            results["suites"][name] = entry
        write_results(results, output_dir / "results.json")
    if results["settings"]["errors"]:
        raise EvaluationError(
            f"suite(s) failed: {results['settings']['errors']}; "
            f"the others' results are in {output_dir / 'results.json'}"
        )
    return results


def _checked_suites(
    suites: Sequence[str], options: Mapping[str, Mapping[str, Any]], registry: Mapping[str, str]
) -> dict[str, SuiteFunction]:
    """The function of each suite, after checking every suite name and option (nothing has run yet)."""
    if not suites:
        raise EvaluationError("no suites given: name at least one of " + ", ".join(registry))
    unknown = [name for name in [*suites, *options] if name not in registry]
    if unknown:
        raise EvaluationError(f"unknown suite(s) {unknown}; known suites: {', '.join(registry)}")
    functions = {name: suite_function(name, registry) for name in suites}
    for name, function in functions.items():
        check_options(name, function, options.get(name, {}))
    return functions
def _relative_picture(picture: str, suite_dir: Path, output_dir: Path) -> str:
    path = Path(picture)
    path = path if path.is_absolute() else suite_dir / path
    return path.resolve().relative_to(output_dir.resolve()).as_posix()


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

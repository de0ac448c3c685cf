"""What an evaluation suite returns and how ``results.json`` is written.

Every suite returns one :class:`SuiteResult`; the orchestrator writes them together into ``results.json``
(format :data:`RESULTS_FORMAT_VERSION`), which the model card (``vito_hf.hub.cards``) and the study read back.
The metric entries of the card's ``model-index`` are built by :func:`card_metric` only, so every suite's entries
carry the same keys (those of ``huggingface_hub.EvalResult``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic_files import write_text_atomic

RESULTS_FORMAT_VERSION = 1
"""Version of ``results.json``; readers refuse any other (bump it when a reader would misread the new form)."""


class EvaluationError(RuntimeError):
    """The evaluation cannot start or a suite failed; the message says which and why."""


@dataclass
class SuiteResult:
    """One suite's outcome, as written under ``results.json["suites"][<name>]``.

    ``dataset``: what the numbers were measured on (names, paths, fingerprints). ``settings``: the options the
    suite ran with. ``protocol``: how the numbers were made where published protocols differ (frames scored,
    resize rule, seed labels, feature choice, corruption set ...), so a reader can tell whether a number is
    comparable with a paper's. ``results``: the numbers. ``metrics``: the card's ``model-index`` entries, each
    made by :func:`card_metric`. ``pictures``: picture paths relative to the suite's output folder.
    ``details``: per-item records (per stimulus, per file skipped) too long for ``results``.
    """

    dataset: dict[str, Any]
    settings: dict[str, Any]
    protocol: dict[str, Any]
    results: dict[str, Any]
    metrics: list[dict[str, Any]]
    pictures: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready mapping written into ``results.json``."""
        return {
            "dataset": self.dataset, "settings": self.settings, "protocol": self.protocol, "results": self.results,
            "metrics": self.metrics, "pictures": list(self.pictures), "details": self.details,
        }


def card_metric(
    value: float,
    *,
    metric_type: str,
    metric_name: str,
    task_type: str,
    task_name: str,
    dataset_name: str,
    dataset_type: str,
    dataset_split: str = "test",
) -> dict[str, Any]:
    """One ``model-index`` entry (the keyword arguments of ``huggingface_hub.EvalResult``) for the model card."""
    return {
        "task_type": task_type, "task_name": task_name, "dataset_type": dataset_type, "dataset_name": dataset_name,
        "dataset_split": dataset_split, "metric_type": metric_type, "metric_name": metric_name,
        "metric_value": float(value),
    }


def write_results(results: dict[str, Any], path: str | Path) -> None:
    """Write ``results`` as JSON under a temporary name, then rename it into place."""
    write_text_atomic(path, json.dumps(results, indent=2, default=_to_json) + "\n")


def _to_json(value: Any) -> Any:
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item() if value.ndim == 0 else value.tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

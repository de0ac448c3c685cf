"""What a pretraining run records beside the encoder it saves, for its model card: `pretraining_summary.json`.

The model card must not invent numbers, and not everything it reports survives in the saved folder (the
batch, the data, the optimizer, the hardware, the wall time, the losses). At the end of a run this module
writes them from the trainer's arguments and state and, for a curated clip store, from the store's own
files (`report/report.json`, `README.md`, `metadata.jsonl`), so the card can be regenerated from the folder
alone, even where the store is not.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from .. import clip_store
from ..hub_access import is_hub_repo_id
from .recipes import IMAGENET_EPOCH_EXAMPLES

SUMMARY_FILE = "pretraining_summary.json"
STORE_REPORT = Path("report") / "report.json"
STORE_CARD = "README.md"
STORE_METADATA = "metadata.jsonl"
REPORT_SECTIONS = ("settings", "taxonomy", "totals", "stages", "rejection_reasons", "target")


def describe_training_data(data_dir: str | os.PathLike) -> dict[str, Any]:
    """Identity and curation summary of the training clips, read from the store's files.

    A curated store (one with `report/report.json`) contributes its report's sections and the kept clips per
    class; a plain folder of videos only its file count.
    """
    hub_repo_id = str(data_dir) if is_hub_repo_id(data_dir) else _recorded_hub_repo_id(Path(data_dir))
    data_dir = Path(data_dir)
    description: dict[str, Any] = {"name": data_dir.resolve().name, "curated": False, "hub_repo_id": hub_repo_id}
    report_path = data_dir / STORE_REPORT
    if not report_path.is_file():
        description["video_files"] = sum(1 for p in data_dir.rglob("*") if clip_store.is_video_file(p))
        return description
    metadata = data_dir / STORE_METADATA
    if metadata.is_file():
        description["clips"] = sum(1 for line in metadata.read_text().splitlines() if line.strip())
    try:
        report = json.loads(report_path.read_text())
        curation = {section: report[section] for section in REPORT_SECTIONS if section in report}
        curation["classes"] = [
            {key: row[key] for key in ("index", "id", "name", "queried", "kept", "pass_rate", "kept_share")}
            for row in report.get("classes", ())
            if row.get("kept")
        ]
        missing = [section for section in ("totals", "stages") if section not in curation]
        if missing:
            raise KeyError(f"no {missing}")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        # A damaged report must not fail a finished run: the summary says what was wrong instead.
        description["report_error"] = f"{report_path.relative_to(data_dir)} unreadable ({type(error).__name__}: {error})"
        return description
    description["curated"] = True
    description["curation"] = curation
    card = data_dir / STORE_CARD
    if card.is_file():
        from huggingface_hub import DatasetCard

        try:
            description["pretty_name"] = DatasetCard.load(card).data.to_dict().get("pretty_name")
        except ValueError:  # a hand-edited card with broken YAML: the folder name stands in
            pass
    return description


def _recorded_hub_repo_id(data_dir: Path) -> str | None:
    """The dataset repo the store was pushed to, as the push recorded it in `clip_store.json` (`hub_repo_id`)."""
    try:
        recorded = json.loads((data_dir / clip_store.STORE_FILE).read_text()).get("hub_repo_id")
    except (OSError, ValueError, AttributeError):
        return None
    return recorded if isinstance(recorded, str) else None


def cpu_name() -> str:
    """The CPU model (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_hardware(training_args) -> dict[str, Any]:
    """Where the run ran: device kind and name, processes, and the software versions."""
    device = torch.device(training_args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {
        "device": device.type,
        "device_name": name,
        "processes": training_args.world_size,
        "cpu_count": os.cpu_count(),
        "precision": "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def losses(log_history: Sequence[Mapping[str, Any]]) -> list[list[float]]:
    """`[step, loss]` of every logged training loss."""
    return [[entry["step"], entry["loss"]] for entry in log_history if "loss" in entry and "step" in entry]


def summarise_pretraining_run(
    trainer, train_output, model_args, data_args, data_dir, resumed_from: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The run's recipe and outcome, from the trainer's arguments and state (not from the model config);
    `resumed_from` is the checkpoint this invocation resumed from, if any."""
    args, state = trainer.args, trainer.state
    history = losses(state.log_history)
    momentum = [entry["ema_momentum"] for entry in state.log_history if "ema_momentum" in entry]
    runtime = (train_output.metrics or {}).get("train_runtime") if train_output is not None else None
    global_batch = args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps
    return {
        "format_version": 1,
        "model": {"preset": model_args.preset if model_args.model_name_or_path is None else None,
                  "initialised_from": model_args.model_name_or_path},
        "data": describe_training_data(data_dir),
        "views": {
            "num_views": getattr(data_args, "num_views", None),
            "window_seconds": data_args.window_seconds,
            "image_size": data_args.image_size,
            "repeat_clips": data_args.repeat_clips,
            "streaming": data_args.streaming,
        },
        "optimization": {
            "steps": state.global_step,
            "max_steps": state.max_steps,
            "epochs": state.epoch,
            "per_device_batch_size": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "processes": args.world_size,
            "global_batch_size": global_batch,
            "recipe": args.recipe,
            "imagenet_epochs": float(f"{state.global_step * global_batch / IMAGENET_EPOCH_EXAMPLES:.6g}"),
            # Each micro-batch is its own InfoNCE problem: accumulation does not pool negatives across micro-batches.
            "negatives_per_micro_batch": args.per_device_train_batch_size * args.world_size,
            "negatives_from": "each micro-batch only" if args.gradient_accumulation_steps > 1 else "the whole global batch",
            "optimizer": args.optimizer_name,
            "learning_rate": args.learning_rate,
            "base_learning_rate": args.base_learning_rate,
            "lr_scheduler": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
            "warmup_steps": args.warmup_steps,
            "weight_decay": args.weight_decay,
            "ema_momentum_logged": [momentum[0], momentum[-1]] if momentum else None,
            "seed": args.seed,
        },
        "outcome": {
            "final_loss": history[-1][1] if history else None,
            "train_runtime_seconds": runtime,
            "resumed_from": None if resumed_from is None else Path(resumed_from).name,
            "losses": history,
        },
        "hardware": describe_hardware(args),
    }

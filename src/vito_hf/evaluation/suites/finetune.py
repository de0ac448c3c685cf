"""The "finetune" suite: short fine-tuning runs of the encoder with a new head, on images and (optionally) videos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, TrainingArguments

from ..finetune import finetune_image_classification, finetune_video_classification, summarise_run
from ..image_datasets import load_image_dataset
from ..results import SuiteResult, card_metric
from ..video_folder import load_video_folder

QUICK_STEPS = 30
"""Optimizer steps of each fine-tuning run under ``quick=True``."""
QUICK_LIMIT = 300
"""Images (or clips) per split under ``quick=True``."""


def suite_training_args(
    output_dir: Path, *, max_steps: int, seed: int, batch_size: int, learning_rate: float
) -> TrainingArguments:
    """Training arguments of the suite's short fine-tuning runs: no checkpoints, loss logged every step."""
    return TrainingArguments(
        output_dir=str(output_dir), max_steps=max_steps, per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size, learning_rate=learning_rate, weight_decay=0.05,
        warmup_steps=max(1, max_steps // 10), lr_scheduler_type="cosine", logging_steps=1, save_strategy="no",
        eval_strategy="no", seed=seed, remove_unused_columns=False, report_to="none", dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=False,
    )


def run_finetune_suite(
    model: PreTrainedModel,
    image_processor: Any | None,
    *,
    output_dir: Path,
    quick: bool = False,
    seed: int = 0,
    dataset: str = "digits",
    limit: int | None = None,
    video_dir: str | None = None,
    num_frames: int = 8,
    max_steps: int | None = None,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
) -> SuiteResult:
    """Fine-tune on ``dataset`` (and on the videos of ``video_dir`` when given); accuracy on the test splits.

    ``quick`` runs :data:`QUICK_STEPS` steps on at most :data:`QUICK_LIMIT` items per split; otherwise
    ``max_steps`` (default 1000) on the whole set. No checkpoint is written; the numbers and the loss curves
    are returned.
    """
    steps = max_steps if max_steps is not None else (QUICK_STEPS if quick else 1000)
    limit = limit if limit is not None else (QUICK_LIMIT if quick else None)
    args = dict(max_steps=steps, seed=seed, batch_size=batch_size, learning_rate=learning_rate)
    data = load_image_dataset(dataset, limit=limit, seed=seed)
    image_run = finetune_image_classification(
        model, image_processor, data, suite_training_args(output_dir / "finetune_image", **args)
    )
    identities = {"image": data.identity()}
    results = {"image": summarise_run(image_run)}
    metrics = [_metric("image-classification", data.source, data.name, image_run["accuracy"], steps)]
    if video_dir is not None:
        clips = load_video_folder(video_dir, seed=seed, limit=limit)
        video_run = finetune_video_classification(
            model, image_processor, clips, suite_training_args(output_dir / "finetune_video", **args),
            num_frames=num_frames,
        )
        identities["video"] = {
            "name": Path(video_dir).name, "path": str(video_dir),
            "splits": {s: {"num_rows": len(clips[s]), "fingerprint": clips[s]._fingerprint} for s in clips},
        }
        results["video"] = summarise_run(video_run)
        metrics.append(
            _metric("video-classification", str(video_dir), Path(video_dir).name, video_run["accuracy"], steps)
        )
    return SuiteResult(
        dataset=identities,
        settings={"max_steps": steps, "batch_size": batch_size, "learning_rate": learning_rate,
                  "limit_per_split": limit, "num_frames": num_frames if video_dir is not None else None},
        protocol=_protocol(video_dir is not None, num_frames),
        results=results,
        metrics=metrics,
    )


def _protocol(video: bool, num_frames: int) -> dict[str, Any]:
    protocol = {
        "head": "a new linear classification head (AutoModelForImageClassification of the encoder's config), "
                "encoder weights trained too",
        "optimizer": "Trainer's AdamW, cosine schedule with 10% warm-up, weight decay 0.05",
        "preprocessing": "the checkpoint's image processor (no augmentation)",
    }
    if video:
        protocol["video"] = (f"{num_frames} frames per clip at the centres of equal spans, frame features averaged "
                             "(the paper's UCF-101 protocol)")
    return protocol


def _metric(task: str, source: str, name: str, accuracy: float, steps: int) -> dict[str, Any]:
    return card_metric(accuracy, task_type=task, task_name=f"fine-tuning ({task})", dataset_type=source,
                       dataset_name=name, metric_type="accuracy", metric_name=f"fine-tuned top-1 ({steps} steps)")

"""Fine-tuning of an encoder with a classification head by the stock `Trainer`.

Images: ``AutoModelForImageClassification`` of the encoder's config (``VitoForImageClassification`` for VITO,
``ResNetForImageClassification`` for a ResNet, ...) with the encoder's weights, on any labelled image set.
Video: ``AutoModelForVideoClassification`` (``VitoForVideoClassification``: frame features averaged, the paper's
UCF-101 protocol) on a folder of class-named subfolders of videos. Accuracy comes from the `evaluate` accuracy
module that ships with vito_hf.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import (
    AutoModelForImageClassification,
    AutoModelForVideoClassification,
    EvalPrediction,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
)

from .checkpoints import load_checkpoint
from .features import batch_preparation, resolve_processor
from .image_datasets import ImageDataset, load_image_dataset
from .metrics import load_metric
from ..video_processing_vito import VitoVideoProcessor
from .video_folder import VideoClipTransform, load_video_folder

def classifier_from_encoder(
    encoder: PreTrainedModel, class_names: list[str] | tuple[str, ...], *, video: bool = False, seed: int = 0
) -> PreTrainedModel:
    """The image (or video) classification model of ``encoder``'s architecture, holding ``encoder``'s weights and a
    freshly initialised head (under ``seed``) for ``class_names``."""
    config = copy.deepcopy(encoder.config)
    config.num_labels = len(class_names)
    config.id2label = dict(enumerate(class_names))
    config.label2id = {name: index for index, name in enumerate(class_names)}
    auto = AutoModelForVideoClassification if video else AutoModelForImageClassification
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            classifier = auto.from_config(config)
    except ValueError as error:
        kind = "video" if video else "image"
        raise ValueError(
            f"{type(encoder).__name__} has no {kind}-classification head in transformers: {error}"
        ) from error
    base = getattr(classifier, classifier.base_model_prefix)
    base.load_state_dict(encoder.state_dict())
    parameter = next(encoder.parameters(), None)
    return classifier.to(parameter.device) if parameter is not None else classifier


class ImageClassificationTransform:
    """``with_transform`` callable: rows of an image set -> the processor's ``pixel_values`` (batched), ``labels``."""

    def __init__(self, image_processor: Any | None, image_column: str, label_column: str) -> None:
        self.prepare = batch_preparation(resolve_processor(image_processor))
        self.image_column, self.label_column = image_column, label_column

    def __call__(self, batch: dict[str, list]) -> dict[str, torch.Tensor]:
        return {
            "pixel_values": self.prepare(batch[self.image_column]),
            "labels": torch.as_tensor(batch[self.label_column], dtype=torch.long),
        }


def accuracy_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """``compute_metrics`` for the Trainer: top-1 accuracy through the shipped `evaluate` module."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return load_metric("accuracy").compute(predictions=np.argmax(logits, axis=-1), references=prediction.label_ids)


def finetune(
    classifier: PreTrainedModel,
    train_dataset: datasets.Dataset,
    eval_dataset: datasets.Dataset,
    training_args: TrainingArguments,
) -> dict[str, Any]:
    """Train ``classifier`` with the stock Trainer and evaluate it: final eval metrics and the training-loss curve.

    The datasets must yield ``pixel_values`` and ``labels`` (see the transforms above); ``training_args`` needs
    ``remove_unused_columns=False`` for them to reach the transform.
    """
    if training_args.remove_unused_columns:
        raise ValueError("pass TrainingArguments(remove_unused_columns=False): the transforms need the raw columns")
    trainer = Trainer(
        model=classifier, args=training_args, train_dataset=train_dataset, eval_dataset=eval_dataset,
        compute_metrics=accuracy_metrics,
    )
    trainer.train()
    metrics = trainer.evaluate()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {
        "accuracy": float(metrics["eval_accuracy"]),
        "eval_loss": float(metrics["eval_loss"]),
        "steps": trainer.state.global_step,
        "train_losses": losses,
        "trainer": trainer,
    }


def finetune_image_classification(
    encoder: PreTrainedModel,
    image_processor: Any | None,
    dataset: ImageDataset,
    training_args: TrainingArguments,
) -> dict[str, Any]:
    """Fine-tune ``encoder`` with a new head on ``dataset``'s train split; accuracy on its test split."""
    transform = ImageClassificationTransform(image_processor, dataset.image_column, dataset.label_column)
    classifier = classifier_from_encoder(encoder, dataset.class_names, seed=training_args.seed)
    return finetune(
        classifier, dataset.train.with_transform(transform), dataset.test.with_transform(transform), training_args
    )


def finetune_video_classification(
    encoder: PreTrainedModel,
    image_processor: Any | None,
    clips: datasets.DatasetDict,
    training_args: TrainingArguments,
    *,
    num_frames: int = 8,
) -> dict[str, Any]:
    """Fine-tune ``encoder`` as a frame-averaging video classifier on ``clips`` (see :func:`load_video_folder`)."""
    transform = VideoClipTransform(image_processor, num_frames)
    class_names = clips["train"].features["label"].names
    classifier = classifier_from_encoder(encoder, class_names, video=True, seed=training_args.seed)
    return finetune(
        classifier, clips["train"].with_transform(transform), clips["test"].with_transform(transform), training_args
    )


@dataclass
class FinetuneArguments:
    """What to fine-tune on what (the rest is `TrainingArguments`)."""

    model_name_or_path: str = field(metadata={"help": "encoder folder (save_pretrained), e.g. runs/tiny/encoder"})
    dataset: str | None = field(
        default=None,
        metadata={"help": "image set: digits, fashion-mnist, mnist-5k, a save_to_disk folder, an imagefolder, "
                          "or a Hub name"},
    )
    video_dir: str | None = field(default=None, metadata={"help": "folder of class-named subfolders of videos"})
    num_frames: int = field(default=8, metadata={"help": "frames per clip, averaged by the video classifier"})
    image_column: str | None = field(default=None, metadata={"help": "image column (found by type if unset)"})
    label_column: str | None = field(default=None, metadata={"help": "label column (found by type if unset)"})
    limit: int | None = field(default=None, metadata={"help": "at most this many items per split (class-balanced)"})
    test_fraction: float = field(default=0.25, metadata={"help": "held out when the data has no test split"})

    def __post_init__(self) -> None:
        if (self.dataset is None) == (self.video_dir is None):
            raise ValueError("pass exactly one of --dataset (images) and --video_dir (videos)")
        if self.num_frames < 1:
            raise ValueError(f"--num_frames must be positive, got {self.num_frames}")


def run_finetune(args: FinetuneArguments, training_args: TrainingArguments) -> dict[str, Any]:
    """Fine-tune the encoder of ``args.model_name_or_path`` and save the classifier (with its image processor) and
    ``finetune_results.json`` in ``training_args.output_dir``. Returns the numbers."""
    # The transforms read the raw image/video columns, which the Trainer would otherwise drop.
    training_args.remove_unused_columns = False
    encoder, image_processor = load_checkpoint(args.model_name_or_path)
    if args.video_dir is not None:
        clips = load_video_folder(
            args.video_dir, test_fraction=args.test_fraction, seed=training_args.seed, limit=args.limit
        )
        run = finetune_video_classification(encoder, image_processor, clips, training_args, num_frames=args.num_frames)
    else:
        data = load_image_dataset(
            args.dataset, image_column=args.image_column, label_column=args.label_column, limit=args.limit,
            seed=training_args.seed, test_fraction=args.test_fraction,
        )
        run = finetune_image_classification(encoder, image_processor, data, training_args)
    output_dir = Path(training_args.output_dir)
    run["trainer"].save_model(str(output_dir))
    processor = resolve_processor(image_processor)
    processor.save_pretrained(output_dir)
    if args.video_dir is not None:  # the video pipeline and AutoVideoProcessor read the frame sampling from here
        video_processor_like(processor, args.num_frames).save_pretrained(output_dir)
    summary = summarise_run(run)
    (output_dir / "finetune_results.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def video_processor_like(image_processor: Any, num_frames: int) -> VitoVideoProcessor:
    """A `VitoVideoProcessor` that samples `num_frames` frames and preprocesses each as `image_processor` does."""
    return VitoVideoProcessor(
        size=image_processor.size, crop_size=getattr(image_processor, "crop_size", None),
        image_mean=image_processor.image_mean, image_std=image_processor.image_std, num_frames=num_frames,
    )


def summarise_run(run: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready numbers of a :func:`finetune` run (without the trainer)."""
    return {key: run[key] for key in ("accuracy", "eval_loss", "steps", "train_losses")}


"""A whole VITO pretraining run, as a function: what `training_scripts/run_pretraining.py` calls.

Model from a preset (or a checkpoint) -> views of clips from a curated or plain video folder -> `VitoTrainer`,
resuming from the newest complete checkpoint in the output folder -> the online encoder saved as a `VitoModel`
folder that `AutoModel` loads, the final pretraining model (online + EMA target), and the training curves.
"""

import json
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from transformers import TrainerCallback, set_seed

from ..data import build_pretraining_data
from ..data.sample_clips import sample_clip_paths
from ..hub.cards import write_pretraining_card
from ..image_processing_vito import VitoImageProcessor
from ..modeling_vito import VitoForPreTraining
from ..presets import load_preset
from .arguments import DataArguments, ModelArguments, VitoTrainingArguments
from .checkpoints import last_complete_checkpoint
from .curves import plot_training_curves
from .trainer import VitoTrainer

logger = logging.getLogger(__name__)

ENCODER_DIR = "encoder"
PRETRAINING_DIR = "pretraining"
CURVES_FILE = "training_curves.png"


@dataclass
class PretrainingOutputs:
    """Where a run wrote its results, and how it went."""

    output_dir: Path
    encoder_dir: Path
    pretraining_dir: Path
    curves_path: Path | None
    resumed_from: Path | None
    global_step: int
    train_loss: float | None
    log_history: list[dict] = field(default_factory=list)


def parse_config_overrides(text: str | None) -> dict:
    """`"temperature=0.2,pooling=mean"` -> `{"temperature": 0.2, "pooling": "mean"}` (values parsed as JSON when
    they are JSON, else kept as strings)."""
    overrides = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"Bad config override {item!r}: write key=value pairs separated by commas.")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def load_pretraining_model(model_args: ModelArguments) -> VitoForPreTraining:
    """A preset at random initialisation, or a saved pretraining model; config overrides applied."""
    overrides = parse_config_overrides(model_args.config_overrides)
    if model_args.model_name_or_path is not None:
        return VitoForPreTraining.from_pretrained(model_args.model_name_or_path, **overrides)
    return VitoForPreTraining(load_preset(model_args.preset, **overrides))


def sample_clip_folder(folder: str | os.PathLike) -> Path:
    """A folder of links to the real sample clips shipped with the packages (the default training data)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for clip in sample_clip_paths():
        link = folder / clip.name
        if not link.exists():
            link.symlink_to(clip)
    return folder


def write_directory_atomically(directory: Path, write: Callable[[Path], None]) -> Path:
    """`write(temporary)` then rename to `directory`, replacing an older one only once the new one is whole."""
    temporary = directory.with_name(f".{directory.name}.partial-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    write(temporary)
    if directory.exists():
        previous = directory.with_name(f".{directory.name}.previous-{os.getpid()}")
        os.replace(directory, previous)
        os.replace(temporary, directory)
        shutil.rmtree(previous, ignore_errors=True)
    else:
        os.replace(temporary, directory)
    return directory


def image_processor_for(image_size: int) -> VitoImageProcessor:
    """The paper's evaluation preprocessing (short side 256/224 of the crop, center crop) at `image_size`."""
    return VitoImageProcessor(
        size={"shortest_edge": round(image_size * 256 / 224)}, crop_size={"height": image_size, "width": image_size}
    )


def save_encoder(model: VitoForPreTraining, directory: Path, image_size: int) -> Path:
    """The online encoder as a `VitoModel` folder (weights, config, remote code, and the image processor of
    the `image_size` it was trained at)."""

    def write(folder: Path) -> None:
        model.vito.save_pretrained(folder)
        image_processor_for(image_size).save_pretrained(folder)

    return write_directory_atomically(directory, write)


def run_pretraining(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: VitoTrainingArguments,
    callbacks: Sequence[TrainerCallback] = (),
) -> PretrainingOutputs:
    """Train (resuming when the output folder holds a checkpoint) and save encoder, model and curves."""
    output_dir = Path(training_args.output_dir)
    set_seed(training_args.seed)  # the model is built before Trainer seeds: one seed, one initialisation
    model = load_pretraining_model(model_args)
    data = build_pretraining_data(
        data_args,
        seed=training_args.seed if training_args.data_seed is None else training_args.data_seed,
        data_dir=data_args.data_dir or sample_clip_folder(output_dir / "sample_clips"),
    )
    if isinstance(data.train_dataset, datasets.IterableDataset) and training_args.max_steps <= 0:
        raise ValueError("Streaming datasets have no length: set --max_steps.")
    trainer = VitoTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train_dataset,
        data_collator=data.data_collator,
        callbacks=[*data.callbacks, *callbacks],
        device_augmentation=data.device_augmentation,
    )
    resume = training_args.resume_from_checkpoint or last_complete_checkpoint(output_dir)
    if resume is not None:
        logger.info("Resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=None if resume is None else str(resume))

    encoder_dir = output_dir / ENCODER_DIR
    pretraining_dir = output_dir / PRETRAINING_DIR
    curves_path = None
    if trainer.is_world_process_zero():
        write_directory_atomically(pretraining_dir, lambda folder: trainer.save_model(str(folder)))
        save_encoder(model, encoder_dir, data_args.image_size)
        write_pretraining_card(encoder_dir, trainer=trainer, train_output=result, model_args=model_args,
                               data_args=data_args, data_dir=data_dir, resumed_from=resume)
        if any("loss" in entry for entry in trainer.state.log_history):
            curves_path = plot_training_curves(trainer.state.log_history, output_dir / CURVES_FILE)
    return PretrainingOutputs(
        output_dir=output_dir,
        encoder_dir=encoder_dir,
        pretraining_dir=pretraining_dir,
        curves_path=curves_path,
        resumed_from=None if resume is None else Path(resume),
        global_step=trainer.state.global_step,
        train_loss=result.training_loss,
        log_history=list(trainer.state.log_history),
    )

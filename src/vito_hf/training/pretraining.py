"""A whole VITO pretraining run, as a function: what `training_scripts/run_pretraining.py` calls.

Model from a preset (or a checkpoint) -> views of clips from a curated or plain video folder -> `VitoTrainer`,
resuming from the newest complete checkpoint in the output folder -> the online encoder saved as a `VitoModel`
folder that `AutoModel` loads (with the run's `pretraining_summary.json`, which its model card is written
from: `vito_hf.hub.write_pretraining_card`, by the caller), the training curves, and last the final pretraining model (online + EMA target)
with its trainer state, which marks the run finished: rerunning a finished run changes nothing.
"""

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerState, set_seed

from ..atomic_files import write_atomic, write_json_atomic
from ..clip_store import is_shard_store
from ..data import build_pretraining_data
from ..data.builder import clip_rows
from ..data.store_location import is_url, locate_store
from ..image_processing_vito import VitoImageProcessor
from ..modeling_vito import VitoForPreTraining
from ..presets import load_preset
from .arguments import DataArguments, ModelArguments, VitoTrainingArguments
from .checkpoints import TRAINER_STATE_FILE, ResumePlan, plan_resume
from .curves import plot_training_curves
from .run_summary import SUMMARY_FILE, summarise_pretraining_run
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
    message: str = ""
    """What the run did, in one line ("already finished at step 7: nothing to do ...")."""
    already_finished: bool = False


def parse_config_overrides(text: str | None) -> dict:
    """`'temperature=0.2,pooled_stages=["stage3","stage4"]'` -> `{"temperature": 0.2, "pooled_stages": [...]}`.

    Pairs are separated by the commas outside brackets and quotes, so JSON lists and objects keep theirs; values
    are parsed as JSON when they are JSON, else kept as strings."""
    overrides = {}
    for item in filter(None, (part.strip() for part in _top_level_parts(text or ""))):
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"Bad config override {item!r}: write key=value pairs separated by commas.")
        try:
            overrides[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key.strip()] = value.strip()
    return overrides


def _top_level_parts(text: str) -> list[str]:
    """`text` split at the commas that lie outside brackets, braces and double quotes."""
    parts, start, depth, quoted = [], 0, 0, False
    for index, character in enumerate(text):
        if character == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and character in "[{":
            depth += 1
        elif not quoted and character in "]}":
            depth = max(depth - 1, 0)
        elif not quoted and depth == 0 and character == ",":
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def load_pretraining_model(model_args: ModelArguments) -> VitoForPreTraining:
    """A preset at random initialisation, or a saved pretraining model; config overrides applied."""
    overrides = parse_config_overrides(model_args.config_overrides)
    if model_args.model_name_or_path is not None:
        return VitoForPreTraining.from_pretrained(model_args.model_name_or_path, **overrides)
    return VitoForPreTraining(load_preset(model_args.preset, **overrides))


def check_arguments(
    model_args: ModelArguments, data_args: DataArguments, training_args: VitoTrainingArguments
) -> ResumePlan:
    """What the run will do with its output folder; `ValueError` with a one-line message for arguments it cannot
    start with (including a --max_steps below the step the folder's run reached), before anything is written."""
    if not data_args.data_dir:
        raise ValueError("No --data_dir: pass a curated clip folder, a folder of videos or a Hub dataset (user/name).")
    try:
        store = locate_store(data_args.data_dir)  # a Hub dataset is downloaded here, or found to be streamable
        if not is_url(store) and not is_shard_store(store):
            clip_rows(store)
    except (OSError, ValueError) as error:
        raise ValueError(f"--data_dir {error}") from None
    if model_args.model_name_or_path is None:
        try:
            load_preset(model_args.preset, **parse_config_overrides(model_args.config_overrides))
        except TypeError as error:  # a value of the wrong type in --config_overrides
            raise ValueError(f"--config_overrides {model_args.config_overrides!r}: {error}") from None
    elif not Path(model_args.model_name_or_path).is_dir():
        raise ValueError(f"--model_name_or_path {model_args.model_name_or_path} is not a folder: pass a "
                         "VitoForPreTraining folder (the pretraining/ folder of a run, or one of its checkpoints).")
    if training_args.max_steps == 0 or training_args.max_steps < -1:
        raise ValueError(f"--max_steps must be a positive number of steps (or -1 to train --num_train_epochs "
                         f"epochs), got {training_args.max_steps}.")
    if data_args.streaming and training_args.max_steps <= 0:
        raise ValueError("A stream has no length: set --max_steps with --streaming.")
    output_dir = Path(training_args.output_dir)
    return plan_resume(
        output_dir, training_args.max_steps, results_dir=output_dir / PRETRAINING_DIR,
        resume_from=training_args.resume_from_checkpoint,
    )


def describe_batch(training_args: VitoTrainingArguments) -> list[str]:
    """What the run's log says about its recipe and where its negatives come from."""
    lines = []
    plan = training_args.recipe_plan()
    if plan is not None:
        lines.append(plan.describe())
    if training_args.gradient_accumulation_steps > 1 and (plan is None or plan.gradient_accumulation_steps == 1):
        micro = training_args.per_device_train_batch_size * training_args.world_size
        lines.append(
            f"gradient accumulation over {training_args.gradient_accumulation_steps} micro-batches: each micro-batch "
            f"draws its negatives from its own {micro} clips only, not from the whole global batch"
        )
    return lines


def save_encoder(
    model: VitoForPreTraining, directory: Path, image_size: int, summary: Mapping[str, Any] | None = None
) -> Path:
    """The online encoder as a `VitoModel` folder (weights, config, remote code, the image processor of the
    `image_size` it was trained at, and the run's `summary` as `pretraining_summary.json`, for its card)."""

    def write(folder: Path) -> None:
        model.vito.save_pretrained(folder)
        VitoImageProcessor.for_image_size(image_size).save_pretrained(folder)
        if summary is not None:
            write_json_atomic(folder / SUMMARY_FILE, summary, sort_keys=False)

    return write_atomic(directory, write)


def save_results(
    output_dir: Path,
    model: VitoForPreTraining,
    image_size: int,
    state: TrainerState,
    save_model: Callable[[Path], None],
    summary: Mapping[str, Any],
) -> Path | None:
    """Encoder with the run's summary, curves, then the pretraining model (`save_model(folder)`) with the trainer
    state that marks the run finished at `state.global_step`; returns the curves' path (None without a logged
    loss)."""
    save_encoder(model, output_dir / ENCODER_DIR, image_size, summary)
    curves_path = None
    if any("loss" in entry for entry in state.log_history):
        curves_path = plot_training_curves(state.log_history, output_dir / CURVES_FILE)

    def write(folder: Path) -> None:
        save_model(folder)
        state.save_to_json(str(folder / TRAINER_STATE_FILE))

    write_atomic(output_dir / PRETRAINING_DIR, write)
    return curves_path


def run_pretraining(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: VitoTrainingArguments,
    callbacks: Sequence[TrainerCallback] = (),
) -> PretrainingOutputs:
    """Train (resuming when the output folder holds a checkpoint) and save encoder, model and curves.

    A run that already reached `max_steps` and saved its results returns at once and writes nothing; a larger
    `max_steps` continues it; a smaller one raises `ValueError` (see `checkpoints.plan_resume`).
    """
    plan = check_arguments(model_args, data_args, training_args)
    output_dir = Path(training_args.output_dir)
    encoder_dir, pretraining_dir = output_dir / ENCODER_DIR, output_dir / PRETRAINING_DIR
    logger.info("%s: %s", output_dir, plan.message)
    if plan.finished:
        state = TrainerState.load_from_json(str(pretraining_dir / TRAINER_STATE_FILE))
        curves = output_dir / CURVES_FILE
        return PretrainingOutputs(
            output_dir=output_dir, encoder_dir=encoder_dir, pretraining_dir=pretraining_dir,
            curves_path=curves if curves.is_file() else None, resumed_from=plan.checkpoint,
            global_step=state.global_step, train_loss=None, log_history=list(state.log_history),
            message=plan.message, already_finished=True,
        )
    for line in describe_batch(training_args):
        logger.warning(line)
    set_seed(training_args.seed)  # the model is built before Trainer seeds: one seed, one initialisation
    model = load_pretraining_model(model_args)
    data = build_pretraining_data(
        data_args,
        seed=training_args.seed if training_args.data_seed is None else training_args.data_seed,
        world_size=training_args.world_size,
        num_workers=training_args.dataloader_num_workers,
    )
    trainer = VitoTrainer(
        model=model,
        args=training_args,
        train_dataset=data.train_dataset,
        data_collator=data.data_collator,
        callbacks=[*data.callbacks, *callbacks],
        device_augmentation=data.device_augmentation,
    )
    resume = plan.checkpoint
    if resume is not None and training_args.max_steps > 0 and plan.start_step == training_args.max_steps:
        # Stopped after its last checkpoint, before its results were saved. Trainer would train one more step
        # when resuming mid-epoch at max_steps, so the results are saved from the checkpoint instead.
        model = VitoForPreTraining.from_pretrained(resume)
        trainer.state = TrainerState.load_from_json(str(resume / TRAINER_STATE_FILE))
        train_output, save_model = None, model.save_pretrained
    else:
        train_output = trainer.train(resume_from_checkpoint=None if resume is None else str(resume))
        save_model = lambda folder: trainer.save_model(str(folder))  # noqa: E731

    curves_path = None
    if trainer.is_world_process_zero():
        summary = summarise_pretraining_run(trainer, train_output, model_args, data_args, data_args.data_dir, resume)
        curves_path = save_results(output_dir, model, data_args.image_size, trainer.state, save_model, summary)
    return PretrainingOutputs(
        output_dir=output_dir,
        encoder_dir=encoder_dir,
        pretraining_dir=pretraining_dir,
        curves_path=curves_path,
        resumed_from=resume,
        global_step=trainer.state.global_step,
        train_loss=None if train_output is None else train_output.training_loss,
        log_history=list(trainer.state.log_history),
        message=plan.message,
    )

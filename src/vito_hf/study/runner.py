"""Run the study: make the data once, then pretrain and evaluate every arm under every seed, resumably.

Layout of a study folder::

    data/videos/ + candidates.jsonl + taxonomy.json   training videos (scenes.py) and what curation reads
    data/clip_store/                                    the curated clip store every arm trains on
    data/stills/                                        held-out still images (datasets save_to_disk)
    data/sequences/                                     held-out masked clips (DAVIS-2017 layout)
    data/corrupted/                                     the corrupted stills, made once for every run
    runs/<arm>-seed<k>/                                 the pretraining run and evaluation/results.json
    study.json                                          the protocol and its fingerprint, written first
    raw_pixels.json                                     the raw-pixel probes of the stills

A finished run (its ``evaluation/results.json`` exists) is not redone, so an interrupted study continues where it
stopped; a folder made under another protocol is refused.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ..atomic_files import write_json_atomic
from ..curation import CurationSettings, curate
from ..evaluation.checkpoints import load_checkpoint
from ..evaluation.orchestrator import run_evaluation
from ..evaluation.probe import evaluate_raw_pixels
from ..evaluation.image_datasets import load_image_dataset
from ..hub import write_pretraining_card
from ..training import DataArguments, ModelArguments, VitoTrainingArguments
from ..training.pretraining import run_pretraining
from .benchmark_data import write_masked_sequences, write_still_images, write_training_videos
from .invariance import DeformationPairs, deformation_pairs, measure_invariance
from .protocol import Arm, StudyProtocol

logger = logging.getLogger(__name__)

SUITES = ("probe", "corruptions", "propagation", "shape-bias")


class StudyError(RuntimeError):
    """The study cannot run in this folder as asked; the message says why and what to do."""


def claim_folder(output_dir: Path, protocol: StudyProtocol) -> None:
    """Write ``study.json`` into a new folder, or check that an existing one was made under ``protocol``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    marker = output_dir / "study.json"
    if marker.is_file():
        recorded = json.loads(marker.read_text()).get("fingerprint")
        if recorded != protocol.fingerprint():
            raise StudyError(
                f"{output_dir} holds a study run under another protocol ({recorded}, this one is "
                f"{protocol.fingerprint()}); use a new --output_dir"
            )
        return
    write_json_atomic(marker, {"fingerprint": protocol.fingerprint(), "protocol": protocol.to_dict()})


def prepare_data(data_dir: Path, protocol: StudyProtocol, *, progress: bool = False) -> dict[str, Path]:
    """Write (or reuse) the videos, curate them into a clip store, write the held-out stills and sequences."""
    data_dir.mkdir(parents=True, exist_ok=True)
    manifest, taxonomy = write_training_videos(
        data_dir, num_videos=protocol.num_videos, seconds=protocol.video_seconds, size=protocol.frame_size,
        seed=protocol.data_seed, style=protocol.scene,
    )
    store = data_dir / "clip_store"
    curation = curate(
        manifest,
        store,
        CurationSettings(
            taxonomy=taxonomy,
            classifier=None,  # the items are known to show their class; no classifier could be downloaded here
            min_duration=protocol.video_seconds - 0.5,
            clip_duration=protocol.video_seconds,
            short_side=None,
            progress=progress,
        ),
    )
    if curation.kept < protocol.num_videos:
        raise StudyError(
            f"curation kept {curation.kept} of {protocol.num_videos} generated videos; see {store / 'report'}"
        )
    stills = write_still_images(
        data_dir / "stills", num_train=protocol.probe_train_images, num_test=protocol.probe_test_images,
        size=protocol.frame_size, seed=protocol.data_seed, style=protocol.scene,
    )
    sequences = data_dir / "sequences"
    if not (sequences / "ImageSets").is_dir():
        write_masked_sequences(
            sequences, num_sequences=protocol.propagation_sequences, num_frames=protocol.propagation_frames,
            size=protocol.propagation_size, seed=protocol.data_seed, style=protocol.scene,
        )
    return {"clip_store": store, "stills": stills, "sequences": sequences, "corruption_cache": data_dir / "corrupted"}


CPU_LOADER_WORKERS = 2
"""DataLoader workers of a CPU pretraining run. On 2 cores, decoding in 2 workers while the step trains in 1 thread
took 146 ms a step against 188 ms with 1 worker and 2 training threads (the workers and torch's thread team fought
over the cores); what the loader needs is about the time of the step itself."""


@contextmanager
def training_threads(device: str) -> Iterator[None]:
    """On CPU, train in the cores the loader's workers leave free (at least one); restore torch's threads after."""
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - CPU_LOADER_WORKERS))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def loader_workers(device: str) -> int:
    """The pretraining DataLoader's workers: :data:`CPU_LOADER_WORKERS` on CPU; on an accelerator, up to 8 cores."""
    return CPU_LOADER_WORKERS if device == "cpu" else min(8, os.cpu_count() or 1)


def pretrain_arm(
    arm: Arm, seed: int, run_dir: Path, clip_store: Path, protocol: StudyProtocol, *, device: str = "cpu"
) -> tuple[Path, float | None]:
    """Pretrain the protocol's preset as ``arm`` says (resuming an interrupted run, reusing a finished one); returns the
    encoder folder and the training time Trainer recorded (``train_runtime``, the same when the run is reused)."""
    overrides = ",".join(f"{key}={json.dumps(value)}" for key, value in arm.model.items())
    with training_threads(device):
        outputs = run_pretraining(
            ModelArguments(preset=protocol.preset, config_overrides=overrides or None),
            DataArguments(data_dir=str(clip_store), image_size=protocol.image_size, **arm.data),
            VitoTrainingArguments(
                output_dir=str(run_dir / "pretraining_run"),
                max_steps=protocol.max_steps,
                per_device_train_batch_size=protocol.batch_size,
                optimizer_name="adamw",
                learning_rate=protocol.learning_rate,
                weight_decay=protocol.weight_decay,
                ema_momentum_base=protocol.ema_momentum_base,
                warmup_steps=0.1,
                logging_steps=max(protocol.max_steps // 20, 1),
                save_strategy="steps",
                save_steps=max(protocol.max_steps // 2, 1),
                save_total_limit=1,
                dataloader_num_workers=loader_workers(device),
                use_cpu=device == "cpu",
                seed=seed,
                report_to="none",
                disable_tqdm=True,
            ),
        )
    write_pretraining_card(outputs.encoder_dir, already_finished=outputs.already_finished)
    runtime = next((entry["train_runtime"] for entry in reversed(outputs.log_history) if "train_runtime" in entry), None)
    return outputs.encoder_dir, runtime


def suite_options(data: dict[str, Path], protocol: StudyProtocol) -> dict[str, dict[str, Any]]:
    """What each suite measures on: the study's held-out stills and sequences."""
    return {
        "probe": {"datasets": [str(data["stills"])], "baselines": False},
        "corruptions": {
            "dataset": str(data["stills"]), "limit": protocol.corruption_images,
            "severities": list(protocol.corruption_severities), "natural_shift": False,
            "cache_dir": str(data["corruption_cache"]),  # corrupted once, read by every arm and seed
        },
        # The study compares arms at its sequences' own 128 px with the propagation choices its recorded runs
        # used (soft seeds, bilinear upsampling, the processor's normalisation); DINO's protocol, the suite's
        # default, would enlarge every frame to 480 px. Scoring follows DAVIS in both.
        "propagation": {"davis_root": str(data["sequences"]), "short_side": None, "seed_labels": "area",
                        "upsample": "frame", "normalisation": "processor"},
        "shape-bias": {},
    }


def run_arm(
    arm: Arm,
    seed: int,
    output_dir: Path,
    data: dict[str, Path],
    protocol: StudyProtocol,
    reference_encoder: Path,
    *,
    device: str = "cpu",
) -> dict[str, Any]:
    """Pretrain (unless the arm is random init) and evaluate one arm under one seed; returns its row."""
    run_dir = output_dir / "runs" / f"{arm.name}-seed{seed}"
    results_path = run_dir / "evaluation" / "results.json"
    row_path = run_dir / "row.json"
    if row_path.is_file() and results_path.is_file():
        return json.loads(row_path.read_text())
    encoder, pretrain_seconds = reference_encoder, 0.0
    if arm.pretrained:
        encoder, pretrain_seconds = pretrain_arm(arm, seed, run_dir, data["clip_store"], protocol, device=device)
    started = time.perf_counter()
    results = run_evaluation(
        encoder, SUITES, run_dir / "evaluation", quick=protocol.quick, seed=seed, random_init=not arm.pretrained,
        suite_options=suite_options(data, protocol), device=device,
    )
    model, _ = load_checkpoint(encoder, random_init=not arm.pretrained, seed=seed)
    invariance = measure_invariance(model.to(device), deformation_pairs_of(protocol), image_size=protocol.image_size)
    row = {
        "arm": arm.name,
        "seed": seed,
        **measures_of(results),
        **invariance,
        "pretrain_seconds": None if pretrain_seconds is None else round(pretrain_seconds, 1),
        "evaluation_seconds": round(time.perf_counter() - started, 1),
    }
    write_json_atomic(row_path, row)
    return row


_DEFORMATION_PAIRS: dict[str, DeformationPairs] = {}


def deformation_pairs_of(protocol: StudyProtocol) -> DeformationPairs:
    """The invariance measure's held-out images, rendered once per protocol."""
    key = protocol.fingerprint()
    if key not in _DEFORMATION_PAIRS:
        _DEFORMATION_PAIRS[key] = deformation_pairs(
            protocol.invariance_items, size=protocol.frame_size, seed=protocol.data_seed, style=protocol.scene
        )
    return _DEFORMATION_PAIRS[key]


def measures_of(results: dict[str, Any]) -> dict[str, float]:
    """The study's measures (see ``protocol.MEASURES``) from an evaluation's results.json."""
    suites = results["suites"]
    (probe,) = suites["probe"]["results"].values()
    return {
        "knn_top1": probe["model"]["knn_top1"],
        "linear_top1": probe["model"]["linear_top1"],
        "corrupted_accuracy": suites["corruptions"]["results"]["mean_corrupted_accuracy"],
        "propagation_jf": suites["propagation"]["results"]["JF_mean"],
        "shape_bias": suites["shape-bias"]["results"]["shape_bias"],
    }


def raw_pixel_reference(stills: Path, seed: int, path: Path) -> dict[str, float]:
    """kNN and linear probes on raw pixels of the stills: what any encoder should beat. Computed once per study
    folder (``path``), as the runs are."""
    if path.is_file():
        return json.loads(path.read_text())
    result = evaluate_raw_pixels(load_image_dataset(str(stills)), seed=seed)
    reference = {"knn_top1": result["knn_top1"], "linear_top1": result["linear_top1"]}
    write_json_atomic(path, reference)
    return reference


def run_study(
    output_dir: str | os.PathLike, protocol: StudyProtocol, *, device: str = "cpu", progress: bool = False
) -> dict[str, Any]:
    """Run (or continue) the study in ``output_dir`` on ``device``; returns every row, the raw-pixel reference and
    timings."""
    output_dir = Path(output_dir)
    claim_folder(output_dir, protocol)
    started = time.perf_counter()
    data = prepare_data(output_dir / "data", protocol, progress=progress)
    data_seconds = time.perf_counter() - started
    arms = sorted(protocol.arms, key=lambda arm: not arm.pretrained)  # random init borrows a trained folder
    reference = next((arm for arm in arms if arm.pretrained), None)
    if reference is None:
        raise StudyError("the protocol has no pretrained arm; random init needs one's architecture to re-initialise")
    rows = []
    for seed in protocol.seeds:
        for arm in arms:
            logger.warning("study: arm %s, seed %d", arm.name, seed)
            reference_encoder = output_dir / "runs" / f"{reference.name}-seed{seed}" / "pretraining_run" / "encoder"
            rows.append(run_arm(arm, seed, output_dir, data, protocol, reference_encoder, device=device))
    return {
        "protocol": protocol.to_dict(),
        "fingerprint": protocol.fingerprint(),
        "rows": rows,
        "raw_pixels": raw_pixel_reference(data["stills"], protocol.data_seed, output_dir / "raw_pixels.json"),
        "data_seconds": round(data_seconds, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
    }

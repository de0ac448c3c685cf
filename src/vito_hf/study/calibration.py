"""Calibration: before any arm is compared, find the data and the scale at which the ``vito`` arm alone clearly learns.

A comparison between arms that all sit at chance says nothing. So the study first looks at the ``vito`` arm and
random initialisation only (never at another arm) under a sequence of attempts, each a whole protocol that changes
the data or the scale, until one clears :data:`BAR`; that protocol is then committed and every arm runs under it.
Every attempt is kept, in order, with what it changed and why, so no tuning is silent (``calibration.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..atomic_files import write_bytes_atomic, write_json_atomic
from ..evaluation.checkpoints import load_checkpoint
from ..evaluation.image_datasets import load_image_dataset
from ..evaluation.probe import compare_to_random_init
from .invariance import measure_invariance
from .protocol import ARMS, BAR, ROUND_1_PROTOCOL, StudyProtocol, clears_bar
from .runner import deformation_pairs_of, prepare_data, pretrain_arm

DATA_FIELDS = ("data_seed", "num_videos", "video_seconds", "frame_size", "scene", "probe_train_images",
               "probe_test_images", "propagation_sequences", "propagation_frames", "propagation_size")
"""The protocol fields the generated data depends on: attempts that share them share one data folder."""


@dataclass(frozen=True)
class Attempt:
    """One calibration step: a protocol, and why it was tried (what the attempts before it showed)."""

    name: str
    reason: str
    protocol: StudyProtocol
    seeds: int = 1
    """How many of the protocol's seeds it runs; the bar applies to their mean. Attempts A-J ran one; round 2 showed
    why that is not enough (J cleared on its seed, the mean of three fell short)."""


def cleared(record: dict[str, Any]) -> bool:
    """Whether an attempt's ``vito`` kNN clears :data:`BAR`."""
    return clears_bar(record["vito"]["knn_top1"], record["random_init"]["knn_top1"], record["raw_pixels"]["knn_top1"])


def data_folder(root: Path, protocol: StudyProtocol) -> Path:
    fields = {name: asdict(protocol)[name] for name in DATA_FIELDS}
    return root / "data" / hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def run_attempt(attempt: Attempt, root: Path, *, device: str = "cpu") -> dict[str, Any]:
    """Pretrain the ``vito`` arm under the attempt's first ``attempt.seeds`` seeds; probe each, its random init and
    raw pixels on the held-out stills and measure invariance. The record holds each seed's figures and their means
    (what :func:`cleared` judges). A finished attempt's record is read back, not redone."""
    protocol = attempt.protocol
    record_path = root / "attempts" / f"{attempt.name}.json"
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if record["fingerprint"] == protocol.fingerprint() and record.get("seeds", 1) == attempt.seeds:
            return record
    started = time.perf_counter()
    data = prepare_data(data_folder(root, protocol), protocol)
    data_seconds = time.perf_counter() - started
    per_seed, pretraining_seconds = [], 0.0
    for index, seed in enumerate(protocol.seeds[: attempt.seeds]):
        run_dir = root / "attempts" / (attempt.name if index == 0 else f"{attempt.name}-seed{seed}")
        measures, seconds = _one_seed(protocol, seed, run_dir, data, device)
        per_seed.append({"seed": seed, **measures})
        pretraining_seconds += seconds or 0.0
    sources = ("vito", "random_init", "raw_pixels")
    record = {
        "name": attempt.name,
        "reason": attempt.reason,
        "fingerprint": protocol.fingerprint(),
        "protocol": protocol.to_dict(),
        "seeds": attempt.seeds,
        **{key: {measure: float(statistics.mean(run[key][measure] for run in per_seed)) for measure in per_seed[0][key]}
           for key in sources},
        "seconds": {"data": round(data_seconds, 1),
                    "pretraining": round(pretraining_seconds, 1),
                    "total": round(time.perf_counter() - started, 1)},
    }
    if attempt.seeds > 1:
        record["per_seed"] = per_seed
    record["cleared"] = cleared(record)
    write_json_atomic(record_path, record)
    return record


def _one_seed(
    protocol: StudyProtocol, seed: int, run_dir: Path, data: dict[str, Path], device: str
) -> tuple[dict[str, Any], float | None]:
    """The ``vito`` arm pretrained under ``seed``: its, its random init's and raw pixels' probes and invariance, and
    the pretraining time."""
    vito = next(arm for arm in ARMS if arm.name == "vito")
    encoder, pretrain_seconds = pretrain_arm(vito, seed, run_dir, data["clip_store"], protocol, device=device)
    model, image_processor = load_checkpoint(encoder)  # the processor saved beside it, as the probe suite reads
    model = model.to(device)
    probes = compare_to_random_init(
        model, load_image_dataset(str(data["stills"])), seed=seed, image_processor=image_processor
    )
    pairs = deformation_pairs_of(protocol)
    random_init, _ = load_checkpoint(encoder, random_init=True, seed=seed)
    invariance = {"vito": measure_invariance(model, pairs, image_size=protocol.image_size),
                  "random_init": measure_invariance(random_init.to(device), pairs, image_size=protocol.image_size)}
    measures = {key: {"knn_top1": probes[source]["knn_top1"], "linear_top1": probes[source]["linear_top1"],
                      **invariance.get(key, {})}
                for key, source in (("vito", "model"), ("random_init", "random_init"), ("raw_pixels", "raw_pixels"))}
    return measures, pretrain_seconds


def run_calibration(output_dir: str | os.PathLike, attempts: tuple[Attempt, ...], *, device: str = "cpu") -> list[dict]:
    """Run (or read back) every attempt in order; write ``calibration.json`` and ``calibration.md``."""
    root = Path(output_dir)
    records = [run_attempt(attempt, root, device=device) for attempt in attempts]
    write_json_atomic(root / "calibration.json", {"bar": BAR, "attempts": records})
    write_bytes_atomic(root / "calibration.md", calibration_table(records).encode())
    return records


def calibration_table(records: list[dict[str, Any]]) -> str:
    """One row per attempt: held-out kNN / linear of vito, random init and raw pixels, invariance, time, verdict."""
    lines = [
        "| attempt | seeds | vito kNN | random-init kNN | raw-pixel kNN | vito linear | random-init linear | "
        "vito deformation retrieval | random-init deformation retrieval | pretraining s | bar |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['name']} | {r.get('seeds', 1)} | {r['vito']['knn_top1']:.3f} | {r['random_init']['knn_top1']:.3f} | "
            f"{r['raw_pixels']['knn_top1']:.3f} | {r['vito']['linear_top1']:.3f} | "
            f"{r['random_init']['linear_top1']:.3f} | {r['vito']['deformation_retrieval']:.3f} | "
            f"{r['random_init']['deformation_retrieval']:.3f} | {r['seconds']['pretraining']:.0f} | "
            f"{'cleared' if r['cleared'] else 'not cleared'} |"
        )
    lines += ["", "Bar: vito kNN >= random init + {over_random_init} and >= raw pixels + {over_raw_pixels} "
              "(held-out items over held-out backgrounds; means over the attempt's seeds).".format(**BAR), ""]
    lines += [f"- **{r['name']}**: {r['reason']}" for r in records]
    return "\n".join(lines) + "\n"


def _style(**changes: Any) -> StudyProtocol:
    return replace(ROUND_1_PROTOCOL, scene=replace(ROUND_1_PROTOCOL.scene, **changes))


_TRACKING = dict(pan_speed=(0.3, 0.6), tint=0.1, item_size=(0.8, 1.0), zoom=(6.0, 12.0), occlusion_probability=0.2)
_TRACKING_SHOT = dict(panorama=True, pan_speed=(0.03, 0.06), item_size=(0.8, 1.0), zoom=(1.5, 3.0),
                      occlusion_probability=0.2)
CALIBRATION = (
    Attempt("A", "round 1's protocol as committed: the reference point (its arms all sat near chance)",
            ROUND_1_PROTOCOL),
    Attempt("B", "the background pans 5-10x faster, so views a second apart share less of it; paler items (tint "
            "0.15) so colour says less; larger items (0.6-0.8 of the frame)",
            _style(pan_speed=(0.3, 0.6), tint=0.15, item_size=(0.6, 0.8))),
    Attempt("C", "B gained nothing; also zoom 4-8 (a smaller, smoother piece of each photo: less clutter around "
            "the item), items 0.6-0.85, occluders in 30 % of the videos",
            _style(pan_speed=(0.3, 0.6), tint=0.15, item_size=(0.6, 0.85), zoom=(4.0, 8.0),
                   occlusion_probability=0.3)),
    Attempt("D", "C moved kNN up a little; push the same levers further: items 0.8-1.0, zoom 6-12, tint 0.1, "
            "occluders in 20 %", _style(**_TRACKING)),
    Attempt("E", "D with 1,000 steps instead of 400: does it need more training?",
            replace(_style(**_TRACKING), max_steps=1000)),
    Attempt("F", "E did not help kNN; D with 1,600 videos instead of 400: does it need more items?",
            replace(_style(**_TRACKING), num_videos=1600)),
    Attempt("G", "D's model retrieved an item over a new background worse than random init: it learned the "
            "background. A tracking shot instead: the camera pans across all the backgrounds side by side, so "
            "the background changes within a clip and only the item stays",
            _style(**_TRACKING_SHOT, tint=0.1)),
    Attempt("H", "G's model learned the item a little (retrieval above random init) but too little to classify: "
            "G at 96 px (the item ~80 px instead of ~55) with slower spin (10 degrees/s)",
            replace(_style(**_TRACKING_SHOT, tint=0.1, spin=10.0), frame_size=96, image_size=96)),
    Attempt("I", "in G and H the background changes within a clip, so what stays is the item's shape and its tint; "
            "the tint's hue is drawn at random per item and says nothing about the class, a shortcut that solves "
            "the contrast without learning shape: G with grey items (tint 0)",
            _style(**_TRACKING_SHOT, tint=0.0)),
    Attempt("J", "I's contrastive loss fell only from 22.7 to 16.9 in 400 steps (it barely tells the views of one clip "
            "from the others') and its model beat random init by +0.05 even on stills over plain grey (0.295 vs "
            "0.246): it is undertrained, not misled. I with 2,000 steps (about 8 minutes)",
            replace(_style(**_TRACKING_SHOT, tint=0.0), max_steps=2000)),
    Attempt("K", "round 2 ran J's protocol over 3 seeds: vito kNN 0.298 against random init's 0.163 (+0.135): J's "
            "+0.157 was one lucky seed, and its loss was still falling at 2,000 steps. J with 3,000 steps, judged "
            "from here on on the mean of 3 seeds",
            replace(_style(**_TRACKING_SHOT, tint=0.0), max_steps=3000), seeds=3),
)
"""Every calibration attempt, in the order it was run, with why (each run by ``run_study.py --calibrate``)."""

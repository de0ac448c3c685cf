"""The "saliency" suite: agreement of a model's saliency with human importance maps, and pictures of its maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..batched_inputs import preprocessing_path
from ..davis import folder_fingerprint
from ..features import resolve_processor
from ..image_inputs import load_rgb, suite_image_size
from ..metrics import load_metric
from ..offline_data import read_clip_frames
from ..pictures import plot_attention_maps
from ..results import SuiteResult, card_metric
from ..saliency import attention_maps, gradient_saliency, is_vito, model_saliency, read_clickme_style, write_clickme_style


def run_saliency_suite(
    model: torch.nn.Module,
    image_processor: object | None,
    *,
    output_dir: Path,
    quick: bool = False,
    seed: int = 0,
    clickme_root: str | Path | None = None,
    batch_size: int = 16,
) -> SuiteResult:
    """Spearman correlation of model saliency with human maps (``clickme_root``, else a generated stand-in), plus
    pictures of VITO's attention maps per pooled scale over those images and over frames of a real clip."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    size = suite_image_size(image_processor, quick)
    generated = clickme_root is None
    if generated:
        clickme_root = output_dir / "generated_data" / "clickme_style"
        if not (clickme_root / "images").is_dir():
            write_clickme_style(clickme_root, count=8 if quick else 64, seed=seed)
    image_paths, heatmap_paths = read_clickme_style(clickme_root)
    images = load_rgb(image_paths, size)
    saliency = np.concatenate([
        model_saliency(model, images[start : start + batch_size], size=size, image_processor=image_processor)
        for start in tqdm(range(0, len(images), batch_size), desc="saliency", leave=False)
    ])
    predictions, references = _at_human_map_size(saliency, heatmap_paths)
    result = load_metric("saliency_spearman").compute(predictions=predictions, references=references)
    clip = read_clip_frames("bikes.mp4", count=100, size=(size, size))[::20]
    pictures = _pictures(model, image_processor, size, {"images": images[:6], "clip": clip}, output_dir)
    name = "ClickMe-style stand-in (bikes frames + Fashion-MNIST, object-mask maps)" if generated else "ClickMe"
    method = "attention pooling maps" if is_vito(model) else "input gradients"
    return SuiteResult(
        dataset={"name": name, "path": str(clickme_root), "fingerprint": folder_fingerprint(clickme_root),
                 "images": len(image_paths)},
        settings={"saliency": method, "image_size": size,
                  "preprocessing": preprocessing_path(resolve_processor(image_processor, size))},
        protocol={
            "saliency": method,
            "resize": f"images resized (bicubic) to {size}x{size}; model maps resized (bilinear) to each human map",
            "score": "Spearman rank correlation per image, averaged",
        },
        results=result,
        metrics=[card_metric(
            result["spearman_mean"], task_type="image-classification",
            task_name="Saliency alignment with human importance maps",
            dataset_type="clickme-style" if generated else "clickme", dataset_name=name, metric_type="spearmanr",
            metric_name="Mean Spearman correlation with human maps",
        )],
        pictures=[str(Path(p).relative_to(output_dir)) for p in pictures],
    )


def _at_human_map_size(saliency: np.ndarray, heatmap_paths: list[Path]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Each model map resized (bilinear) to its human map, and the human maps, as float arrays."""
    predictions, references = [], []
    for path, model_map in zip(heatmap_paths, saliency):
        human = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
        resized = Image.fromarray(model_map.astype(np.float32)).resize(human.shape[::-1], Image.BILINEAR)
        predictions.append(np.asarray(resized))
        references.append(human)
    return predictions, references


def _pictures(model, image_processor, size: int, inputs: dict[str, np.ndarray], output_dir: Path) -> list[Any]:
    """VITO: attention maps per pooled scale; other models: input-gradient saliency; one picture per input set."""
    pictures = []
    scales = list(getattr(model.config, "pooled_stages", None) or []) if is_vito(model) else []
    for name, images in inputs.items():
        if is_vito(model):
            maps = attention_maps(model, images, size=size, image_processor=image_processor)
            labels = scales if len(scales) == len(maps) else [f"scale {i}" for i in range(len(maps))]
            pictures.append(plot_attention_maps(images, maps, output_dir / f"attention_{name}.png", scale_names=labels,
                                                title=f"Attention pooling maps ({name})"))
        else:
            maps = [gradient_saliency(model, images, size=size, image_processor=image_processor)]
            pictures.append(plot_attention_maps(images, maps, output_dir / f"saliency_{name}.png",
                                                scale_names=["input gradient"], title=f"Input-gradient saliency ({name})"))
    return pictures

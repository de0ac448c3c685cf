"""Shared pieces of the curation tests: the real sample clips and a tiny classifier whose top-1 we choose."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import ResNetConfig, ResNetForImageClassification
from transformers.models.convnext import ConvNextImageProcessorPil

from sample_clips import sample_clip_paths


def clip(name: str) -> Path:
    """A real sample clip by file name: bikes.mp4 (10 s, 25 fps) or carphone_pristine.mp4 (4 s)."""
    return next(p for p in sample_clip_paths() if p.name == name)


def tiny_classifier(
    folder: Path, labels: list[str], top1: int | None, *, processor: bool = True, image_size: int = 32,
    frame_dependent: bool = False,
) -> Path:
    """Save a real ResNet classifier of a few kilobytes whose top-1 is always label `top1`.

    Its last linear layer has zero weights and a one-hot bias, so every frame predicts `top1`.
    With `frame_dependent`, the layer keeps its random weights (and `top1` None): predictions
    then vary with the frame.
    """
    config = ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
        num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)},
        image_size=image_size,
    )
    model = ResNetForImageClassification(config)
    with torch.no_grad():
        head = model.classifier[1]
        if not frame_dependent:
            head.weight.zero_()
        head.bias.zero_()
        if top1 is not None:
            head.bias[top1] = 4.0
    model.save_pretrained(folder)
    if processor:
        ConvNextImageProcessorPil(
            size={"shortest_edge": image_size}, crop_pct=1.0,
            image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225],
        ).save_pretrained(folder)
    return folder


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

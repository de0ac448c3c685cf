"""Frozen-feature extraction through the checkpoint's image processor: preprocessing, determinism, batch
independence, model untouched, any transformers vision model, and the on-disk cache."""

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModel, ResNetConfig, ResNetModel, ViTConfig, ViTModel
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from evaluation_helpers import save_tiny_resnet
from vito_hf import VitoForImageClassification, VitoImageProcessor, VitoModel
from vito_hf.evaluation import (
    cached_features,
    evaluation_processor,
    fixed_size_processor,
    extract_features,
    images_to_pixel_values,
    load_image_dataset,
    model_content_hash,
)


@pytest.fixture(scope="module")
def digits():
    return load_image_dataset("digits", limit=40)


@pytest.fixture(scope="module")
def images(digits):
    return np.stack([np.asarray(image) for image in digits.test["image"]])


@pytest.fixture
def tiny_model(tiny_config):
    torch.manual_seed(0)
    return VitoModel(tiny_config)


def unnormalise(pixel_values, mean=IMAGENET_DEFAULT_MEAN, std=IMAGENET_DEFAULT_STD):
    return pixel_values * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(3, 1, 1)


def test_grayscale_images_become_normalised_rgb_through_the_processor():
    images = np.full((2, 8, 8), 128, dtype=np.uint8)
    images[1, :4] = 0
    pixel_values = images_to_pixel_values(images, image_processor=evaluation_processor(64))
    assert pixel_values.shape == (2, 3, 64, 64) and pixel_values.dtype == torch.float32
    unnormalised = unnormalise(pixel_values)
    # A flat gray image stays flat gray through resizing and cropping; the three channels carry the same gray.
    assert torch.allclose(unnormalised[0], torch.full((3, 64, 64), 128 / 255), atol=1e-6)
    assert torch.allclose(unnormalised[1, 0], unnormalised[1, 2], atol=1e-6)
    # The step edge is resampled without leaving the 0..1 range of an image. The processor resizes the short
    # side to 73 and crops the central 64: the edge (row 4 of 8) lands near row 36.5 - 4 = 32.5.
    assert unnormalised[1].min() >= -1e-6 and unnormalised[1].max() <= 1 + 1e-6
    assert torch.allclose(unnormalised[1, :, :24], torch.zeros(3, 24, 64), atol=1e-6)
    assert unnormalised[1, :, 38:].min() > 0.45
    # Without a processor: the evaluation preprocessing at 224 px.
    assert images_to_pixel_values(images).shape == (2, 3, 224, 224)
    with pytest.raises(ValueError, match="uint8"):
        images_to_pixel_values(images.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        images_to_pixel_values(np.zeros((2, 8, 8, 2), np.uint8))


def test_a_forced_size_keeps_the_whole_image_and_the_processors_normalisation():
    images = np.full((2, 8, 8), 128, dtype=np.uint8)
    images[1, :4] = 0
    whole = unnormalise(images_to_pixel_values(images, 64))
    # No crop: the black half is exactly the top 32 rows, up to the bicubic transition around row 32.
    assert torch.allclose(whole[1, :, :28], torch.zeros(3, 28, 64), atol=1e-6)
    assert whole[1, :, 36:].min() > 0.45
    half = VitoImageProcessor(image_mean=[0.5] * 3, image_std=[0.5] * 3)
    forced = images_to_pixel_values(images, 16, image_processor=half)
    assert forced.shape == (2, 3, 16, 16)
    assert torch.allclose(forced[0], torch.full((3, 16, 16), 128 / 255 * 2 - 1), atol=1e-5)
    explicit = images_to_pixel_values(images, 16, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    assert torch.equal(forced, explicit)


def test_arrays_pil_images_and_a_dataset_give_the_same_features(tiny_model, digits, images):
    processor = evaluation_processor(32)
    from_arrays = extract_features(tiny_model, images, image_processor=processor)
    from_pil = extract_features(tiny_model, [Image.fromarray(image) for image in images], image_processor=processor)
    from_dataset = extract_features(tiny_model, digits.test, image_processor=processor, batch_size=7)
    assert torch.equal(from_arrays, from_pil)
    assert torch.allclose(from_arrays, from_dataset, atol=1e-5)
    with pytest.raises(KeyError, match="no column 'pixels'"):
        extract_features(tiny_model, digits.test, image_column="pixels")


def test_features_are_deterministic_and_independent_of_the_batch_size(tiny_model, images):
    processor = evaluation_processor(32)
    full = extract_features(tiny_model, images, image_processor=processor, batch_size=64)
    assert full.shape == (40, tiny_model.num_features) and full.dtype == torch.float32
    assert torch.equal(full, extract_features(tiny_model, images, image_processor=processor, batch_size=64))
    small_batches = extract_features(tiny_model, images, image_processor=processor, batch_size=3)
    assert torch.allclose(full, small_batches, atol=1e-5)
    assert torch.allclose(full[7:19], extract_features(tiny_model, images[7:19], image_processor=processor), atol=1e-5)
    # The features tell the images apart (no collapse from the upsampling or normalisation).
    assert torch.pdist(full).min() > 0


def test_extraction_runs_in_eval_mode_and_leaves_the_model_as_it_was(tiny_model, images):
    processor = evaluation_processor(32)
    tiny_model.train()
    before = {name: tensor.clone() for name, tensor in tiny_model.state_dict().items()}
    in_train_mode = extract_features(tiny_model, images, image_processor=processor)
    assert tiny_model.training
    assert all(torch.equal(before[name], tensor) for name, tensor in tiny_model.state_dict().items())
    tiny_model.eval()
    assert torch.equal(in_train_mode, extract_features(tiny_model, images, image_processor=processor))
    assert not tiny_model.training


def test_image_processor_supplies_the_normalisation(tiny_model, images):
    processor = evaluation_processor(32)
    changed = evaluation_processor(32, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    reference = extract_features(tiny_model, images, image_processor=processor)
    assert not torch.allclose(reference, extract_features(tiny_model, images, image_processor=changed))
    # A forced size is the whole-image processor at that size, with the given processor's mean and std.
    forced = extract_features(tiny_model, images, image_size=32, image_processor=changed)
    assert torch.equal(forced, extract_features(
        tiny_model, images, image_processor=fixed_size_processor(32, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    ))
    assert not torch.allclose(forced, extract_features(tiny_model, images, image_processor=changed))


def test_any_transformers_vision_model_gives_pooled_features(images):
    torch.manual_seed(0)
    resnet = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    # Without a processor or size the default is 224 px, not anything read from the model's config.
    assert extract_features(resnet, images[:2]).shape == (2, 16)
    assert extract_features(resnet, images, image_size=32).shape == (40, 16)
    vit = ViTModel(ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             image_size=32, patch_size=8), add_pooling_layer=False)
    features = extract_features(vit, images, image_size=32)
    # No pooler: the CLS token of the last hidden state.
    with torch.inference_mode():
        pixel_values = images_to_pixel_values(images[:3], image_size=32)
        cls = vit.eval()(pixel_values=pixel_values).last_hidden_state[:, 0]
    assert features.shape == (40, 16) and torch.allclose(features[:3], cls, atol=1e-5)


def test_a_model_without_pooled_output_is_refused(tiny_config, images):
    classifier = VitoForImageClassification(tiny_config)
    with pytest.raises(TypeError, match="returns no pooler_output"):
        extract_features(classifier, images, image_size=32)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(classifier, images, batch_size=0)


def test_the_cache_is_hit_on_a_second_run_and_keyed_by_weights_data_and_preprocessing(tmp_path, digits):
    folder = save_tiny_resnet(tmp_path / "resnet")
    model = AutoModel.from_pretrained(folder)
    calls = []
    model.register_forward_hook(lambda module, args, output: calls.append(1))
    processor = evaluation_processor(32)
    cache = tmp_path / "cache"
    first, hit = cached_features(model, digits.test, image_column="image", image_processor=processor, cache_dir=cache)
    assert not hit and len(calls) == 1 and len(list(cache.glob("*.safetensors"))) == 1
    # A second run (even with the checkpoint reloaded from its folder) reads the features without a forward pass.
    reloaded = AutoModel.from_pretrained(folder)
    reloaded.register_forward_hook(lambda module, args, output: calls.append(1))
    second, hit = cached_features(
        reloaded, digits.test, image_column="image", image_processor=processor, cache_dir=cache
    )
    assert hit and len(calls) == 1 and torch.equal(first, second)
    # Other weights, other data and other preprocessing each miss.
    with torch.no_grad():
        next(reloaded.parameters()).add_(0.1)
    assert model_content_hash(reloaded) != model_content_hash(model)
    same = dict(image_column="image", image_processor=processor, cache_dir=cache)
    assert not cached_features(reloaded, digits.test, **same)[1]
    assert not cached_features(model, digits.train, **same)[1]
    assert not cached_features(model, digits.test, image_column="image", image_size=16, cache_dir=cache)[1]
    assert len(list(cache.glob("*.safetensors"))) == 4 and not list(cache.glob(".*tmp"))
    # A damaged entry is recomputed, not trusted.
    for path in cache.glob("*.safetensors"):
        path.write_bytes(b"not a safetensors file")
    again, hit = cached_features(model, digits.test, image_column="image", image_processor=processor, cache_dir=cache)
    assert not hit and torch.equal(again, first)


def test_suites_read_the_input_size_of_a_saved_vito_processor(tmp_path):
    """transformers 5 loads sizes as `SizeDict`s (not dicts): the corruptions, shape-bias and saliency suites must
    still run a checkpoint at its own size, not fall back to 224 px."""
    from transformers import AutoImageProcessor

    from vito_hf.evaluation.features import evaluation_processor, fixed_size_processor
    from vito_hf import VitoImageProcessor

    evaluation_processor(64).save_pretrained(tmp_path / "crop")
    fixed_size_processor(48).save_pretrained(tmp_path / "resize")
    assert VitoImageProcessor.image_size_of(AutoImageProcessor.from_pretrained(tmp_path / "crop")) == 64
    assert VitoImageProcessor.image_size_of(AutoImageProcessor.from_pretrained(tmp_path / "resize")) == 48
    assert VitoImageProcessor.image_size_of(None) == 224


# ---- features per architecture, against facebookresearch/dino (vision_transformer.py, eval_knn.py) ---------------


def dino_vit_feature(vit: ViTModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """VisionTransformer.forward of DINO, on a transformers ViT's modules: prepare_tokens (patch embedding, CLS,
    positions), every block, the final norm, then the CLS token: what eval_knn calls a ViT's feature."""
    x = vit.embeddings(pixel_values)
    for block in vit.layers:
        x = block(x)
    return vit.layernorm(x)[:, 0]


def dino_resnet_feature(resnet: ResNetModel, pixel_values: torch.Tensor) -> torch.Tensor:
    """eval_knn's torchvision ResNet with fc = Identity: the global average of the last stage."""
    x = resnet.embedder(pixel_values)
    for stage in resnet.encoder.stages:
        x = stage(x)
    return x.mean(dim=(2, 3))


def test_a_vit_gives_dinos_layer_normed_cls_token_not_its_tanh_pooler(images):
    from vito_hf.evaluation.features import feature_protocol

    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                             image_size=32, patch_size=8))  # with transformers' default pooler: tanh(dense(CLS))
    features = extract_features(vit, images[:6], image_size=32)
    with torch.inference_mode():
        pixel_values = images_to_pixel_values(images[:6], image_size=32)
        reference = dino_vit_feature(vit.eval(), pixel_values)
        pooler = vit(pixel_values=pixel_values).pooler_output
    torch.testing.assert_close(features, reference, atol=1e-5, rtol=1e-5)
    assert (features - pooler).abs().max() > 0.1
    assert feature_protocol(vit)["features"] == "cls_token"


def test_a_resnet_gives_the_global_average_of_its_last_stage(images):
    from vito_hf.evaluation.features import feature_protocol

    torch.manual_seed(0)
    resnet = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    features = extract_features(resnet, images[:6], image_size=32)
    with torch.inference_mode():
        reference = dino_resnet_feature(resnet.eval(), images_to_pixel_values(images[:6], image_size=32))
    torch.testing.assert_close(features, reference, atol=1e-5, rtol=1e-5)
    assert feature_protocol(resnet)["features"] == "pooler_output"


def test_the_feature_choice_is_part_of_the_cache_key(images, tmp_path, monkeypatch):
    from vito_hf.evaluation import features as features_module

    vit = ViTModel(ViTConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             image_size=32, patch_size=8))
    data = load_image_dataset("digits", limit=20).test
    cls, _ = cached_features(vit, data, image_column="image", image_size=32, cache_dir=tmp_path)
    monkeypatch.setitem(features_module.FEATURES_BY_MODEL_TYPE, "vit", "pooler_output")
    pooled, hit = cached_features(vit, data, image_column="image", image_size=32, cache_dir=tmp_path)
    assert not hit and not torch.allclose(cls, pooled)

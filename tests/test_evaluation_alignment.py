"""Human alignment: shape bias (metric, WordNet mapping, cue-conflict stimuli, suite) and saliency Spearman."""

import math

import numpy as np
import pytest
from huggingface_hub import EvalResult
from PIL import Image

from vito_hf import VitoModel, load_preset
from vito_hf.evaluation.cue_conflict import (
    cue_conflict_categories,
    cue_conflict_stimulus,
    imagenet_category_indices,
    imagenet_to_category_decisions,
    parse_cue_conflict_name,
    read_cue_conflict,
    write_fashion_cue_conflict,
)
from vito_hf.evaluation.metrics import load_metric
from vito_hf.evaluation.saliency import read_clickme_style, write_clickme_style
from vito_hf.evaluation.suites.saliency import run_saliency_suite
from vito_hf.evaluation.suites.shape_bias import run_shape_bias_suite


def test_shape_bias_on_a_toy_decision_table():
    # (prediction, shape, texture): shape, texture, neither, no conflict (left out), shape.
    trials = [("cat", "cat", "dog"), ("dog", "cat", "dog"), ("car", "cat", "dog"), ("bird", "bird", "bird"),
              ("knife", "knife", "oven")]
    predictions, shapes, textures = map(list, zip(*trials))
    result = load_metric("shape_bias").compute(
        predictions=predictions, shape_labels=shapes, texture_labels=textures
    )
    assert result["shape_bias"] == pytest.approx(2 / 3)
    assert result["conflict_trials"] == 4 and result["cue_decisions"] == 3
    assert result["shape_match"] == pytest.approx(2 / 4) and result["texture_match"] == pytest.approx(1 / 4)
    assert result["per_category"] == {"cat": pytest.approx(1 / 2), "knife": 1.0}


def test_shape_bias_is_undefined_without_cue_decisions():
    result = load_metric("shape_bias").compute(predictions=["car"], shape_labels=["cat"], texture_labels=["dog"])
    assert math.isnan(result["shape_bias"]) and result["cue_decisions"] == 0


def test_wordnet_mapping_gives_the_benchmarks_imagenet_classes():
    indices = imagenet_category_indices()
    assert len(indices) == 16 and all(indices.values())
    # The index lists published by the model-vs-human benchmark for these categories.
    assert indices["airplane"] == (404,)
    assert indices["bear"] == (294, 295, 296, 297)
    assert indices["car"] == (436, 511, 817)
    assert indices["truck"] == (555, 569, 656, 675, 717, 734, 864, 867)
    assert len(indices["bird"]) == 49 and len(indices["dog"]) == 109
    assert len(cue_conflict_categories()["truck"]) == 14  # WordNet ids outside ImageNet-1k are kept, not mapped


def test_decision_is_the_highest_mean_probability_of_a_category():
    probabilities = np.zeros((2, 1000))
    probabilities[0, 404] = 0.9
    # Dogs hold 0.545 in total over 109 classes (mean 0.005); the knife's one class holds 0.1: the mean decides.
    probabilities[1, list(imagenet_category_indices()["dog"])] = 0.005
    probabilities[1, 499] = 0.1
    assert imagenet_to_category_decisions(probabilities) == ["airplane", "knife"]
    with pytest.raises(ValueError, match="1000"):
        imagenet_to_category_decisions(np.zeros((1, 10)))


def test_cue_conflict_names():
    assert parse_cue_conflict_name("airplane1-bicycle2.png") == ("airplane", "bicycle")
    assert parse_cue_conflict_name("ankleboot12-tshirt3.png") == ("ankleboot", "tshirt")
    with pytest.raises(ValueError, match="cue-conflict name"):
        parse_cue_conflict_name("airplane-bicycle.png")


def test_stimulus_has_the_shape_silhouette_and_the_texture_inside():
    shape = np.zeros((28, 28), dtype=np.uint8)
    shape[4:24, 10:18] = 200  # a bar
    texture = np.tile(np.array([[90, 250]], dtype=np.uint8), (28, 14))  # vertical stripes
    stimulus = cue_conflict_stimulus(shape, texture, scale=2)
    assert stimulus.shape == (56, 56)
    inside = stimulus[12:44, 24:32]
    assert set(np.unique(inside)) == {90, 250}  # the stripes
    assert stimulus[:6].max() == 0 and stimulus[:, :18].max() == 0  # black outside the silhouette


def test_generated_cue_conflict_set_has_the_benchmark_layout(tmp_path):
    write_fashion_cue_conflict(tmp_path, per_pair=1)
    paths, shapes, textures = read_cue_conflict(tmp_path)
    assert len(paths) == 90 and all(s != t for s, t in zip(shapes, textures))
    assert all(p.parent.name == s for p, s in zip(paths, shapes))
    assert Image.open(paths[0]).size == (112, 112)


def test_shape_bias_suite_with_a_probe_on_a_vito_checkpoint(tmp_path):
    result = run_shape_bias_suite(VitoModel(load_preset("tiny")), None, output_dir=tmp_path, quick=True)
    assert result.settings["decision"] == "probe"
    assert result.results["conflict_trials"] == 90
    bias = result.results["shape_bias"]
    assert bias is None or 0.0 <= bias <= 1.0
    assert (tmp_path / result.pictures[0]).is_file()
    for metric in result.metrics:
        EvalResult(**metric)


def test_shape_bias_suite_maps_an_imagenet_head_through_wordnet(tmp_path):
    from transformers import ResNetConfig, ResNetForImageClassification

    frames = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 3), dtype=np.uint8)
    for k, name in enumerate(["cat1-dog1.png", "dog2-cat3.png", "knife1-oven2.png", "car4-truck5.png"]):
        Image.fromarray(frames[k]).save(tmp_path / name)
    model = ResNetForImageClassification(
        ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=1000)
    )
    result = run_shape_bias_suite(model, None, output_dir=tmp_path / "out", quick=True, cue_conflict_root=tmp_path)
    assert result.settings["decision"] == "imagenet"
    assert result.results["conflict_trials"] == 4
    with pytest.raises(ValueError, match="clean_root"):
        run_shape_bias_suite(model, None, output_dir=tmp_path / "out", quick=True, cue_conflict_root=tmp_path,
                             decision="probe")


def test_spearman_on_toy_maps():
    # Ranks 1,2,3,4 against 1,2,4,3: sum of squared rank differences 2, rho = 1 - 6*2 / (4*15) = 0.8.
    metric = load_metric("saliency_spearman")
    result = metric.compute(
        predictions=[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], [[5.0, 5.0], [5.0, 5.0]]],
        references=[[[1.0, 2.0], [4.0, 3.0]], [[4.0, 3.0], [2.0, 1.0]], [[1.0, 2.0], [3.0, 4.0]]],
    )
    assert result["per_image"] == [pytest.approx(0.8), pytest.approx(-1.0), 0.0]
    assert result["spearman_mean"] == pytest.approx((0.8 - 1.0 + 0.0) / 3)


def test_clickme_style_folder(tmp_path):
    write_clickme_style(tmp_path, count=3, size=64)
    images, heatmaps = read_clickme_style(tmp_path)
    assert [p.stem for p in images] == [p.stem for p in heatmaps] == ["0000", "0001", "0002"]
    heat = np.asarray(Image.open(heatmaps[0]))
    assert heat.max() == 255 and heat.min() < 50
    heatmaps[1].unlink()
    with pytest.raises(FileNotFoundError, match="no heatmap"):
        read_clickme_style(tmp_path)


def test_saliency_suite_uses_attention_for_vito_and_gradients_otherwise(tmp_path):
    from transformers import ResNetConfig, ResNetModel

    vito = run_saliency_suite(VitoModel(load_preset("tiny")), None, output_dir=tmp_path / "vito", quick=True)
    assert vito.settings["saliency"] == "attention pooling maps"
    assert vito.pictures == ["attention_images.png", "attention_clip.png"]
    (metric,) = vito.metrics
    assert EvalResult(**metric).metric_value == vito.results["spearman_mean"]
    assert -1.0 <= vito.results["spearman_mean"] <= 1.0 and len(vito.results["per_image"]) == 8
    resnet = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    other = run_saliency_suite(resnet, None, output_dir=tmp_path / "resnet", quick=True)
    assert other.settings["saliency"] == "input gradients"
    for picture in other.pictures:
        assert (tmp_path / "resnet" / picture).is_file()

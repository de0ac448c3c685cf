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
    assert result["trials"] == 5 and result["conflict_trials"] == 4 and result["cue_decisions"] == 3
    # As model-vs-human's fraction-correct-shape/texture: over all trials, the no-conflict one included.
    assert result["match_denominator"] == "all_trials"
    assert result["shape_match"] == pytest.approx(2 / 5) and result["texture_match"] == pytest.approx(1 / 5)
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
    assert parse_cue_conflict_name("0001_dog10-bird2.png") == ("dog", "bird")
    assert parse_cue_conflict_name("session-1_0004_cl_cat7-knife3.jpg") == ("cat", "knife")
    with pytest.raises(ValueError, match="cue-conflict name"):
        parse_cue_conflict_name("airplane.png")
    with pytest.raises(ValueError, match="cue-conflict name"):
        parse_cue_conflict_name("dog10-bird2-extra.png")


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
    stimuli = read_cue_conflict(tmp_path)
    assert len(stimuli.paths) == 90 and all(s != t for s, t in zip(stimuli.shapes, stimuli.textures))
    assert all(p.name.startswith(s) for p, s in zip(stimuli.paths, stimuli.shapes)) and not stimuli.skipped
    assert Image.open(stimuli.paths[0]).size == (112, 112)


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

    frames = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)
    names = ["cat/cat1-dog1.png", "dog/0002_dog2-cat3.png", "knife/knife1-oven2.png", "car/car4-truck5.png",
             "car/thumbnail.png"]
    for k, name in enumerate(names):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(frames[k]).save(tmp_path / name)
    model = ResNetForImageClassification(
        ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=1000)
    )
    result = run_shape_bias_suite(model, None, output_dir=tmp_path / "out", quick=True, cue_conflict_root=tmp_path)
    assert result.settings["decision"] == "imagenet"
    assert result.results["conflict_trials"] == 4 and result.results["skipped_files"] == 1
    assert result.details["skipped_files"] == ["car/thumbnail.png"]
    assert [trial["texture"] for trial in result.details["trials"]] == ["truck", "dog", "cat", "oven"]
    assert "folder" in result.protocol["stimulus_names"] and "all trials" in result.protocol["fractions"]
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


# ---- parity with bethgelab/model-vs-human (modelvshuman/plotting/analyses.py, datasets/info_mappings.py) ----------


def reference_texture_category(imagename: str) -> str:
    """ShapeBias.get_texture_category: last '_' part, before the first '.', last '-' part, digits removed."""
    word = imagename.split("_")[-1].split(".")[0].split("-")[-1]
    return "".join(character for character in word if not character.isdigit())


def reference_shape_bias(rows: list[tuple[str, str, str]]) -> dict[str, float]:
    """ShapeBias.analysis over (imagename, category, object_response) rows; category = the image's folder
    (ImageNetInfoMapping). Conflict rows are those whose category differs from the texture; both fractions are
    divided by the number of all rows."""
    conflict = [(category, reference_texture_category(name), response) for name, category, response in rows
                if category != reference_texture_category(name)]
    fraction_shape = sum(response == shape for shape, _, response in conflict) / len(rows)
    fraction_texture = sum(response == texture for _, texture, response in conflict) / len(rows)
    decided = fraction_shape + fraction_texture
    return {"fraction-correct-shape": fraction_shape, "fraction-correct-texture": fraction_texture,
            "shape-bias": fraction_shape / decided if decided else float("nan")}


def test_prefixed_stimulus_names_are_read_as_model_vs_human_reads_them(tmp_path):
    names = [
        "cat/cat1-dog2.png", "cat/0001_cat3-bird2.png", "cat/session-1_0007_cl_cat4-cat9.png",
        "dog/dog10-bird2.png", "dog/0004_dog5-knife1.jpg", "bird/bird2-cat1.png", "bird/xx_yy_bird3-dog7.png",
        "knife/knife2-knife3.png",
    ]
    for name in [*names, "stray1-dog2.png", "dog/notes.png", "dog/readme.txt"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / name, format="PNG")
    stimuli = read_cue_conflict(tmp_path)
    read = {p.relative_to(tmp_path).as_posix(): (s, t) for p, s, t in zip(stimuli.paths, stimuli.shapes, stimuli.textures)}
    assert sorted(read) == sorted(names)
    for name, (shape, texture) in read.items():
        folder, imagename = name.split("/")
        assert (shape, texture) == (folder, reference_texture_category(imagename))
    # Outside the layout: an image beside the category folders and a name without <shape>-<texture>.
    assert stimuli.skipped == ["dog/notes.png", "stray1-dog2.png"]

    rng = np.random.default_rng(0)
    categories = ["cat", "dog", "bird", "knife", "oven"]
    for _ in range(20):
        responses = [str(rng.choice(categories)) for _ in names]
        ours = load_metric("shape_bias").compute(predictions=responses, shape_labels=stimuli.shapes,
                                                 texture_labels=stimuli.textures)
        rows = [(p.name, p.parent.name, r) for p, r in zip(stimuli.paths, responses)]
        reference = reference_shape_bias(rows)
        assert ours["shape_match"] == pytest.approx(reference["fraction-correct-shape"])
        assert ours["texture_match"] == pytest.approx(reference["fraction-correct-texture"])
        if ours["cue_decisions"]:
            assert ours["shape_bias"] == pytest.approx(reference["shape-bias"])


def test_a_folder_where_nothing_parses_is_an_error(tmp_path):
    (tmp_path / "cat").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "cat" / "photo.png")
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "cat1-dog2.png")
    with pytest.raises(FileNotFoundError, match="no cue-conflict stimuli.*'cat/photo.png' does not fit"):
        read_cue_conflict(tmp_path)

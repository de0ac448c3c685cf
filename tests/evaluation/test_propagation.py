"""Label propagation: the DAVIS layout, the generated sequence, the propagation step and the suite on real models."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vito_hf import VitoModel, load_preset
from vito_hf.evaluation.davis import davis_palette, read_davis, write_davis_sequence
from vito_hf.evaluation.propagation import (
    PropagationProtocol,
    evaluate_sequences,
    frame_feature_maps,
    propagate_step,
)
from vito_hf.evaluation.suites.propagation import run_propagation_suite
from vito_hf.evaluation.synthetic_davis import write_synthetic_davis


NATIVE_SIZE = PropagationProtocol(short_side=None)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    return write_synthetic_davis(
        tmp_path_factory.mktemp("davis"), num_sequences=2, num_frames=8, height=64, num_objects=2
    )


def test_written_sequence_reads_back_in_the_davis_layout(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 16, 24, 3), dtype=np.uint8)
    labels = np.zeros((3, 16, 24), dtype=np.int64)
    labels[:, 2:6, 3:9] = 1
    labels[:, 8:12, 10:20] = 2
    write_davis_sequence(tmp_path, "toy", frames, labels)
    (sequence,) = read_davis(tmp_path)
    assert sequence.name == "toy" and len(sequence.frames) == 3
    assert (tmp_path / "JPEGImages/480p/toy/00000.jpg").is_file()
    annotation = Image.open(tmp_path / "Annotations/480p/toy/00002.png")
    assert annotation.mode == "P"
    assert annotation.getpalette()[3:9] == [128, 0, 0, 0, 128, 0] == davis_palette()[3:9]
    np.testing.assert_array_equal(sequence.read_annotations(), labels)
    assert sequence.read_frames().shape == frames.shape
    assert (tmp_path / "ImageSets/2017/val.txt").read_text().split() == ["toy"]


def test_reader_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_davis(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="ImageSets/2017/val.txt"):
        read_davis(tmp_path)
    (tmp_path / "JPEGImages/480p/seq").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "JPEGImages/480p/seq/00000.jpg")
    with pytest.raises(FileNotFoundError, match="has no annotation"):
        read_davis(tmp_path, sequences=["seq"])


def test_only_annotated_inner_frames_are_scored(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (4, 16, 24, 3), dtype=np.uint8)
    labels = np.zeros((4, 16, 24), dtype=np.int64)
    for t in range(4):
        labels[t, 4:12, 2 + 4 * t : 10 + 4 * t] = 1  # the object moves 4 px a frame
    write_davis_sequence(tmp_path, "toy", frames, labels)
    (tmp_path / "Annotations/480p/toy/00001.png").unlink()
    (sequence,) = read_davis(tmp_path)

    def oracle(video):
        return oracle_features(labels, stride=2, noise=0.0, seed=0)

    # The oracle's features are laid out on the frames' own size, so they are not resized (short_side=None).
    result, predictions = evaluate_sequences([sequence], oracle, protocol=NATIVE_SIZE)
    # Frame 0 is given, frame 3 is the last and frame 1 has no annotation: only frame 2 is scored, against its own
    # annotation (pairing annotations with frames by position would compare frame 1 with frame 2's mask).
    assert predictions["toy"].shape == (4, 16, 24)
    assert result["JF_mean"] == 1.0


def test_generated_sequence_has_moving_objects_with_exact_masks(synthetic_root):
    sequences = read_davis(synthetic_root)
    assert [s.name for s in sequences] == ["bikes-items-0", "bikes-items-1"]
    labels = sequences[0].read_annotations()
    assert labels.shape == (8, 64, 114) and set(np.unique(labels)) == {0, 1, 2}
    centres = [np.argwhere(labels[t] == 1).mean(0) for t in (0, 7)]
    assert np.abs(centres[1] - centres[0]).max() > 5  # the object moves
    frames = sequences[0].read_frames().astype(np.float32)
    # Footage differs between frames outside the objects (real video), not just a static background.
    background = (labels[0] == 0) & (labels[1] == 0)
    assert np.abs(frames[1] - frames[0])[background].mean() > 1.0


def brute_force_step(query, keys, key_labels, radius, topk, temperature):
    """Per query location: all context locations in the square window, top-k, softmax weights (DINO's rule)."""
    contexts, _, height, width = keys.shape
    result = torch.zeros(key_labels.shape[1], height, width)
    for y in range(height):
        for x in range(width):
            candidates = []
            for n in range(contexts):
                for ky in range(max(0, y - radius), min(height, y + radius + 1)):
                    for kx in range(max(0, x - radius), min(width, x + radius + 1)):
                        candidates.append((float(query[:, y, x] @ keys[n, :, ky, kx]), key_labels[n, :, ky, kx]))
            candidates.sort(key=lambda c: -c[0])
            best = candidates[:topk]
            weights = torch.softmax(torch.tensor([s for s, _ in best]) / temperature, 0)
            result[:, y, x] = sum(w * label for w, (_, label) in zip(weights, best))
    return result


@pytest.mark.parametrize("radius", [1, 2, 10])
def test_banded_step_equals_brute_force(radius):
    generator = torch.Generator().manual_seed(radius)
    query = F.normalize(torch.randn(6, 5, 7, generator=generator), dim=0)
    keys = F.normalize(torch.randn(3, 6, 5, 7, generator=generator), dim=1)
    key_labels = torch.rand(3, 4, 5, 7, generator=generator)
    fast = propagate_step(query, keys, key_labels, radius=radius, topk=4, temperature=0.1)
    slow = brute_force_step(query, keys, key_labels, radius, 4, 0.1)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def oracle_features(labels: np.ndarray, stride: int, noise: float, seed: int) -> torch.Tensor:
    """Features that separate the objects: the area-pooled one-hot of the true masks plus Gaussian noise."""
    one_hot = torch.from_numpy(labels[:, None] == np.arange(labels.max() + 1)[None, :, None, None]).float()
    pooled = F.avg_pool2d(one_hot, stride)
    generator = torch.Generator().manual_seed(seed)
    return pooled + noise * torch.randn(pooled.shape, generator=generator)


def test_propagation_recovers_known_masks_from_a_separating_feature(synthetic_root):
    sequences = read_davis(synthetic_root)
    labels_of = {s.read_frames().tobytes(): s.read_annotations() for s in sequences}

    def oracle(frames):
        return oracle_features(labels_of[frames.tobytes()], stride=2, noise=0.1, seed=0)

    def noise_only(frames):
        return torch.randn(oracle(frames).shape, generator=torch.Generator().manual_seed(0))

    # Objects move at most 4 feature cells a frame here; a radius of 5 cells keeps the test fast.
    result, predictions = evaluate_sequences(sequences, oracle, radius=5, protocol=NATIVE_SIZE)
    assert result["JF_mean"] >= 0.9
    assert set(np.unique(predictions["bikes-items-0"][5])) == {0, 1, 2}
    control, _ = evaluate_sequences(sequences, noise_only, radius=5, protocol=NATIVE_SIZE)
    assert control["JF_mean"] < 0.6


def test_feature_maps_of_a_vit_are_laid_out_on_the_patch_grid():
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, patch_size=8, image_size=32
    )
    model = ViTModel(config, add_pooling_layer=False)
    # DAVIS frames are wider than the square the ViT was built for: positions are interpolated to the 4 x 6 grid.
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 48, 3), dtype=np.uint8)
    maps = frame_feature_maps(model, frames)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    pixels = (torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255 - mean) / std
    with torch.no_grad():
        tokens = model(pixel_values=pixels, interpolate_pos_encoding=True).last_hidden_state
    assert tokens.shape[1] == 25  # CLS + 4 x 6 patches: the CLS token is dropped
    assert maps.shape == (2, 16, 4, 6)
    torch.testing.assert_close(maps[:, :, 1, 2], tokens[:, 1 + 1 * 6 + 2])  # row 1, column 2 of the patch grid


def test_default_maps_are_the_stride_16_stage_of_convolutional_models():
    from transformers import ResNetConfig, ResNetModel

    frames = np.random.default_rng(0).integers(0, 256, (2, 64, 96, 3), dtype=np.uint8)
    vito = VitoModel(load_preset("tiny"))  # pooled stages: stage3 (64 channels, stride 16), stage4 (128, stride 32)
    assert frame_feature_maps(vito, frames).shape == (2, 64, 4, 6)
    assert frame_feature_maps(vito, frames, hidden_state_index=-1).shape == (2, 128, 2, 3)
    resnet = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1]))
    assert frame_feature_maps(resnet, frames).shape == (2, 24, 4, 6)


def test_suite_runs_on_a_saved_vito_checkpoint(tmp_path):
    from transformers import AutoImageProcessor, AutoModel

    from vito_hf import VitoImageProcessor

    VitoModel(load_preset("tiny")).save_pretrained(tmp_path / "model")
    VitoImageProcessor().save_pretrained(tmp_path / "model")
    model = AutoModel.from_pretrained(tmp_path / "model")
    processor = AutoImageProcessor.from_pretrained(tmp_path / "model")
    result = run_propagation_suite(model, processor, output_dir=tmp_path / "out", quick=True)
    assert 0.0 <= result.results["JF_mean"] <= 1.0 and "protocol" not in result.results
    assert len(result.dataset["fingerprint"]) == 64
    protocol = result.protocol
    assert protocol["propagation"]["short_side"] == 192  # quick: DINO's rule at a 192 px short side
    assert protocol["propagation"]["seed_labels"] == "one-hot" and protocol["propagation"]["image_std"][0] == 0.228
    assert protocol["scoring"]["frames_scored"] == "all but the first and last of each sequence"
    assert "stride 16" in protocol["features"]
    assert {m["metric_type"] for m in result.metrics} == {"j-and-f", "jaccard", "f-measure"}
    for picture in result.pictures:
        assert (tmp_path / "out" / picture).stat().st_size > 1000
    from huggingface_hub import EvalResult

    for metric in result.metrics:
        EvalResult(**metric)


def test_suite_runs_on_a_transformers_resnet(tmp_path):
    from transformers import ResNetConfig, ResNetModel

    model = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    result = run_propagation_suite(model, None, output_dir=tmp_path, quick=True, max_sequences=1)
    assert result.settings["sequences"] == ["bikes-items-0"]
    assert 0.0 <= result.results["J_mean"] <= 1.0

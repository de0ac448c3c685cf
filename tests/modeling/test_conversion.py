"""Conversion of the public VITO release and of torchvision ResNet-50 weights (modeling/convert_*_to_hf.py),
checked against independent forwards written here with plain torch.nn.functional calls."""

import hashlib
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub import ModelCard

from vito_hf import VitoModel, load_preset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "modeling"))
from convert_torchvision_resnet_to_hf import ConversionError, convert_torchvision_resnet, main as torchvision_main  # noqa: E402
from convert_vito_release_to_hf import convert_vito_release  # noqa: E402

BLOCKS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
IMAGE = 64


def torchvision_resnet50_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every key of torchvision's ResNet-50, random weights of the right shapes (He-scaled convolutions,
    positive batch-norm variances), so activations stay O(1) through 16 blocks."""
    state = {}

    def conv(name, out_channels, in_channels, kernel):
        fan_in = in_channels * kernel * kernel
        state[name] = torch.randn(out_channels, in_channels, kernel, kernel, generator=generator) * math.sqrt(2 / fan_in)

    def bn(name, channels, scale=1.0):
        state[f"{name}.weight"] = (0.5 + torch.rand(channels, generator=generator)) * scale
        state[f"{name}.bias"] = 0.1 * torch.randn(channels, generator=generator)
        state[f"{name}.running_mean"] = 0.1 * torch.randn(channels, generator=generator)
        state[f"{name}.running_var"] = 0.5 + torch.rand(channels, generator=generator)
        state[f"{name}.num_batches_tracked"] = torch.tensor(1000)

    conv("conv1.weight", 64, 3, 7)
    bn("bn1", 64)
    in_channels = 64
    for stage, (blocks, width) in enumerate(zip(BLOCKS, WIDTHS), start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            conv(f"{prefix}.conv1.weight", width, in_channels, 1)
            bn(f"{prefix}.bn1", width)
            conv(f"{prefix}.conv2.weight", width, width, 3)
            bn(f"{prefix}.bn2", width)
            conv(f"{prefix}.conv3.weight", 4 * width, width, 1)
            bn(f"{prefix}.bn3", 4 * width, scale=0.2)
            if block == 0:
                conv(f"{prefix}.downsample.0.weight", 4 * width, in_channels, 1)
                bn(f"{prefix}.downsample.1", 4 * width)
            in_channels = 4 * width
    state["fc.weight"] = 0.02 * torch.randn(1000, 2048, generator=generator)
    state["fc.bias"] = 0.02 * torch.randn(1000, generator=generator)
    return state


def release_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    state = torchvision_resnet50_state(generator)
    state["avgpool.module_list.0.weight"] = torch.randn(4096, 2048, 1, 1, generator=generator) / math.sqrt(2048)
    state["avgpool.module_list.0.bias"] = 0.1 * torch.randn(4096, generator=generator)
    state["avgpool.module_list.2.weight"] = torch.randn(2048, 4096, 1, 1, generator=generator) / math.sqrt(4096)
    state["avgpool.module_list.2.bias"] = 0.1 * torch.randn(2048, generator=generator)
    state["avgpool.module_list.4.weight"] = torch.randn(1, 2048, 1, 1, generator=generator) / math.sqrt(2048)
    return state


def same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """TensorFlow SAME padding, written out: total = max((ceil(n/s) - 1) s + k - n, 0), the extra pixel after."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


def reference_resnet50(state, x: torch.Tensor, same: bool) -> list[torch.Tensor]:
    """Independent ResNet-50 v1.5 forward (stride on the 3x3 conv) with F.* calls; returns conv4_x and conv5_x."""

    def bn(name, h):
        return F.batch_norm(h, state[f"{name}.running_mean"], state[f"{name}.running_var"], state[f"{name}.weight"],
                            state[f"{name}.bias"], training=False, eps=1e-5)

    def conv(name, h, stride=1):
        weight = state[name]
        kernel = weight.shape[-1]
        if same:
            return F.conv2d(same_pad(h, kernel, stride), weight, stride=stride)
        return F.conv2d(h, weight, stride=stride, padding=kernel // 2)

    h = F.relu(bn("bn1", conv("conv1.weight", x, stride=2)))
    h = F.max_pool2d(same_pad(h, 3, 2, value=-math.inf), 3, 2) if same else F.max_pool2d(h, 3, 2, padding=1)
    features = []
    for stage, blocks in enumerate(BLOCKS, start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            stride = 2 if block == 0 and stage > 1 else 1
            out = F.relu(bn(f"{prefix}.bn1", conv(f"{prefix}.conv1.weight", h)))
            out = F.relu(bn(f"{prefix}.bn2", conv(f"{prefix}.conv2.weight", out, stride=stride)))
            out = bn(f"{prefix}.bn3", conv(f"{prefix}.conv3.weight", out))
            shortcut = bn(f"{prefix}.downsample.1", conv(f"{prefix}.downsample.0.weight", h, stride)) if block == 0 else h
            h = F.relu(out + shortcut)
        features.append(h)
    return features[2:]


def reference_release_logits(state, x: torch.Tensor) -> torch.Tensor:
    features = reference_resnet50(state, x, same=True)[-1]
    hidden = F.relu(F.conv2d(features, state["avgpool.module_list.0.weight"], state["avgpool.module_list.0.bias"]))
    hidden = F.relu(F.conv2d(hidden, state["avgpool.module_list.2.weight"], state["avgpool.module_list.2.bias"]))
    weights = F.conv2d(hidden, state["avgpool.module_list.4.weight"]).flatten(1).softmax(dim=-1)
    pooled = (features.flatten(2) * weights[:, None]).sum(-1)
    return F.linear(pooled, state["fc.weight"], state["fc.bias"])


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("release")
    state = release_state(torch.Generator().manual_seed(0))
    torch.save(state, folder / "resnet50_vito_linear_sdattn.pth")
    report = convert_vito_release(folder / "resnet50_vito_linear_sdattn.pth", folder / "converted")
    images = torch.randn(2, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference_release_logits(state, images)
    torch.save({"images": images, "logits": expected}, folder / "expected.pt")
    return folder, state, report, images, expected


def test_release_converts_to_logits_of_an_independent_same_padded_forward(release):
    from transformers import AutoModelForImageClassification

    folder, state, report, images, expected = release
    assert sorted(report.converted) == sorted(state) and not report.ignored and not report.defaulted
    model = AutoModelForImageClassification.from_pretrained(folder / "converted").eval()
    assert sum(p.numel() for p in model.parameters()) == 42_342_440
    assert model.config.id2label[0] == "tench" and len(model.config.id2label) == 1000
    assert model.config.pooled_stages == ["stage4"] and model.config.backbone_padding == "tf-same"
    with torch.no_grad():
        logits = model(images).logits
        # The same weights with PyTorch's symmetric padding give other logits: SAME padding matters here.
        model.config.backbone_padding = "pytorch"
        symmetric = type(model)(model.config).eval()
        symmetric.load_state_dict(model.state_dict())
        differs = (symmetric(images).logits - expected).abs().max()
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)
    assert differs > 1e-3
    # Odd, non-square inputs: SAME padding is computed per layer from the input it receives. In float64 (all but
    # the pooling softmax, which the model keeps in float32), so summation order does not eat the tolerance.
    odd = torch.randn(1, 3, 63, 70, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    state64 = {key: value.double() if value.is_floating_point() else value for key, value in state.items()}
    with torch.no_grad():
        torch.testing.assert_close(model.double()(odd).logits, reference_release_logits(state64, odd), rtol=0, atol=1e-5)


def test_release_folder_has_a_card_from_its_conversion_record(release):
    from huggingface_hub import ModelCard

    folder = release[0]
    record = json.loads((folder / "converted" / "conversion.json").read_text())
    digest = hashlib.sha256((folder / "resnet50_vito_linear_sdattn.pth").read_bytes()).hexdigest()
    assert (record["sha256"], record["parameters"], record["report"]["converted"]) == (digest, 42_342_440, 325)
    card = ModelCard.load(folder / "converted" / "README.md")
    assert (card.data.library_name, card.data.pipeline_tag, card.data.license) == (
        "transformers", "image-classification", "other")
    assert digest in card.text and "| parameters | 42,342,440 |" in card.text


def test_release_folder_loads_without_vito_hf(release):
    folder = release[0]
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["vito_hf"] = None  # any import of vito_hf fails: only the saved files can serve
        import torch
        from transformers import AutoModelForImageClassification
        expected = torch.load({str(folder / "expected.pt")!r})
        model = AutoModelForImageClassification.from_pretrained({str(folder / "converted")!r}, trust_remote_code=True).eval()
        assert "vito_hf" not in type(model).__module__
        with torch.no_grad():
            torch.testing.assert_close(model(expected["images"]).logits, expected["logits"], rtol=0, atol=1e-5)
        print("REMOTE-RELEASE-OK", type(model).__module__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=folder, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "REMOTE-RELEASE-OK transformers_modules" in result.stdout


def test_release_conversion_lists_unknown_missing_and_misshaped_keys(tmp_path):
    state = release_state(torch.Generator().manual_seed(2))
    state["avgpool.module_list.6.weight"] = torch.zeros(3)
    del state["layer3.2.bn2.running_var"]
    state["fc.bias"] = torch.zeros(999)
    del state["layer1.0.bn1.num_batches_tracked"]
    torch.save({"state_dict": {f"module.{key}": value for key, value in state.items()}}, tmp_path / "bad.pth")
    with pytest.raises(ConversionError) as error:
        convert_vito_release(tmp_path / "bad.pth", tmp_path / "out")
    message = str(error.value)
    assert "unknown (1): avgpool.module_list.6.weight" in message
    assert "missing (1): vito.backbone.encoder.stages.2.layers.2.layer.1.normalization.running_var" in message
    assert "mismatched (1): fc.bias: (999,) vs classifier.bias: (1000,)" in message
    assert "defaulted (1): vito.backbone.encoder.stages.0.layers.0.layer.0.normalization.num_batches_tracked" in message
    assert "read the tensors under the checkpoint's 'state_dict' entry" in message
    assert not (tmp_path / "out").exists()


def test_torchvision_resnet50_converts_into_the_vito_backbone(tmp_path):
    state = torchvision_resnet50_state(torch.Generator().manual_seed(3))
    torch.save(state, tmp_path / "resnet50.pth")
    report = convert_torchvision_resnet(
        tmp_path / "resnet50.pth", tmp_path / "vito", base_model="timm/resnet50.tv_in1k"
    )
    assert report.ignored == ["fc.weight", "fc.bias"]
    card = ModelCard.load(tmp_path / "vito" / "README.md").data  # the card links the source weights' Hub repo
    assert card.base_model == "timm/resnet50.tv_in1k" and card.pipeline_tag == "image-feature-extraction"
    assert sorted(report.converted) == sorted(key for key in state if not key.startswith("fc."))
    model = VitoModel.from_pretrained(tmp_path / "vito").eval()
    images = torch.randn(2, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        hidden_states = model(images, output_hidden_states=True).hidden_states
        expected = reference_resnet50(state, images, same=False)
    assert len(hidden_states) == 5  # embeddings + the four stages, as transformers' ResNet returns them
    features = hidden_states[-2:]  # conv4_x and conv5_x
    for got, want in zip(features, expected):
        assert want.abs().max() > 0.1
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_torchvision_weights_initialise_a_pretraining_model_with_an_equal_target(tmp_path):
    from vito_hf import VitoForPreTraining

    state = torchvision_resnet50_state(torch.Generator().manual_seed(5))
    torch.save(state, tmp_path / "resnet50.pth")
    convert_torchvision_resnet(tmp_path / "resnet50.pth", tmp_path / "init", for_pretraining=True)
    model = VitoForPreTraining.from_pretrained(tmp_path / "init")
    weights = model.state_dict()
    assert torch.equal(weights["vito.backbone.embedder.embedder.convolution.weight"], state["conv1.weight"])
    online = {k.removeprefix("vito."): v for k, v in weights.items() if k.startswith("vito.")}
    target = {k.removeprefix("target.vito."): v for k, v in weights.items() if k.startswith("target.vito.")}
    assert online.keys() == target.keys() and all(torch.equal(online[k], target[k]) for k in online)


def test_torchvision_script_reports_a_non_resnet_state_dict_in_one_error(tmp_path, capsys):
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "head.weight": torch.zeros(2)}, tmp_path / "other.pth")
    assert torchvision_main(["--checkpoint", str(tmp_path / "other.pth"), "--output-dir", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "unknown (1): head.weight" in err and "missing (" in err
    assert not (tmp_path / "o").exists()


def test_tf_same_padding_is_a_validated_option_that_keeps_state_dict_keys():
    from vito_hf import VitoBackbone

    same = VitoModel(load_preset("tiny", backbone_padding="tf-same")).eval()
    plain = VitoModel(load_preset("tiny")).eval()
    assert same.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(same.state_dict())
    backbone = VitoBackbone(same.config).eval()
    backbone.load_state_dict(same.state_dict(), strict=False)
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        feature_maps = backbone(images).feature_maps
        # hidden states are the embeddings and every stage; the backbone returns the last (pooled) stages
        expected = same(images, output_hidden_states=True).hidden_states[-len(feature_maps) :]
        others = plain(images, output_hidden_states=True).hidden_states[-len(feature_maps) :]
        for got, want, other in zip(feature_maps, expected, others, strict=True):
            assert torch.equal(got, want)  # VitoBackbone pads the same way
            assert not torch.allclose(want, other)  # and the option changes what the backbone computes
    with pytest.raises(ValueError, match="backbone_padding"):
        load_preset("tiny", backbone_padding="same")

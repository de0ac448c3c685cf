"""VITO models: attention pooling, the contrastive loss, the EMA target, save/load, backbone families, heads."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoBackbone,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
    ConvNextConfig,
    Dinov2Config,
    ResNetConfig,
    SwinConfig,
    UperNetConfig,
    UperNetForSemanticSegmentation,
)

from vito_hf import (
    VitoBackbone,
    VitoConfig,
    VitoForImageClassification,
    VitoForPreTraining,
    VitoForVideoClassification,
    VitoModel,
    load_preset,
)
from vito_hf.modeling_vito import multi_view_info_nce


def reference_info_nce(online: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """The paper's loss written out term by term: for every clip b and ordered pair of views (i, j), i != j,
    -log softmax of the similarity of online_i(b) with target_j(b) among target_j of all clips."""
    batch_size, num_views, _ = online.shape
    total = 0.0
    for i in range(num_views):
        for j in range(num_views):
            if i == j:
                continue
            pair = 0.0
            for b in range(batch_size):
                query = online[b, i] / online[b, i].norm()
                scores = [float(query @ (target[n, j] / target[n, j].norm())) / temperature for n in range(batch_size)]
                pair += -(scores[b] - math.log(sum(math.exp(s) for s in scores)))
            total += pair / batch_size
    return torch.tensor(total)


def pooled_stage_maps(config, hidden_states):
    """The hidden states of the pooled stages (hidden_states holds the embeddings and every stage)."""
    return [hidden_states[config.stage_names.index(stage)] for stage in config.pooled_stages]


def test_attention_maps_are_distributions_and_pooling_is_their_weighted_sum(tiny_config, views):
    model = VitoModel(tiny_config).eval()
    outputs = model(views[:, 0], output_attentions=True, output_hidden_states=True)
    assert outputs.pooler_output.shape == (4, 64 + 128)
    stage_maps = pooled_stage_maps(tiny_config, outputs.hidden_states)
    for attention, features, pooled in zip(outputs.attentions, stage_maps, outputs.pooled_features):
        assert attention.shape == (4, 1, *features.shape[-2:])
        assert (attention >= 0).all()
        torch.testing.assert_close(attention.sum(dim=(-2, -1)), torch.ones(4, 1))
        by_hand = (features * attention).sum(dim=(-2, -1))
        torch.testing.assert_close(pooled, by_hand, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(outputs.pooler_output, torch.cat(outputs.pooled_features, dim=-1))


def test_multi_head_pooling_pools_each_channel_group_with_its_own_mask(views):
    model = VitoModel(load_preset("tiny", attention_num_heads=4)).eval()
    outputs = model(views[:, 0], output_attentions=True, output_hidden_states=True)
    stage_maps = pooled_stage_maps(model.config, outputs.hidden_states)
    for attention, features, pooled in zip(outputs.attentions, stage_maps, outputs.pooled_features):
        groups = features.unflatten(1, (4, -1))  # [B, heads, C/heads, H, W]
        by_hand = (groups * attention.unsqueeze(2)).sum(dim=(-2, -1)).flatten(1)
        torch.testing.assert_close(pooled, by_hand, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(attention[:, 0], attention[:, 1])


def test_each_images_mask_depends_on_that_image_alone(tiny_config, views):
    model = VitoModel(tiny_config).eval()
    alone = model(views[:1, 0], output_attentions=True).attentions
    in_batch = model(views[:, 0], output_attentions=True).attentions
    for a, b in zip(alone, in_batch):
        torch.testing.assert_close(a[0], b[0], rtol=1e-5, atol=1e-6)


def test_loss_equals_a_term_by_term_computation(tiny_config, views):
    model = VitoForPreTraining(tiny_config)
    outputs = model(views)
    expected = reference_info_nce(outputs.online_projections.detach(), outputs.target_projections, 0.1)
    torch.testing.assert_close(outputs.loss.detach(), expected.float(), rtol=1e-5, atol=1e-5)
    assert outputs.online_projections.shape == outputs.target_projections.shape == (4, 3, 64)
    # 3 views -> 6 ordered pairs; a random network is close to chance, log(4) per pair.
    assert 0.5 * 6 * math.log(4) < outputs.loss.item() < 2 * 6 * math.log(4)


def test_loss_with_other_temperature_and_views():
    model = VitoForPreTraining(load_preset("tiny", temperature=0.5))
    pixel_values = torch.randn(3, 2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    outputs = model(pixel_values)
    expected = reference_info_nce(outputs.online_projections.detach(), outputs.target_projections, 0.5)
    torch.testing.assert_close(outputs.loss.detach(), expected.float(), rtol=1e-5, atol=1e-5)


def test_loss_is_low_when_positives_match_and_high_when_they_do_not():
    # Every view of a clip projects to the same point: the positives are the best matches.
    target = F.normalize(torch.randn(8, 1, 16), dim=-1).expand(8, 3, 16)
    aligned = multi_view_info_nce(target.clone(), target, temperature=0.1)
    shuffled = multi_view_info_nce(target[torch.roll(torch.arange(8), 1)], target, temperature=0.1)
    assert aligned < 1.0 < shuffled


@pytest.mark.parametrize("use_predictor", [False, True])
def test_gradients_reach_every_online_parameter_and_never_the_target(use_predictor, views):
    model = VitoForPreTraining(load_preset("tiny", use_predictor=use_predictor))
    model(views).loss.backward()
    online = [model.vito, model.projector] + ([model.predictor] if use_predictor else [])
    for module in online:
        for name, parameter in module.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert all(not p.requires_grad and p.grad is None for p in model.target.parameters())
    model.zero_grad()  # skips the target; must still clear every online gradient
    assert all(p.grad is None for p in model.parameters())


def test_target_starts_as_a_copy_of_the_online_network(tiny_config):
    model = VitoForPreTraining(tiny_config)
    online = {**model.vito.state_dict(prefix="vito."), **model.projector.state_dict(prefix="projector.")}
    target = model.target.state_dict()
    assert online.keys() == target.keys()
    for key in online:
        assert torch.equal(online[key], target[key]), key


def test_update_target_is_an_exponential_moving_average(tiny_config, views):
    model = VitoForPreTraining(tiny_config)
    with torch.no_grad():
        for parameter in [*model.vito.parameters(), *model.projector.parameters()]:
            parameter.add_(torch.randn_like(parameter))
    model(views)  # moves the online batch-norm statistics
    online = {**model.vito.state_dict(prefix="vito."), **model.projector.state_dict(prefix="projector.")}
    before = {key: value.clone() for key, value in model.target.state_dict().items()}
    model.update_target(0.9)
    after = model.target.state_dict()
    for key, old in before.items():
        if old.is_floating_point():
            torch.testing.assert_close(after[key], 0.9 * old + 0.1 * online[key], rtol=1e-6, atol=1e-6)
        else:
            assert torch.equal(after[key], online[key])
    model.update_target(1.0)
    assert all(torch.equal(model.target.state_dict()[key], after[key]) for key in after)
    model.update_target(0.0)
    assert all(torch.equal(model.target.state_dict()[key], online[key]) for key in online)


def test_pixel_values_must_have_a_view_axis(tiny_config, views):
    with pytest.raises(ValueError, match="batch, views, 3, height, width"):
        VitoForPreTraining(tiny_config)(views[:, 0])


def _pixel_values_for(model_class, views):
    return views if model_class in (VitoForPreTraining, VitoForVideoClassification) else views[:, 0]


def _outputs(model, pixel_values):
    outputs = model(pixel_values)
    if isinstance(model, VitoForPreTraining):
        return [outputs.loss, outputs.online_projections, outputs.target_projections]
    if isinstance(model, VitoBackbone):
        return list(outputs.feature_maps)
    if isinstance(model, VitoModel):
        return [outputs.pooler_output, outputs.last_hidden_state]
    return [outputs.logits]


@pytest.mark.parametrize(
    ("model_class", "auto_class"),
    [
        (VitoModel, AutoModel),
        (VitoForPreTraining, AutoModelForPreTraining),
        (VitoForImageClassification, AutoModelForImageClassification),
        (VitoForVideoClassification, AutoModelForVideoClassification),
        # transformers 5.24's AutoBackbone.from_pretrained asks the Hub whether the path is a repo and fails on
        # every local folder, whatever the model; VitoBackbone.from_pretrained and AutoBackbone.from_config work.
        (VitoBackbone, VitoBackbone),
    ],
)
def test_save_load_round_trip_gives_identical_outputs(model_class, auto_class, tmp_path, views):
    torch.manual_seed(0)
    model = model_class(load_preset("tiny", num_labels=5)).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "modeling_vito.py").exists()
    for loader in (model_class, auto_class):
        reloaded = loader.from_pretrained(str(tmp_path)).eval()
        assert type(reloaded) is model_class
        pixel_values = _pixel_values_for(model_class, views)
        with torch.no_grad():
            for a, b in zip(_outputs(model, pixel_values), _outputs(reloaded, pixel_values)):
                assert torch.equal(a, b)


def test_encoder_loads_from_a_pretraining_checkpoint(tiny_config, tmp_path, views):
    pretraining = VitoForPreTraining(tiny_config).eval()
    with torch.no_grad():  # make online and target differ, so loading the wrong one would show
        for parameter in pretraining.vito.parameters():
            parameter.mul_(1.1)
    pretraining.save_pretrained(tmp_path)
    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert type(encoder) is VitoModel
    with torch.no_grad():
        assert torch.equal(encoder(views[:, 0]).pooler_output, pretraining.vito(views[:, 0]).pooler_output)
    classifier = VitoForImageClassification.from_pretrained(tmp_path, num_labels=3)
    assert torch.equal(classifier.vito.pooling[0].mlp[0].weight, pretraining.vito.pooling[0].mlp[0].weight)


TINY_BACKBONES = {
    "resnet": ResNetConfig(layer_type="basic", depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64], embedding_size=8),
    "convnext": ConvNextConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64], out_features=["stage3", "stage4"]),
    "swin": SwinConfig(
        image_size=64, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2,
        out_features=["stage3", "stage4"],
    ),
    "dinov2": Dinov2Config(
        image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, out_features=["stage1", "stage2"],
    ),
    "dinov2-tokens": Dinov2Config(
        image_size=64, patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, out_features=["stage2"], reshape_hidden_states=False,
    ),
}


@pytest.mark.parametrize("family", sorted(TINY_BACKBONES))
def test_backbone_families_run_forward_and_backward(family, views):
    config = VitoConfig(
        backbone_config=TINY_BACKBONES[family], projector_hidden_size=32, projector_output_size=16
    )
    model = VitoForPreTraining(config)
    outputs = model(views[:2])
    assert torch.isfinite(outputs.loss)
    outputs.loss.backward()
    # Some transformers backbones carry parameters their backbone forward never uses (DINOv2's mask token,
    # Swin's final layer norm); every other parameter must get a gradient.
    unused_by_transformers = {"backbone.embeddings.mask_token", "backbone.swin.layernorm.weight", "backbone.swin.layernorm.bias"}
    without_grad = {n for n, p in model.vito.named_parameters() if p.grad is None}
    assert without_grad <= unused_by_transformers
    encoder_outputs = model.vito(views[:2, 0], output_attentions=True)
    for attention in encoder_outputs.attentions:
        assert attention.dim() == 4 and attention.shape[-1] > 1  # tokens became a spatial map
        torch.testing.assert_close(attention.sum(dim=(-2, -1)), torch.ones(2, 1))


def test_video_classification_averages_frame_features(tiny_config, views):
    model = VitoForVideoClassification(load_preset("tiny", num_labels=4)).eval()
    with torch.no_grad():
        logits = model(views).logits
        by_hand = model.classifier(torch.stack([model.vito(views[:, t]).pooler_output for t in range(3)]).mean(0))
    torch.testing.assert_close(logits, by_hand, rtol=1e-5, atol=1e-5)
    loss = model(views, labels=torch.tensor([0, 1, 2, 3])).loss
    assert loss.ndim == 0 and loss > 0


def test_image_classification_loss_uses_labels(views):
    model = VitoForImageClassification(load_preset("tiny", num_labels=4))
    outputs = model(views[:, 0], labels=torch.tensor([0, 1, 2, 3]))
    torch.testing.assert_close(outputs.loss, F.cross_entropy(outputs.logits, torch.tensor([0, 1, 2, 3])))


def test_backbone_serves_transformers_segmentation_heads(views):
    backbone_config = load_preset("tiny", out_features=["stage1", "stage2", "stage3", "stage4"])
    backbone = AutoBackbone.from_config(backbone_config)
    assert type(backbone) is VitoBackbone
    assert [tuple(f.shape[1:]) for f in backbone(views[:, 0]).feature_maps] == [
        (16, 16, 16), (32, 8, 8), (64, 4, 4), (128, 2, 2)
    ]
    segmenter = UperNetForSemanticSegmentation(
        UperNetConfig(backbone_config=backbone_config, hidden_size=16, auxiliary_in_channels=64, num_labels=3)
    )
    logits = segmenter(views[:, 0]).logits
    assert logits.shape == (4, 3, 64, 64)
    logits.mean().backward()
    assert segmenter.backbone.backbone.embedder.embedder.convolution.weight.grad is not None


def test_loss_is_computed_in_float32_under_bf16_autocast():
    generator = torch.Generator().manual_seed(0)
    online, target = torch.randn(16, 3, 32, generator=generator), torch.randn(16, 3, 32, generator=generator)
    reference = multi_view_info_nce(online, target, temperature=0.1)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        under_autocast = multi_view_info_nce(online, target, temperature=0.1)
    assert under_autocast.dtype == torch.float32
    torch.testing.assert_close(under_autocast, reference, rtol=0, atol=1e-6)

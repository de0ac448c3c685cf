"""VITO models: attention pooling, the contrastive loss, the EMA target, save/load, backbone families, heads."""

import logging
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoBackbone,
    AutoModel,
    AutoModelForPreTraining,
    ConvNextConfig,
    Dinov2Config,
    ResNetConfig,
    SwinConfig,
    Trainer,
    TrainerCallback,
    TrainingArguments,
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
from vito_hf.modeling_vito import VitoAveragePooling, multi_view_info_nce


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


@pytest.mark.parametrize("source_class", [VitoModel, VitoForImageClassification])
def test_pretraining_model_from_an_encoder_folder_starts_its_target_as_that_encoder(source_class, tmp_path, views):
    """Issue 7 item 9: the target was left at random initialisation when the checkpoint had no target weights."""
    source = source_class(load_preset("tiny", num_labels=3))
    source.save_pretrained(tmp_path)
    encoder = source if source_class is VitoModel else source.vito
    for loader in (VitoForPreTraining, AutoModelForPreTraining):
        model = loader.from_pretrained(tmp_path)
        for (name, loaded), saved, target in zip(
            model.vito.state_dict().items(), encoder.state_dict().values(), model.target["vito"].state_dict().values()
        ):
            assert torch.equal(loaded, saved) and torch.equal(target, saved), name
        target_projector = model.target["projector"].state_dict().values()
        for online, target in zip(model.projector.state_dict().values(), target_projector):
            assert torch.equal(online, target)
        model.eval()
        with torch.no_grad():
            outputs = model(views)
        torch.testing.assert_close(outputs.online_projections, outputs.target_projections)


def test_a_pretraining_checkpoint_keeps_its_own_target(tiny_config, tmp_path):
    model = VitoForPreTraining(tiny_config)
    with torch.no_grad():
        for parameter in model.vito.parameters():
            parameter.mul_(1.1)  # online != target
    model.save_pretrained(tmp_path)
    reloaded = VitoForPreTraining.from_pretrained(tmp_path)
    for (name, saved), loaded in zip(model.target.state_dict().items(), reloaded.target.state_dict().values()):
        assert torch.equal(saved, loaded), name


class TinyViewDataset(torch.utils.data.Dataset):
    """Synthetic three-view batches: this test is about how Trainer drives the model, not about data."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return {"pixel_values": torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(index))}


def _train_with_stock_trainer(model, tmp_path, callbacks=(), **arguments):
    args = TrainingArguments(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, report_to="none",
        remove_unused_columns=False, save_strategy="no", logging_strategy="no", use_cpu=True, **arguments,
    )
    Trainer(model=model, args=args, train_dataset=TinyViewDataset(), callbacks=list(callbacks)).train()


class EmaCallback(TrainerCallback):
    """What the warning tells a stock-Trainer user to write: one EMA update per optimizer step."""

    def on_optimizer_step(self, args, state, control, model=None, **kwargs):
        model.update_target(0.9)


@pytest.mark.parametrize("with_ema_callback", [False, True])
def test_stock_trainer_moves_the_target_only_with_updates_and_warns_without(with_ema_callback, tmp_path, caplog):
    """Issue 7 item 10: the stock Trainer never moved the target, silently."""
    model = VitoForPreTraining(load_preset("tiny"))
    target_before = {name: p.clone() for name, p in model.target.named_parameters()}
    with caplog.at_level(logging.WARNING, logger="vito_hf.modeling_vito"):
        _train_with_stock_trainer(model, tmp_path, callbacks=[EmaCallback()] if with_ema_callback else [])
    moved = any(not torch.equal(target_before[name], p) for name, p in model.target.named_parameters())
    warned = any("EMA target never moved" in record.getMessage() for record in caplog.records)
    assert moved is with_ema_callback
    assert warned is not with_ema_callback


@pytest.mark.parametrize("backbone", ["swin", "dinov2"])
def test_attention_implementation_reaches_the_backbone(backbone, tmp_path):
    """Issue 7 item 15: `from_pretrained(attn_implementation=...)` raised for every backbone."""
    VitoModel(VitoConfig(backbone_config=TINY_BACKBONES[backbone])).save_pretrained(tmp_path)
    for implementation in ("sdpa", "eager"):
        model = VitoModel.from_pretrained(tmp_path, attn_implementation=implementation)
        assert model.config._attn_implementation == implementation
        assert model.backbone.config._attn_implementation == implementation


def test_attention_implementation_the_backbone_lacks_is_refused(tiny_config, tmp_path):
    VitoModel(tiny_config).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="VitoModel does not support an attention implementation"):
        VitoModel.from_pretrained(tmp_path, attn_implementation="sdpa")
    assert VitoModel.from_pretrained(tmp_path).backbone.config._attn_implementation in (None, "eager")


def test_gradient_checkpointing_through_the_deprecated_name_and_the_trainer(tmp_path):
    """Issue 7 item 15: `gradient_checkpointing_enable()` and `Trainer(gradient_checkpointing=True)` raised."""
    config = VitoConfig(backbone_config=TINY_BACKBONES["swin"], projector_hidden_size=32, projector_output_size=16)
    model = VitoForPreTraining(config)
    with pytest.warns(FutureWarning):
        model.gradient_checkpointing_enable()
    assert model.is_activation_checkpointing
    model = VitoForPreTraining(config)
    model.config.backbone_config.image_size = 32
    _train_with_stock_trainer(model, tmp_path, callbacks=[EmaCallback()], gradient_checkpointing=True)
    assert model.is_activation_checkpointing


def test_average_pooling_is_the_spatial_mean_of_each_pooled_stage(views):
    """The paper's pooling ablation: same backbone and feature widths, global average pooling instead of attention."""
    config = load_preset("tiny", pooling="average", attention_num_heads=2)
    model = VitoModel(config).eval()
    assert all(type(pool) is VitoAveragePooling for pool in model.pooling)
    assert not list(model.pooling.parameters())
    attentive = VitoModel(load_preset("tiny"))
    assert model.state_dict().keys() == {k for k in attentive.state_dict() if not k.startswith("pooling.")}
    with torch.no_grad():
        outputs = model(views[:, 0], output_attentions=True, output_hidden_states=True)
    stage_maps = pooled_stage_maps(config, outputs.hidden_states)
    assert outputs.pooler_output.shape == attentive(views[:, 0]).pooler_output.shape
    for attention, features, pooled in zip(outputs.attentions, stage_maps, outputs.pooled_features, strict=True):
        torch.testing.assert_close(pooled, features.mean(dim=(-2, -1)))
        height, width = features.shape[-2:]
        assert attention.shape == (4, 2, height, width)
        torch.testing.assert_close(attention, torch.full_like(attention, 1 / (height * width)))
    torch.testing.assert_close(outputs.pooler_output, torch.cat(outputs.pooled_features, dim=-1))


def test_pretraining_with_average_pooling_trains_the_backbone(views):
    model = VitoForPreTraining(load_preset("tiny", pooling="average"))
    outputs = model(views)
    assert torch.isfinite(outputs.loss)
    outputs.loss.backward()
    for name, parameter in model.vito.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    with torch.no_grad():
        maps = model.vito(views[:, 0], output_hidden_states=True).hidden_states
    sizes = [map.shape[-2] * map.shape[-1] for map in pooled_stage_maps(model.config, maps)]
    # Uniform masks: the collapse monitor reads log(positions), averaged over the scales.
    torch.testing.assert_close(outputs.attention_entropy, torch.tensor(sum(map(math.log, sizes)) / len(sizes)))


def test_average_pooling_model_reloads_through_auto_model(tmp_path, views):
    pretraining = VitoForPreTraining(load_preset("tiny", pooling="average")).eval()
    pretraining.save_pretrained(tmp_path)
    encoder, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert type(encoder) is VitoModel and encoder.config.pooling == "average"
    assert not info["missing_keys"] and not info["mismatched_keys"]
    with torch.no_grad():
        expected = pretraining.vito(views[:, 0], output_attentions=True)
        reloaded = encoder.eval()(views[:, 0], output_attentions=True)
    assert torch.equal(reloaded.pooler_output, expected.pooler_output)
    for a, b in zip(reloaded.attentions, expected.attentions, strict=True):
        assert torch.equal(a, b)


def test_average_pooling_exports_with_the_eager_outputs(views):
    model = VitoModel(load_preset("tiny", pooling="average")).eval()
    exported = torch.export.export(model, (views[:, 0],))
    with torch.no_grad():
        eager = model(views[:, 1])
        from_export = exported.module()(views[:, 1])
    torch.testing.assert_close(from_export.pooler_output, eager.pooler_output)
    for a, b in zip(from_export.pooled_features, eager.pooled_features, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("pooling", ["attention", "average"])
def test_pretraining_on_one_pooled_stage(pooling, views):
    """A study arm pools the last stage only: one optimizer step must run with a finite loss."""
    config = load_preset("tiny", pooled_stages=["stage4"], attention_hidden_sizes=[[128]], pooling=pooling)
    model = VitoForPreTraining(config)
    assert len(model.vito.pooling) == 1 and model.vito.num_features == 128
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    before = model.vito.backbone.embedder.embedder.convolution.weight.clone()
    loss = model(views).loss
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    model.update_target(0.99)
    assert not torch.equal(model.vito.backbone.embedder.embedder.convolution.weight, before)
    assert torch.isfinite(model(views).loss)

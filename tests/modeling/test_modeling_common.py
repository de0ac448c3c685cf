"""The checks of transformers' common model and backbone tests (tests/test_modeling_common.py,
tests/test_backbone_common.py) that apply to a vision encoder, run against every VITO class.

Written for this project (nothing is imported from transformers' test suite): save/load, tuple vs dict outputs,
batching, hidden states, attentions, a training step, activation checkpointing, classification problem types,
mismatched-shape loading, initialisation and export.
"""

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
    SwinConfig,
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
from vito_hf.modeling_vito import VitoAttentionLogits

ALL_CLASSES = [VitoModel, VitoForPreTraining, VitoForImageClassification, VitoForVideoClassification, VitoBackbone]
HEAD_CLASSES = [VitoForImageClassification, VitoForVideoClassification]
# Classes that return the encoder's hidden states and pooling attentions (the pretraining output carries neither).
ENCODER_CLASSES = [VitoModel, VitoForImageClassification, VitoForVideoClassification]
BATCH, FRAMES, SIZE = 2, 3, 64


def tiny_swin() -> SwinConfig:
    return SwinConfig(
        image_size=SIZE, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=2,
        out_features=["stage3", "stage4"],
    )


def swin_vito(**overrides) -> VitoConfig:
    return VitoConfig(backbone_config=tiny_swin(), projector_hidden_size=32, projector_output_size=16, **overrides)


def inputs_for(model_class, generator_seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(generator_seed)
    if model_class in (VitoForPreTraining, VitoForVideoClassification):
        return torch.randn(BATCH, FRAMES, 3, SIZE, SIZE, generator=generator)
    return torch.randn(BATCH, 3, SIZE, SIZE, generator=generator)


def tensors_of(output) -> list[torch.Tensor]:
    """Every tensor of a model output or tuple, flattened in order (nested tuples of maps included)."""
    flat = []
    for value in output.to_tuple() if hasattr(output, "to_tuple") else output:
        flat += tensors_of(value) if isinstance(value, (tuple, list)) else [value]
    return flat


def scalar_objective(model_class, output) -> torch.Tensor:
    if model_class is VitoForPreTraining or getattr(output, "loss", None) is not None:
        return output.loss
    if model_class is VitoBackbone:
        return sum(feature_map.mean() for feature_map in output.feature_maps)
    if model_class is VitoModel:
        return output.pooler_output.mean()
    return output.logits.mean()


AUTO_CLASSES = {
    VitoModel: AutoModel,
    VitoForPreTraining: AutoModelForPreTraining,
    VitoForImageClassification: AutoModelForImageClassification,
    VitoForVideoClassification: AutoModelForVideoClassification,
    # transformers 5.24's AutoBackbone.from_pretrained asks the Hub whether the path is a repo and fails on every
    # local folder, whatever the model; VitoBackbone.from_pretrained and AutoBackbone.from_config work.
    VitoBackbone: VitoBackbone,
}


@pytest.mark.parametrize("model_class", ALL_CLASSES)
def test_save_load_round_trip_gives_identical_outputs(model_class, tmp_path):
    model = model_class(load_preset("tiny", num_labels=3)).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "modeling_vito.py").exists()
    pixel_values = inputs_for(model_class)
    for loader in {model_class, AUTO_CLASSES[model_class]}:
        reloaded = loader.from_pretrained(tmp_path).eval()
        assert type(reloaded) is model_class
        with torch.no_grad():
            for a, b in zip(tensors_of(model(pixel_values)), tensors_of(reloaded(pixel_values)), strict=True):
                assert torch.equal(a, b)


@pytest.mark.parametrize("model_class", ALL_CLASSES)
def test_tuple_and_dict_outputs_are_equal(model_class):
    config = load_preset("tiny", num_labels=3)
    model = model_class(config).eval()
    pixel_values = inputs_for(model_class)
    kwargs = {"output_hidden_states": True} if model_class is not VitoForPreTraining else {}
    with torch.no_grad():
        as_dict = model(pixel_values, **kwargs)
        as_tuple = model(pixel_values, return_dict=False, **kwargs)
        config.return_dict = False
        from_config = model(pixel_values, **kwargs)
    assert isinstance(as_tuple, tuple) and isinstance(from_config, tuple)
    reference = tensors_of(as_dict)
    for other in (as_tuple, from_config):
        compared = tensors_of(other)
        assert len(compared) == len(reference)
        for a, b in zip(reference, compared):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("model_class", [*ENCODER_CLASSES, VitoBackbone])
def test_a_batch_gives_what_each_example_gives_alone(model_class):
    model = model_class(load_preset("tiny", num_labels=3)).eval()
    pixel_values = inputs_for(model_class)
    with torch.no_grad():
        batched = tensors_of(model(pixel_values))
        alone = [tensors_of(model(pixel_values[i : i + 1])) for i in range(BATCH)]
    for position, tensor in enumerate(batched):
        for i in range(BATCH):
            torch.testing.assert_close(tensor[i : i + 1], alone[i][position], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_class", ENCODER_CLASSES)
def test_hidden_states_are_the_embeddings_and_every_stage(model_class):
    config = load_preset("tiny", num_labels=3)
    model = model_class(config).eval()
    with torch.no_grad():
        outputs = model(inputs_for(model_class), output_hidden_states=True)
        default = model(inputs_for(model_class))
        config.output_hidden_states = True
        from_config = model(inputs_for(model_class))
    assert default.hidden_states is None
    hidden_states = outputs.hidden_states
    # Like ResNetModel: the stem output, then the four stages (16, 32, 64, 128 channels, stride 4, 8, 16, 32).
    assert len(hidden_states) == len(config.stage_names) == 5
    leading = (BATCH, FRAMES) if model_class is VitoForVideoClassification else (BATCH,)
    widths = [config.backbone_config.embedding_size, *config.backbone_config.hidden_sizes]
    sides = [SIZE // 4, SIZE // 4, SIZE // 8, SIZE // 16, SIZE // 32]
    assert [tuple(h.shape) for h in hidden_states] == [(*leading, c, s, s) for c, s in zip(widths, sides)]
    assert len(from_config.hidden_states) == 5
    if model_class is VitoModel:
        torch.testing.assert_close(hidden_states[-1], outputs.last_hidden_state)


@pytest.mark.parametrize("model_class", ENCODER_CLASSES)
def test_attentions_are_the_pooling_maps_in_the_usual_position(model_class):
    config = load_preset("tiny", num_labels=3, attention_num_heads=2)
    model = model_class(config).eval()
    with torch.no_grad():
        outputs = model(inputs_for(model_class), output_attentions=True, output_hidden_states=True)
        as_tuple = model(inputs_for(model_class), output_attentions=True, output_hidden_states=True, return_dict=False)
        config.output_attentions = True
        from_config = model(inputs_for(model_class))
    leading = (BATCH, FRAMES) if model_class is VitoForVideoClassification else (BATCH,)
    assert [tuple(a.shape) for a in outputs.attentions] == [(*leading, 2, 4, 4), (*leading, 2, 2, 2)]
    for attention in outputs.attentions:
        torch.testing.assert_close(attention.sum(dim=(-2, -1)), torch.ones(*leading, 2))
    # transformers' order: (..., hidden_states, attentions), as BaseModelOutputWithPooling and ImageClassifierOutput.
    first_output = 2 if model_class is VitoModel else 1
    assert as_tuple[first_output] is not None and len(as_tuple[first_output]) == 5
    assert len(as_tuple[first_output + 1]) == 2
    torch.testing.assert_close(as_tuple[first_output + 1][0], outputs.attentions[0])
    assert len(from_config.attentions) == 2


def test_backbone_follows_config_output_hidden_states_and_passes_backbone_attentions():
    config = load_preset("tiny", out_features=["stage1", "stage2", "stage3", "stage4"])
    backbone = VitoBackbone(config).eval()
    pixel_values = inputs_for(VitoBackbone)
    with torch.no_grad():
        assert backbone(pixel_values).hidden_states is None
        assert len(backbone(pixel_values, output_hidden_states=True).hidden_states) == 5
        config.output_hidden_states = True
        outputs = backbone(pixel_values)
        assert len(outputs.hidden_states) == 5
        assert len(outputs.feature_maps) == 4
        assert len(backbone(pixel_values, return_dict=False)) == 2  # feature maps, hidden states
    swin = VitoBackbone(swin_vito(attn_implementation="eager")).eval()
    with torch.no_grad():
        attentions = swin(pixel_values, output_attentions=True).attentions
        swin_alone = swin.backbone(pixel_values, output_attentions=True).attentions
    assert attentions is not None and len(attentions) == len(swin_alone) > 0  # Swin's own self-attentions
    for a, b in zip(attentions, swin_alone):
        assert torch.equal(a, b)


@pytest.mark.parametrize("model_class", ALL_CLASSES)
def test_a_training_step_reaches_every_trainable_parameter(model_class):
    model = model_class(load_preset("tiny", num_labels=3)).train()
    kwargs = {"labels": torch.tensor([0, 2])} if model_class in HEAD_CLASSES else {}
    scalar_objective(model_class, model(inputs_for(model_class), **kwargs)).backward()
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert trainable
    without_gradient = [name for name, p in trainable.items() if p.grad is None or not p.grad.abs().sum() > 0]
    if model_class is VitoBackbone:  # stage1/stage2 are computed but only stage3/stage4 are returned
        without_gradient = [name for name in without_gradient if not name.startswith("backbone.encoder.stages.")]
    assert without_gradient == []


@pytest.mark.parametrize("model_class", ALL_CLASSES)
def test_activation_checkpointing_keeps_loss_and_gradients(model_class):
    torch.manual_seed(0)
    model = model_class(swin_vito(num_labels=3)).train()
    assert model.supports_gradient_checkpointing
    kwargs = {"labels": torch.tensor([0, 2])} if model_class in HEAD_CLASSES else {}
    pixel_values = inputs_for(model_class)

    def loss_and_gradients():
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout/drop-path draws both times
        loss = scalar_objective(model_class, model(pixel_values, **kwargs))
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain_loss, plain_gradients = loss_and_gradients()
    model.activation_checkpointing_enable()
    assert model.is_activation_checkpointing
    checkpointed_loss, checkpointed_gradients = loss_and_gradients()
    torch.testing.assert_close(checkpointed_loss, plain_loss)
    assert checkpointed_gradients.keys() == plain_gradients.keys()
    for name, gradient in plain_gradients.items():
        torch.testing.assert_close(checkpointed_gradients[name], gradient, rtol=1e-4, atol=1e-6, msg=name)
    model.activation_checkpointing_disable()
    assert not model.is_activation_checkpointing


def test_activation_checkpointing_on_a_backbone_without_it_says_so():
    model = VitoModel(load_preset("tiny"))
    assert not model.supports_gradient_checkpointing  # transformers' ResNet has no checkpointing
    with pytest.raises(ValueError, match="VitoModel does not support activation checkpointing"):
        model.activation_checkpointing_enable()


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
@pytest.mark.parametrize("problem_type", ["single_label_classification", "multi_label_classification", "regression"])
def test_classification_problem_types(model_class, problem_type):
    num_labels = 1 if problem_type == "regression" else 3
    model = model_class(load_preset("tiny", num_labels=num_labels, problem_type=problem_type)).eval()
    labels = {
        "single_label_classification": torch.tensor([2, 0]),
        "multi_label_classification": torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
        "regression": torch.tensor([0.5, -1.5]),
    }[problem_type]
    outputs = model(inputs_for(model_class), labels=labels)
    logits = outputs.logits
    expected = {
        "single_label_classification": lambda: F.cross_entropy(logits, labels),
        "multi_label_classification": lambda: F.binary_cross_entropy_with_logits(logits, labels),
        "regression": lambda: F.mse_loss(logits.squeeze(-1), labels),
    }[problem_type]()
    assert logits.shape == (BATCH, num_labels)
    torch.testing.assert_close(outputs.loss, expected)


@pytest.mark.parametrize("model_class", HEAD_CLASSES)
def test_mismatched_head_loads_only_with_ignore_mismatched_sizes(model_class, tmp_path):
    model = model_class(load_preset("tiny", num_labels=3))
    model.save_pretrained(tmp_path)
    with pytest.raises(RuntimeError, match="size mismatch|ignore_mismatched_sizes"):
        model_class.from_pretrained(tmp_path, num_labels=5)
    reloaded = model_class.from_pretrained(tmp_path, num_labels=5, ignore_mismatched_sizes=True)
    assert reloaded.classifier.weight.shape == (5, model.vito.num_features)
    for (name, a), b in zip(model.vito.state_dict().items(), reloaded.vito.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("model_class", ALL_CLASSES)
def test_initialisation_follows_init_weights(model_class):
    """transformers' test_initialization: with a near-zero initializer_range, every weight VITO initialises from
    it (heads, pooling logits) is ~0 and every bias and norm is at its exact starting value."""
    model = model_class(load_preset("tiny", num_labels=3, initializer_range=1e-10))
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, VitoAttentionLogits)):
            assert module.weight.abs().max() < 1e-8, name
            assert module.bias is None or torch.equal(module.bias, torch.zeros_like(module.bias)), name
        elif isinstance(module, torch.nn.BatchNorm1d):
            assert torch.equal(module.weight, torch.ones_like(module.weight)), name
            assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
    for name, parameter in model.named_parameters():
        assert torch.isfinite(parameter).all(), name


@pytest.mark.parametrize("model_class", ALL_CLASSES)
def test_torch_export_gives_the_eager_outputs(model_class):
    model = model_class(load_preset("tiny", num_labels=3)).eval()
    pixel_values = inputs_for(model_class)
    exported = torch.export.export(model, (pixel_values,))
    other = inputs_for(model_class, generator_seed=1)
    with torch.no_grad():
        for a, b in zip(tensors_of(model(other)), tensors_of(exported.module()(other)), strict=True):
            torch.testing.assert_close(a, b)

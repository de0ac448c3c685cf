"""VitoConfig: defaults follow the paper, presets load, every invalid value names its field, the training
recipe stays out of the model config and older configs that carry it still load."""

import json
import logging

import pytest
from huggingface_hub.errors import StrictDataclassError
from transformers import AutoConfig, BertConfig, ConvNextConfig

from vito_hf import PRESET_NAMES, VitoConfig, VitoModel, load_preset
from vito_hf.configuration_vito import RECIPE_KEYS, InvalidVitoConfigError
from vito_hf.presets import PRESET_DIR


def test_default_is_the_papers_resnet50():
    config = VitoConfig()
    assert config.backbone_config.model_type == "resnet"
    assert config.backbone_config.hidden_sizes[-2:] == [1024, 2048]
    assert config.pooled_stages == ["stage3", "stage4"]
    assert config.backbone_config.out_features == ["stage3", "stage4"]
    assert config.temperature == 0.1
    assert (config.projector_hidden_size, config.projector_output_size, config.use_predictor) == (4096, 256, False)


def test_paper_preset_has_the_release_head_widths():
    config = load_preset("resnet50")
    assert config.attention_hidden_sizes[-1] == [4096, 2048]  # conv5_x: 2048 -> 4096 -> 2048 -> 1


def test_presets_all_load_and_round_trip(tmp_path):
    assert set(PRESET_NAMES) == {"resnet50", "swin-s", "small", "tiny"}
    for name in PRESET_NAMES:
        config = load_preset(name)
        config.save_pretrained(tmp_path / name)
        reloaded = AutoConfig.from_pretrained(tmp_path / name)
        assert isinstance(reloaded, VitoConfig)
        assert reloaded.to_diff_dict() | {"_name_or_path": ""} == config.to_diff_dict() | {"_name_or_path": ""}


def test_preset_overrides_and_unknown_preset():
    assert load_preset("tiny", temperature=0.2).temperature == 0.2
    with pytest.raises(ValueError, match="Unknown VITO preset"):
        load_preset("resnet-5000")


def test_pooled_stages_default_to_the_backbones_out_features():
    config = VitoConfig(backbone_config=ConvNextConfig(out_features=["stage2", "stage4"]))
    assert config.pooled_stages == ["stage2", "stage4"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pooled_stages", ["stage9"]),
        ("pooled_stages", []),
        ("attention_hidden_sizes", [[64]]),
        ("attention_hidden_sizes", [[64], [-1]]),
        ("attention_num_heads", 0),
        ("projector_hidden_size", -4),
        ("projector_output_size", 0),
        ("predictor_hidden_size", 0),
        ("temperature", 0.0),
        ("temperature", -0.1),
        ("classifier_dropout", 1.0),
        ("num_frames", 0),
        ("pooling", "max"),
        # wrong types: a raw TypeError, or nothing, before transformers' strict validation was used
        ("temperature", "hot"),
        ("attention_num_heads", 2.5),
        ("projector_hidden_size", "4096"),
        ("use_predictor", "yes"),
        ("pooled_stages", "stage4"),
        ("attention_hidden_sizes", [[64.5], [128]]),
    ],
)
def test_invalid_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field) as raised:
        load_preset("tiny", **{field: value})
    assert isinstance(raised.value, StrictDataclassError)  # transformers' own config validation error, too


@pytest.mark.parametrize(
    ("backbone_config", "reason"),
    [({"model_type": "no-such-model"}, "does not know"), (BertConfig(), "not a vision backbone")],
)
def test_backbone_must_be_a_vision_backbone(backbone_config, reason):
    """Issue 7 item 13: a bare KeyError for an unknown type, an AttributeError about stage_names for BERT."""
    with pytest.raises(ValueError, match=f"`backbone_config`.*{reason}.*'resnet'.*'swin'"):
        VitoConfig(backbone_config=backbone_config)


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", -1.0), ("attention_num_heads", "two"), ("projector_output_size", 0), ("pooling", "mean")],
)
def test_assignments_after_construction_are_checked(field, value):
    config = load_preset("tiny")
    with pytest.raises(ValueError, match=field):
        setattr(config, field, value)
    assert getattr(config, field) == getattr(load_preset("tiny"), field)


def test_cross_field_checks_run_again_on_validate_and_save(tmp_path):
    config = load_preset("tiny")
    config.pooled_stages = ["stage9"]
    with pytest.raises(ValueError, match="`pooled_stages`"):
        config.validate()
    with pytest.raises(ValueError, match="`pooled_stages`"):
        config.save_pretrained(tmp_path)


def test_the_training_recipe_is_not_in_the_model_config():
    config = load_preset("resnet50")
    for key in RECIPE_KEYS:
        assert not hasattr(config, key), key
        assert key not in config.to_dict(), key
    for path in PRESET_DIR.glob("*.json"):
        assert not set(json.loads(path.read_text())) & set(RECIPE_KEYS), path.name


def test_a_config_saved_with_the_recipe_still_loads_and_drops_it(tmp_path, caplog):
    load_preset("tiny").save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    saved.update(num_views=3, image_size=64, ema_momentum_base=0.99, ema_momentum_schedule="cosine")
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with caplog.at_level(logging.WARNING, logger="vito_hf.configuration_vito"):
        config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, VitoConfig) and config.pooled_stages == ["stage3", "stage4"]
    for key in RECIPE_KEYS:
        assert not hasattr(config, key), key
    messages = [record.getMessage() for record in caplog.records]
    assert any("num_views" in message and "data arguments" in message for message in messages)
    VitoModel(config)


def test_heads_must_divide_the_channels():
    config = load_preset("tiny", attention_num_heads=3)
    with pytest.raises(ValueError, match="`attention_num_heads`"):
        VitoModel(config)


def test_pooling_names_the_allowed_values_and_average_round_trips(tmp_path):
    """The paper's pooling ablation: an unknown `pooling` says what is allowed; "average" survives save/load."""
    with pytest.raises(InvalidVitoConfigError, match=r"`pooling`.*'attention', 'average'.*'mean'"):
        load_preset("tiny", pooling="mean")
    config = load_preset("tiny")
    assert config.pooling == "attention"
    with pytest.raises(InvalidVitoConfigError, match=r"`pooling`.*'attention', 'average'"):
        config.pooling = "max"
    config.pooling = "average"
    assert config.to_dict()["pooling"] == "average"
    config.save_pretrained(tmp_path)
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(reloaded, VitoConfig) and reloaded.pooling == "average"
    assert VitoConfig.from_pretrained(tmp_path).pooling == "average"

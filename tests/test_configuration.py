"""VitoConfig: defaults follow the paper, presets load, every invalid value names its field."""

import pytest
from transformers import AutoConfig, ConvNextConfig

from vito_hf import PRESET_NAMES, VitoConfig, VitoModel, load_preset


def test_default_is_the_papers_resnet50():
    config = VitoConfig()
    assert config.backbone_config.model_type == "resnet"
    assert config.backbone_config.hidden_sizes[-2:] == [1024, 2048]
    assert config.pooled_stages == ["stage3", "stage4"]
    assert config.backbone_config.out_features == ["stage3", "stage4"]
    assert (config.temperature, config.num_views, config.ema_momentum_base) == (0.1, 3, 0.996)
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
    assert load_preset("tiny", image_size=96).image_size == 96
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
        ("num_views", 1),
        ("ema_momentum_base", -0.01),
        ("ema_momentum_base", 1.5),
        ("ema_momentum_schedule", "linear"),
        ("image_size", 0),
        ("classifier_dropout", 1.0),
    ],
)
def test_invalid_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"`{field}`"):
        load_preset("tiny", **{field: value})


def test_heads_must_divide_the_channels():
    config = load_preset("tiny", attention_num_heads=3)
    with pytest.raises(ValueError, match="`attention_num_heads`"):
        VitoModel(config)

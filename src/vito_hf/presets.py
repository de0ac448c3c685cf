"""Architecture presets: the paper's ResNet-50, its Swin-S scaling run, a one-GPU model and a tiny CPU model.

The JSON files live in `vito_hf/preset_configs/` so
they ship with the package.
"""

import json
from pathlib import Path

from .configuration_vito import VitoConfig

PRESET_DIR = Path(__file__).parent / "preset_configs"
PRESET_NAMES = tuple(sorted(path.stem for path in PRESET_DIR.glob("*.json")))


def load_preset(name_or_path: str | Path, **overrides) -> VitoConfig:
    """Build a `VitoConfig` from a preset name (`"resnet50"`, `"swin-s"`, `"small"`, `"tiny"`) or a JSON path;
    keyword overrides replace top-level fields (e.g. `temperature=0.2`)."""
    path = Path(name_or_path)
    if not path.suffix == ".json":
        path = PRESET_DIR / f"{name_or_path}.json"
    if not path.is_file():
        raise ValueError(f"Unknown VITO preset {str(name_or_path)!r}: use one of {PRESET_NAMES} or a JSON config path.")
    fields = {key: value for key, value in json.loads(path.read_text()).items() if not key.startswith("_")}
    fields.pop("model_type", None)
    fields.update(overrides)
    return VitoConfig(**fields)

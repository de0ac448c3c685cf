"""Deprecated home of `vito_hf.curation` (moved in 0.2; this alias goes in the next release).

`vito_hf.data.curation` and its old submodules resolve to the modules that now hold their names.
"""

import importlib
import sys
import warnings

warnings.warn(
    "vito_hf.data.curation moved to vito_hf.curation; the old path will be removed in the next release",
    DeprecationWarning,
    stacklevel=2,
)

from vito_hf.curation import *  # noqa: E402,F403
from vito_hf.curation import __all__  # noqa: E402,F401

_OLD_SUBMODULES = {
    "candidates": "candidates",
    "classifier_filter": "classifier_filter",
    "matching": "matching",
    "taxonomy": "taxonomy",
    "state": "state",
    "sharding": "sharding",
    "report": "report",
    "pipeline": "pipeline",
    "records": "records",
    "settings": "records",
    "length_filter": "stages",
    "video_processing": "workers",
    "clip_store": "stages",
    "parallel": "workers",
    "dataset_folder": "sharding",
    "dataset_card": "report",
}
for _old, _new in _OLD_SUBMODULES.items():
    sys.modules[f"{__name__}.{_old}"] = importlib.import_module(f"vito_hf.curation.{_new}")

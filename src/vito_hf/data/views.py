"""Deprecated: `vito_hf.data.views` was split in 0.2 (transforms, collation, view_datasets); this alias goes
in the next release. Import the names from `vito_hf.data`."""

import warnings

warnings.warn(
    "vito_hf.data.views was split into vito_hf.data.transforms, .collation and .view_datasets; import from "
    "vito_hf.data (the old module goes in the next release)",
    DeprecationWarning,
    stacklevel=2,
)

from .collation import IMAGENET_MEAN, IMAGENET_STD, DeviceViewAugmentation, VitoPretrainingCollator, normalize_views  # noqa: E402,F401
from .transforms import SkipLog, VitoViewTransform, video_source  # noqa: E402,F401
from .view_datasets import ResamplingViewDataset, SkippingViewDataset, views_dataset  # noqa: E402,F401

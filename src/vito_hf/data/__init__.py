"""Video data for VITO: PyAV decoding, clip export, samplers, view augmentation, datasets."""

from .augmentation import (
    BYOL_VIEW_1,
    BYOL_VIEW_2,
    ViewAugmentation,
    augment_frame,
    augment_views,
    byol_view_augmentations,
)
from .builder import VitoClipFolder, build_clip_dataset, clip_rows
from .clip_export import encode_clip
from .decoding import (
    CorruptVideoError,
    EmptyVideoError,
    NotAVideoError,
    NoVideoStreamError,
    VideoDecodeError,
    VideoInfo,
    VideoNotFoundError,
    VideoPermissionError,
    decode_all_frames,
    decode_frames_at,
    iter_frames,
    probe_video,
    select_frame_indices,
)
from .sampling import ChunkSampler, FixedDelaySampler, MarginalSampler, SampledTimes
from .views import (
    DeviceViewAugmentation,
    ResamplingViewDataset,
    SkippingViewDataset,
    VitoPretrainingCollator,
    VitoViewTransform,
    normalize_views,
    views_dataset,
)

__all__ = [
    "BYOL_VIEW_1",
    "BYOL_VIEW_2",
    "ChunkSampler",
    "DeviceViewAugmentation",
    "FixedDelaySampler",
    "MarginalSampler",
    "ResamplingViewDataset",
    "SampledTimes",
    "SkippingViewDataset",
    "ViewAugmentation",
    "VitoClipFolder",
    "VitoPretrainingCollator",
    "VitoViewTransform",
    "augment_frame",
    "augment_views",
    "build_clip_dataset",
    "byol_view_augmentations",
    "clip_rows",
    "normalize_views",
    "views_dataset",
    "CorruptVideoError",
    "EmptyVideoError",
    "NoVideoStreamError",
    "NotAVideoError",
    "VideoDecodeError",
    "VideoInfo",
    "VideoNotFoundError",
    "VideoPermissionError",
    "decode_all_frames",
    "decode_frames_at",
    "encode_clip",
    "iter_frames",
    "probe_video",
    "select_frame_indices",
]

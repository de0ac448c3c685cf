"""Video data for VITO: reading the clip store, PyAV decoding, temporal samplers, view augmentation, seeding.

`build_pretraining_data(DataArguments(...), seed)` is the one entry point for pretraining data; the
modules below it: `builder` (clip store -> `datasets`), `decoding`, `samplers`, `augmentation`,
`transforms` (row -> views), `collation` (views -> batch), `view_datasets`, `seeding`.
"""

from .augmentation import (
    BYOL_VIEW_1,
    BYOL_VIEW_2,
    ViewAugmentation,
    augment_frame,
    augment_views,
    byol_view_augmentations,
)
from .builder import (
    NoUsableClipsError,
    ShardSplitError,
    VitoClipFolder,
    build_clip_dataset,
    build_shard_stream,
    check_shard_split,
    clip_rows,
)
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
from .arguments import DataArguments
from .collation import DeviceViewAugmentation, VitoPretrainingCollator, normalize_views
from .pretraining import PretrainingData, build_pretraining_data, seeded_pretraining_data, temporal_sampler
from .samplers import ChunkSampler, FixedDelaySampler, MarginalSampler, SampledTimes, TemporalSampler, sampler_names
from .seeding import EpochSeedingCallback, PerExampleSeededDataset, PerExampleSeededStream, SeededBatchCollator
from .transforms import VitoViewTransform
from .view_datasets import ResamplingViewDataset, SkippingViewDataset, views_dataset

__all__ = [
    "BYOL_VIEW_1",
    "BYOL_VIEW_2",
    "ChunkSampler",
    "DataArguments",
    "EpochSeedingCallback",
    "PerExampleSeededDataset",
    "PerExampleSeededStream",
    "PretrainingData",
    "SeededBatchCollator",
    "NoUsableClipsError",
    "ShardSplitError",
    "DeviceViewAugmentation",
    "FixedDelaySampler",
    "MarginalSampler",
    "ResamplingViewDataset",
    "SampledTimes",
    "SkippingViewDataset",
    "TemporalSampler",
    "ViewAugmentation",
    "VitoClipFolder",
    "VitoPretrainingCollator",
    "VitoViewTransform",
    "augment_frame",
    "augment_views",
    "build_clip_dataset",
    "build_shard_stream",
    "build_pretraining_data",
    "byol_view_augmentations",
    "check_shard_split",
    "clip_rows",
    "normalize_views",
    "sampler_names",
    "seeded_pretraining_data",
    "temporal_sampler",
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
    "iter_frames",
    "probe_video",
    "select_frame_indices",
]

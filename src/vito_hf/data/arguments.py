"""`DataArguments`: the data recipe of a pretraining run, for `transformers.HfArgumentParser`.

Every parameter of the views has its one source here: the number of views, the temporal window and
sampler, the image size, the augmentation and where it runs. `build_pretraining_data` turns them into
the sampler, the view transform and the collator; the model takes the view count and the image size
from the tensors it is given.
"""

from dataclasses import dataclass, field

SAMPLERS = ("marginal", "delta", "chunk")


@dataclass
class DataArguments:
    """Where the clips come from and how views are drawn."""

    data_dir: str | None = field(
        default=None,
        metadata={
            "help": "A curated clip folder (metadata.jsonl + clips/), a store packed as WebDataset shards "
            "(webdataset/index.json; always streamed) or a plain folder of videos (required); or a Hub dataset, "
            "hf://datasets/<user>/<name> or <user>/<name> (shards streamed, a folder store downloaded to the cache)."
        },
    )
    streaming: bool = field(default=False, metadata={"help": "Stream clips instead of building a map-style dataset."})
    cache_dir: str | None = field(default=None, metadata={"help": "Cache folder of the datasets builder."})
    num_views: int = field(default=3, metadata={"help": "Views per clip (the paper: 3; the loss needs at least 2)."})
    temporal_sampler: str = field(
        default="marginal",
        metadata={
            "help": "How view times are drawn: marginal (the paper: uniform in a random window), delta (ablation: "
            "views --delay_seconds apart) or chunk (ablation: one time per equal chunk of the window).",
            "choices": list(SAMPLERS),
        },
    )
    window_seconds: float = field(
        default=2.56,
        metadata={"help": "Window the views are drawn from, marginal and chunk samplers (paper: 64 frames at 25 fps)."},
    )
    delay_seconds: float = field(default=0.5, metadata={"help": "Gap between views of the delta sampler."})
    image_size: int = field(default=224, metadata={"help": "Side of the square crops (the model's input size)."})
    crop_scale_min: float = field(
        default=0.4, metadata={"help": "Smallest crop area as a share of the frame (BYOL: 0.08; VITO: 0.4)."}
    )
    photometric_in_worker: bool = field(
        default=False,
        metadata={
            "help": "Colour/blur/solarize each example in the loader (views independent of how clips are split "
            "into batches and processes) instead of batched in the collator (several times faster on CPU)."
        },
    )
    device_augmentation: bool | None = field(
        default=None,
        metadata={
            "help": "Colour/blur/solarize each batch on the accelerator (uint8 batches cross to it: 4x less to "
            "copy). true or false; default: on when CUDA is available. Ignored with --photometric_in_worker."
        },
    )
    repeat_clips: int = field(
        default=1,
        metadata={"help": "List each clip this many times per epoch (tiny collections: more views per epoch)."},
    )

    def __post_init__(self):
        if self.temporal_sampler not in SAMPLERS:
            raise ValueError(f"`temporal_sampler` must be one of {SAMPLERS}, got {self.temporal_sampler!r}.")
        if self.num_views < 2:
            raise ValueError(f"`num_views` must be at least 2 (the loss contrasts pairs of views), got {self.num_views}.")
        if self.image_size < 8:
            raise ValueError(f"`image_size` must be at least 8 pixels, got {self.image_size}.")
        if not 0.0 < self.crop_scale_min <= 1.0:
            raise ValueError(f"`crop_scale_min` must lie in (0, 1], got {self.crop_scale_min}.")
        if self.repeat_clips < 1:
            raise ValueError(f"`repeat_clips` must be at least 1, got {self.repeat_clips}.")

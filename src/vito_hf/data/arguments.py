"""`DataArguments`: the data recipe of a pretraining run, for `transformers.HfArgumentParser`.

Every parameter of the views has its one source here: the number of views, the temporal sampler and its
parameters, the image size, the augmentation and where it runs. `build_pretraining_data` turns them into
the sampler, the view transform and the collator; the model takes the view count and the image size
from the tensors it is given. The samplers' parameters (`window_seconds`, `delay_seconds`, ...) are not
written here: each registered sampler in `vito_hf.data.samplers` declares its own, and they become fields
(and flags) of `DataArguments` when the class is defined.
"""

from dataclasses import dataclass, field

from .samplers import describe_samplers, sampler_names, sampler_parameters


def with_sampler_parameters(cls: type) -> type:
    """Add a field for each parameter of the registered samplers that `cls` does not declare (apply below
    `@dataclass`), with the sampler's default and help and the samplers that read it."""
    annotations = cls.__dict__.get("__annotations__", {})
    for parameter in sampler_parameters(declared=annotations).values():
        annotations[parameter.name] = parameter.type
        help_text = f"{parameter.help} Read by --temporal_sampler {' and '.join(parameter.samplers)}.".lstrip()
        setattr(cls, parameter.name, field(default=parameter.default, metadata={"help": help_text}))
    return cls


@dataclass
@with_sampler_parameters
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
        metadata={"help": f"How view times are drawn: {describe_samplers()}.", "choices": list(sampler_names())},
    )
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
        if self.temporal_sampler not in sampler_names():
            raise ValueError(f"`temporal_sampler` must be one of {sampler_names()}, got {self.temporal_sampler!r}.")
        if self.num_views < 2:
            raise ValueError(f"`num_views` must be at least 2 (the loss contrasts pairs of views), got {self.num_views}.")
        if self.image_size < 8:
            raise ValueError(f"`image_size` must be at least 8 pixels, got {self.image_size}.")
        if not 0.0 < self.crop_scale_min <= 1.0:
            raise ValueError(f"`crop_scale_min` must lie in (0, 1], got {self.crop_scale_min}.")
        if self.repeat_clips < 1:
            raise ValueError(f"`repeat_clips` must be at least 1, got {self.repeat_clips}.")

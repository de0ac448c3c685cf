"""VideoNet-style curation: from candidate videos with titles to a Hub-ready clip store.

An offline job that writes what `vito_hf.data` reads (the layout is `vito_hf.clip_store`).
`curate(candidates, output_dir, CurationSettings(...))` runs the stages (title match against a
taxonomy, per-class cap, probe, length filter, classifier filter, clip export), resumable and
shardable; `merge_shards` joins the shards of a split run. See dataset_scripts/README.md.

Modules: `candidates` (what to curate), `taxonomy` and `matching` (which classes a title names),
`classifier_filter`, `clip_export` (the random-access clip encoder), `stages` (the per-video
stages), `workers` (worker processes that survive crashes), `ray_executor` (the same stages as a
Ray Data pipeline, `executor="ray"`), `state` (durable per-video records),
`records` (settings and the typed record), `sharding` (split, merge, write the store), `report`
(report and dataset card), `webdataset_export` (pack the store into WebDataset tar shards), `pipeline` (`curate`).
"""

from .candidates import (
    Candidate,
    CandidateSourceError,
    candidates_from_folder,
    candidates_from_manifest,
    load_candidates,
)
from .classifier_filter import (
    ClassifierFilter,
    ClassifierMappingError,
    map_taxonomy_to_labels,
)
from .clip_export import SUPPORTED_CODECS, encode_clip, output_size
from .matching import TitleMatcher, apply_class_cap, normalize_words, plural_forms
from .path_rewrite import make_store_paths_relative
from .pipeline import CurationResult, curate, select_videos
from .records import DEFAULT_CLASSIFIER, CurationSettings, VideoRecord
from .segmentation import TitleSegmenter, split_camel_case
from .sharding import ShardMergeError, merge_shards, shard_of
from .state import CurationSettingsError
from .taxonomy import (
    Taxonomy,
    TaxonomyClass,
    TaxonomyError,
    imagenet1k_taxonomy,
    load_taxonomy,
    taxonomy_from_records,
)
from .workers import WorkerStartupError

__all__ = [
    "DEFAULT_CLASSIFIER",
    "Candidate",
    "CandidateSourceError",
    "ClassifierFilter",
    "ClassifierMappingError",
    "CurationResult",
    "CurationSettings",
    "CurationSettingsError",
    "SUPPORTED_CODECS",
    "ShardMergeError",
    "Taxonomy",
    "TaxonomyClass",
    "TaxonomyError",
    "TitleMatcher",
    "TitleSegmenter",
    "VideoRecord",
    "WorkerStartupError",
    "apply_class_cap",
    "candidates_from_folder",
    "candidates_from_manifest",
    "curate",
    "encode_clip",
    "imagenet1k_taxonomy",
    "load_candidates",
    "load_taxonomy",
    "make_store_paths_relative",
    "map_taxonomy_to_labels",
    "merge_shards",
    "normalize_words",
    "output_size",
    "plural_forms",
    "select_videos",
    "shard_of",
    "split_camel_case",
    "taxonomy_from_records",
]

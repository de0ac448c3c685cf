"""VideoNet-style curation: from candidate videos with titles to a Hub-ready folder of clips.

`curate` runs the stages (title match against a taxonomy, per-class cap, probe,
length filter, classifier filter, clip export), resumable and shardable;
`merge_shards` joins the shards of a split run. See dataset_scripts/README.md.
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
from .matching import TitleMatcher, apply_class_cap, normalize_words, plural_forms
from .pipeline import DEFAULT_CLASSIFIER, CurationResult, curate, select_videos
from .settings import CurationSettings
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
from .video_processing import WorkerStartupError

__all__ = [
    "DEFAULT_CLASSIFIER",
    "Candidate",
    "CandidateSourceError",
    "ClassifierFilter",
    "ClassifierMappingError",
    "CurationResult",
    "CurationSettings",
    "CurationSettingsError",
    "ShardMergeError",
    "Taxonomy",
    "TaxonomyClass",
    "TaxonomyError",
    "TitleMatcher",
    "WorkerStartupError",
    "apply_class_cap",
    "candidates_from_folder",
    "candidates_from_manifest",
    "curate",
    "imagenet1k_taxonomy",
    "load_candidates",
    "load_taxonomy",
    "map_taxonomy_to_labels",
    "merge_shards",
    "normalize_words",
    "plural_forms",
    "select_videos",
    "shard_of",
    "taxonomy_from_records",
]

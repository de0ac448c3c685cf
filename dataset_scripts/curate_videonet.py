"""Curate a VideoNet-style clip dataset from candidate videos (see dataset_scripts/README.md).

    python dataset_scripts/curate_videonet.py curate --candidates videos/ --output_dir videonet/
    python dataset_scripts/curate_videonet.py curate --candidates m.jsonl --output_dir out/ --shard 0 --num_shards 4
    python dataset_scripts/curate_videonet.py curate --candidates m.jsonl --output_dir out/ --executor ray [--ray_address host:6379]
    python dataset_scripts/curate_videonet.py merge --output_dir out/ [--inputs machineA/out machineB/out]
    python dataset_scripts/curate_videonet.py relativize --output_dir out/ [--root /where/the/videos/were]

`relativize` rewrites a store written by an earlier version, whose sources and report held absolute local paths
(a push refuses such a store), without its candidates; a curation rerun does the same from them.

Prints one JSON summary line at the end. Flags may also be spelled with hyphens (--output-dir); argument errors
exit with code 2 before anything is written.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

from vito_hf.cli import (
    ArgumentParser,
    existing_file,
    existing_folder,
    existing_path,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from vito_hf.curation import DEFAULT_CLASSIFIER, CurationSettings, curate, make_store_paths_relative, merge_shards
from vito_hf.curation.records import check_license
from vito_hf.curation.webdataset_export import refresh_shard_store


def _optional_int(value: str) -> int | None:
    """0 means 'none' (no cap, keep the size)."""
    number = non_negative_int(value)
    return None if number == 0 else number


def _looks_like_a_missing_folder(name: str) -> bool:
    """A local path (absolute, relative with a dot, or deeper than a Hub `owner/name`) that does not exist."""
    path = Path(name)
    return not path.is_dir() and (path.is_absolute() or name.startswith(".") or name.count("/") > 1)


def _card_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target_distribution", type=existing_file, default=None,
                        help="JSON {class id: weight} for the report's target histogram (default: uniform)")
    parser.add_argument("--pretty_name", default=None, help="dataset name in the card")
    parser.add_argument("--license", default="unknown",
                        help="Hub licence id of the dataset card (default unknown: the clips keep their sources' terms)")
    parser.add_argument("--license_name", default=None, help="with --license other: the licence's short name")
    parser.add_argument("--license_link", default=None, help="with --license other: a URL of the licence's text")
    parser.add_argument("--webdataset_shard_mb", type=non_negative_float, default=0.0,
                        help="also pack the store into WebDataset tar shards of about this many MB (0: loose clips only)")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("curate", help="run (or resume) the curation stages")
    run.add_argument("--candidates", required=True, type=existing_path,
                     help="folder of videos, or a .csv/.jsonl manifest (path or url, title, tags, id)")
    run.add_argument("--output_dir", required=True, type=Path)
    run.add_argument("--taxonomy", default=None, type=existing_file,
                     help="class list (.tsv/.csv/.json/.txt); default: ImageNet-1k")
    run.add_argument("--classifier", default=DEFAULT_CLASSIFIER,
                     help="AutoModelForImageClassification folder or Hub id; 'none' skips the classifier filter")
    run.add_argument("--frames", type=positive_int, default=100, help="first N frames the classifier sees")
    run.add_argument("--min_duration", type=non_negative_float, default=10.0, help="seconds; shorter videos are dropped")
    run.add_argument("--clip_duration", type=positive_float, default=10.0, help="seconds exported per kept video")
    run.add_argument("--fps", type=positive_float, default=25.0, help="frame rate of the exported clips")
    run.add_argument("--short_side", type=_optional_int, default=256, help="bound on the clips' short side (0: keep)")
    run.add_argument("--codec", choices=("mjpeg", "libx264"), default="mjpeg",
                     help="clip codec: mjpeg (fastest training reads) or libx264 (all-intra, smaller, plays in browsers)")
    run.add_argument("--per_class_cap", type=_optional_int, default=5000, help="videos per class query (0: no cap)")
    run.add_argument("--match_tags", action="store_true", help="match class names in tags as well as titles")
    run.add_argument("--no_title_segmentation", dest="match_segments", action="store_false",
                     help="match whole words only (default: also inside hashtags, camelCase and run-together words)")
    run.add_argument("--num_workers", type=non_negative_int, default=min(4, os.cpu_count() or 1),
                     help="worker processes (0: run in this process); with --executor ray: classifier actors")
    run.add_argument("--batch_size", type=positive_int, default=32, help="frames per classifier batch")
    run.add_argument("--cross_video_batching", action="store_true",
                     help="fill each classifier batch with frames of several videos (default: one video per batch)")
    run.add_argument("--executor", choices=("local", "ray"), default="local",
                     help="local: this machine's worker processes; ray: a Ray Data pipeline (needs vito_hf[ray])")
    run.add_argument("--ray_address", default=None,
                     help="Ray cluster to run on with --executor ray (default: start a local Ray on this machine)")
    run.add_argument("--device", default=None, help="classifier device (default: cuda when available)")
    run.add_argument("--shard", type=non_negative_int, default=0)
    run.add_argument("--num_shards", type=positive_int, default=1)
    run.add_argument("--no_progress", action="store_true")
    _card_options(run)

    merge = commands.add_parser("merge", help="merge the shards of a split run into one dataset folder")
    merge.add_argument("--output_dir", required=True, type=Path)
    merge.add_argument("--inputs", nargs="*", type=existing_folder, default=None,
                       help="curation folders holding the shards (default: the output folder)")
    _card_options(merge)

    relativize = commands.add_parser("relativize", help="rewrite absolute local paths in a store as relative ones")
    relativize.add_argument("--output_dir", required=True, type=existing_folder, help="the store to rewrite")
    relativize.add_argument("--root", default=None,
                            help="sources are made relative to this folder (default: the folder holding them all)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "curate" and args.shard >= args.num_shards:
        parser.error(f"--shard {args.shard} must be below --num_shards {args.num_shards}")
    if args.command == "curate" and _looks_like_a_missing_folder(args.classifier):
        parser.error(f"--classifier {args.classifier} is not a folder (nor a Hub id like microsoft/resnet-50)")
    if args.command == "curate" and args.ray_address and args.executor != "ray":
        parser.error("--ray_address needs --executor ray")
    if args.command == "curate" and args.executor == "ray" and importlib.util.find_spec("ray") is None:
        parser.error("--executor ray needs Ray Data: pip install 'vito_hf[ray]'")
    if args.output_dir.exists() and not args.output_dir.is_dir():
        parser.error(f"--output_dir {args.output_dir} is a file; pass a folder")
    if args.command == "relativize":
        summary = {"command": "relativize", "output_dir": str(args.output_dir),
                   **make_store_paths_relative(args.output_dir, args.root)}
        print(json.dumps(summary))
        return summary
    try:
        check_license(args.license, args.license_name, args.license_link)
    except ValueError as error:
        parser.error(str(error))
    try:
        target = json.loads(args.target_distribution.read_text()) if args.target_distribution else None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        parser.error(f"--target_distribution {args.target_distribution} is not JSON ({error})")
    if target is not None and not isinstance(target, dict):
        parser.error(f"--target_distribution {args.target_distribution} must hold a JSON object {{class id: weight}}")
    shard_bytes = max(1, round(args.webdataset_shard_mb * 1e6)) if args.webdataset_shard_mb else None
    if args.command == "merge":
        report = merge_shards(args.output_dir, args.inputs, target_distribution=target,
                              pretty_name=args.pretty_name, license=args.license,
                              license_name=args.license_name, license_link=args.license_link)
        refresh_shard_store(args.output_dir, shard_bytes)
        summary = {"command": "merge", "output_dir": str(args.output_dir), **report["totals"]}
    else:
        settings = CurationSettings(
            taxonomy=args.taxonomy,
            classifier=None if args.classifier.lower() == "none" else args.classifier,
            num_frames=args.frames, min_duration=args.min_duration, clip_duration=args.clip_duration,
            fps=args.fps, short_side=args.short_side, codec=args.codec, per_class_cap=args.per_class_cap,
            match_tags=args.match_tags, match_segments=args.match_segments,
            num_workers=args.num_workers, batch_size=args.batch_size, device=args.device,
            cross_video_batching=args.cross_video_batching, executor=args.executor, ray_address=args.ray_address,
            shard=args.shard, num_shards=args.num_shards, target_distribution=target,
            pretty_name=args.pretty_name, license=args.license, license_name=args.license_name,
            license_link=args.license_link, progress=not args.no_progress,
            webdataset_shard_bytes=shard_bytes,
        )
        result = curate(args.candidates, args.output_dir, settings)
        summary = {"command": "curate", "output_dir": str(result.output_dir), "shard": result.shard,
                   "num_shards": result.num_shards, "candidates": result.candidates, "selected": result.selected,
                   "kept": result.kept, "reused": result.reused, "executed": result.executed}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

"""Pack a clip store (or a folder of videos) into WebDataset tar shards with an index and the dataset card.

    python dataset_scripts/convert_to_webdataset.py --store videonet/                # in place: videonet/webdataset/
    python dataset_scripts/convert_to_webdataset.py --store videonet/ --output_dir videonet-wds/ --shard_mb 1000

Prints one JSON summary line at the end. The logic lives in vito_hf.curation.webdataset_export.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vito_hf.cli import ArgumentParser, existing_folder, non_negative_int, positive_float
from vito_hf.clip_store import DEFAULT_SHARD_BYTES
from vito_hf.curation.webdataset_export import write_shard_store


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, type=existing_folder, help="the clip store (or folder of videos)")
    parser.add_argument("--output_dir", type=Path, default=None, help="where the shard store goes (default: --store)")
    parser.add_argument("--shard_mb", type=positive_float, default=DEFAULT_SHARD_BYTES / 1e6,
                        help="shard size bound in MB (default 1000)")
    parser.add_argument("--shard_clips", type=non_negative_int, default=0, help="most clips per shard (0: no bound)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the packing order")
    return parser


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output_dir is not None and args.output_dir.exists() and not args.output_dir.is_dir():
        parser.error(f"--output_dir {args.output_dir} is a file; pass a folder")
    index = write_shard_store(args.store, args.output_dir, shard_bytes=max(1, round(args.shard_mb * 1e6)),
                              shard_clips=args.shard_clips or None, seed=args.seed)
    summary = {"command": "convert_to_webdataset", "output_dir": str(args.output_dir or args.store),
               "clips": index["clips"], "shards": len(index["shards"]), "bytes": index["bytes"]}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()

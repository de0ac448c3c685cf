"""Regenerate src/vito_hf/curation/resources/imagenet1k_classes.tsv from a timm wheel.

The wheel carries the 1,000 ImageNet-1k WordNet ids in class-index order
(timm/data/_info/imagenet_synsets.txt) and each id's WordNet lemmas
(timm/data/_info/imagenet_synset_to_lemma.txt). Fetch the wheel without
installing it:

    pip download timm==1.0.31 --no-deps -d /tmp/timm
    python dataset_scripts/make_imagenet_classes.py /tmp/timm/timm-1.0.31-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from vito_hf.atomic_files import write_text_atomic
from vito_hf.cli import ArgumentParser, existing_file

SYNSETS = "timm/data/_info/imagenet_synsets.txt"
LEMMAS = "timm/data/_info/imagenet_synset_to_lemma.txt"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/vito_hf/curation/resources/imagenet1k_classes.tsv"


def build_rows(synsets_text: str, lemmas_text: str) -> list[tuple[int, str, str, str]]:
    """(index, wnid, first lemma, other lemmas joined by '|') for each class, in index order."""
    lemmas = {}
    for line in lemmas_text.splitlines():
        wnid, _, names = line.partition("\t")
        lemmas[wnid] = [name.strip() for name in names.split(",") if name.strip()]
    wnids = [line.strip() for line in synsets_text.splitlines() if line.strip()]
    if len(wnids) != 1000:
        raise ValueError(f"expected 1000 ImageNet-1k synsets, found {len(wnids)}")
    return [(index, wnid, lemmas[wnid][0], "|".join(lemmas[wnid][1:])) for index, wnid in enumerate(wnids)]


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=existing_file, help="a timm wheel (.whl)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not args.out.parent.is_dir():
        parser.error(f"--out {args.out}: the folder {args.out.parent} does not exist")
    try:
        with zipfile.ZipFile(args.wheel) as wheel:
            rows = build_rows(wheel.read(SYNSETS).decode(), wheel.read(LEMMAS).decode())
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        parser.error(f"{args.wheel} is not a timm wheel with the ImageNet class lists ({error})")
    write_text_atomic(args.out, "index\tid\tname\tsynonyms\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows))
    print(f"wrote {len(rows)} classes to {args.out}")


if __name__ == "__main__":
    main()

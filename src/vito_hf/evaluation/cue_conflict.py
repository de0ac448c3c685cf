"""Cue-conflict stimuli (Geirhos et al., ICLR 2019; the model-vs-human benchmark): categories, names, reading,
writing, and the mapping of ImageNet-1k decisions onto the 16 categories.

Stimuli lie in one folder per shape category and are named ``[<prefix>_]<shape><n>-<texture><m>.png``; as in
model-vs-human, the shape is the folder's name and the texture the file name's last ``-`` part after any ``_``
prefix, digits removed. The 16 categories and their WordNet ids
are in ``resources/cue_conflict_categories.tsv``; a model with an ImageNet-1k head decides among them by the mean
probability of each category's ImageNet classes (WordNet hyponyms). Without the benchmark's stimuli,
:func:`write_fashion_cue_conflict` generates stand-ins from Fashion-MNIST in the same layout.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .image_inputs import IMAGE_SUFFIXES, write_png
from .labelled_images import FASHION_MNIST_CLASSES
from .offline_data import item_images

RESOURCES = Path(__file__).resolve().parent / "resources"
IMAGENET_CLASSES = Path(__file__).resolve().parent.parent / "curation" / "resources" / "imagenet1k_classes.tsv"
CUE_CONFLICT_NAME = re.compile(r"^(?P<shape>[A-Za-z]+)\d*-(?P<texture>[A-Za-z]+)\d*$")
"""The part of a stimulus's file name after its last ``_`` and before its first ``.``: ``dog10-bird2``."""


@lru_cache(maxsize=None)
def cue_conflict_categories() -> dict[str, tuple[str, ...]]:
    """The 16 categories of the benchmark and the WordNet ids of each (sorted by category name)."""
    with open(RESOURCES / "cue_conflict_categories.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {row["category"]: tuple(row["wordnet_ids"].split("|")) for row in rows}


@lru_cache(maxsize=None)
def imagenet_category_indices() -> dict[str, tuple[int, ...]]:
    """ImageNet-1k class indices of each of the 16 categories (its WordNet ids that are ImageNet classes)."""
    with open(IMAGENET_CLASSES, newline="") as handle:
        index_of = {row["id"]: int(row["index"]) for row in csv.DictReader(handle, delimiter="\t")}
    return {
        category: tuple(sorted(index_of[wnid] for wnid in wnids if wnid in index_of))
        for category, wnids in cue_conflict_categories().items()
    }


def imagenet_to_category_decisions(probabilities: torch.Tensor | np.ndarray) -> list[str]:
    """The category decided for each row of ImageNet-1k probabilities ``[N, 1000]``: the highest mean probability
    over a category's classes (the benchmark's aggregation)."""
    probabilities = torch.as_tensor(np.asarray(probabilities), dtype=torch.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != 1000:
        raise ValueError(f"expected ImageNet-1k probabilities [N, 1000], got shape {tuple(probabilities.shape)}")
    categories = imagenet_category_indices()
    scores = torch.stack([probabilities[:, list(indices)].mean(1) for indices in categories.values()], dim=1)
    names = list(categories)
    return [names[i] for i in scores.argmax(1).tolist()]


def parse_cue_conflict_name(name: str) -> tuple[str, str]:
    """The shape and texture categories a file name spells: ``("dog", "bird")`` for ``dog10-bird2.png`` and for
    ``0001_dog10-bird2.png`` (any prefix up to the last ``_`` is dropped, as model-vs-human does); a ValueError
    for names outside the layout."""
    match = CUE_CONFLICT_NAME.match(name.split("_")[-1].split(".")[0])
    if match is None:
        raise ValueError(f"{name!r} is not a cue-conflict name [<prefix>_]<shape><n>-<texture><m>.<ext>")
    return match["shape"], match["texture"]


@dataclass(frozen=True)
class CueConflictStimuli:
    """Stimulus files with their shape (the folder's name) and texture categories, and the image files skipped
    because their name or place is outside the layout (relative to the root)."""

    paths: list[Path]
    shapes: list[str]
    textures: list[str]
    skipped: list[str]


def read_cue_conflict(root: str | Path) -> CueConflictStimuli:
    """The stimuli under ``root`` (``<shape>/[<prefix>_]<shape><n>-<texture><m>.<ext>``, sorted), read as
    model-vs-human reads them: the shape from the folder, the texture from the name. Image files directly in
    ``root`` or with other names are skipped and listed; a folder where no file parses is an error."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    paths, shapes, textures, skipped = [], [], [], []
    for path in files:
        try:
            _, texture = parse_cue_conflict_name(path.name)
        except ValueError:
            texture = None
        if texture is None or path.parent == root:
            skipped.append(path.relative_to(root).as_posix())
            continue
        paths.append(path)
        shapes.append(path.parent.name)
        textures.append(texture)
    if not paths:
        example = f"; e.g. {skipped[0]!r} does not fit" if skipped else ""
        raise FileNotFoundError(
            f"no cue-conflict stimuli under {root}: expected <shape>/[<prefix>_]<shape><n>-<texture><m>.png files "
            f"(the model-vs-human layout){example}"
        )
    return CueConflictStimuli(paths, shapes, textures, skipped)


def fashion_category_names() -> tuple[str, ...]:
    """Fashion-MNIST class names as cue-conflict categories (lower-case letters only: ``tshirt``, ``ankleboot``)."""
    return tuple(re.sub(r"[^a-z]", "", name.lower().split("/")[0]) for name in FASHION_MNIST_CLASSES)


def cue_conflict_stimulus(shape_item: np.ndarray, texture_item: np.ndarray, *, scale: int = 4) -> np.ndarray:
    """A uint8 grayscale stimulus: ``shape_item``'s silhouette, enlarged ``scale`` times, filled with copies of
    ``texture_item`` at its own size (so the texture keeps its local pattern but not its outline), on black."""
    side = shape_item.shape[0] * scale
    silhouette = np.asarray(Image.fromarray(shape_item).resize((side, side), Image.BILINEAR)) > 40
    repeats = -(-side // texture_item.shape[0])
    texture = np.tile(np.maximum(texture_item, 60), (repeats, repeats))[:side, :side]
    return np.where(silhouette, texture, 0).astype(np.uint8)


def write_fashion_cue_conflict(root: str | Path, *, per_pair: int = 1, seed: int = 0, scale: int = 4) -> Path:
    """Cue-conflict stimuli from Fashion-MNIST test items, for every ordered pair of distinct classes, written as
    ``<root>/<shape>/<shape><n>-<texture><m>.png`` (the benchmark's layout); ``n``/``m`` index the items used."""
    root = Path(root)
    items = item_images(limit=2000, seed=seed).test
    names = fashion_category_names()
    rng = np.random.default_rng(seed)
    by_class = {c: np.flatnonzero(items.labels == c) for c in range(len(names))}
    for shape in range(len(names)):
        for texture in range(len(names)):
            if shape == texture:
                continue
            for _ in range(per_pair):
                n, m = rng.choice(by_class[shape]), rng.choice(by_class[texture])
                stimulus = cue_conflict_stimulus(items.images[n], items.images[m], scale=scale)
                write_png(root / names[shape] / f"{names[shape]}{n}-{names[texture]}{m}.png", stimulus)
    return root

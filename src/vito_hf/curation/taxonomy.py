"""Class lists that curation queries: the shipped ImageNet-1k list or a user's own.

A taxonomy is an ordered list of classes, each with a folder-safe id, a display
name and synonyms; the class index is the position in the list (and, for a
classifier with as many labels, the logit index).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SYNONYM_SPLIT = re.compile(r"[|;]")


class TaxonomyError(ValueError):
    """A class list that cannot be used; the message names the file, the row and the fix."""


@dataclass(frozen=True)
class TaxonomyClass:
    index: int
    id: str
    name: str
    synonyms: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The display name followed by the synonyms: every phrase a title may contain."""
        return (self.name, *self.synonyms)


@dataclass(frozen=True)
class Taxonomy:
    classes: tuple[TaxonomyClass, ...]
    source: str = "<memory>"

    def __post_init__(self) -> None:
        if not self.classes:
            raise TaxonomyError(f"taxonomy {self.source} has no classes")
        seen: dict[str, int] = {}
        for position, cls in enumerate(self.classes):
            if cls.index != position:
                raise TaxonomyError(f"taxonomy {self.source}: class {cls.name!r} has index {cls.index}, expected {position}")
            if not _ID_PATTERN.match(cls.id):
                raise TaxonomyError(
                    f"taxonomy {self.source}: class id {cls.id!r} is not folder-safe; use letters, digits, '.', '_' or '-'"
                )
            if cls.id in seen:
                raise TaxonomyError(
                    f"taxonomy {self.source}: id {cls.id!r} is used by classes {seen[cls.id]} and {position}; ids must be unique"
                )
            seen[cls.id] = position
        object.__setattr__(self, "_by_id", seen)

    def __len__(self) -> int:
        return len(self.classes)

    def __iter__(self) -> Iterator[TaxonomyClass]:
        return iter(self.classes)

    def __getitem__(self, index: int) -> TaxonomyClass:
        return self.classes[index]

    def by_id(self, class_id: str) -> TaxonomyClass:
        return self.classes[self._by_id[class_id]]

    def fingerprint(self) -> str:
        """A hash of the classes (not of where they were read from): equal lists give equal fingerprints."""
        payload = json.dumps([[c.id, c.name, list(c.synonyms)] for c in self.classes], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def slugify(name: str) -> str:
    """A folder-safe id from a class name: 'Mountain bike' -> 'mountain_bike'."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name.strip().lower()).strip("_")
    return slug or "class"


def taxonomy_from_records(records: Iterable[Mapping[str, object] | str], source: str = "<memory>") -> Taxonomy:
    """Build a taxonomy from dicts with `name` and optional `id`/`synonyms`, or from plain names."""
    classes = []
    for position, record in enumerate(records):
        if isinstance(record, str):
            record = {"name": record}
        name = str(record.get("name") or "").strip()
        if not name:
            raise TaxonomyError(f"taxonomy {source}: class {position} has no name; give every class a 'name'")
        synonyms = record.get("synonyms") or ()
        if isinstance(synonyms, str):
            synonyms = _SYNONYM_SPLIT.split(synonyms)
        synonyms = tuple(s.strip() for s in synonyms if str(s).strip() and s.strip() != name)
        class_id = str(record.get("id") or "").strip() or slugify(name)
        classes.append(TaxonomyClass(index=position, id=class_id, name=name, synonyms=synonyms))
    return Taxonomy(tuple(classes), source=source)


def _read_table(path: Path) -> list[dict[str, str]]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        if not reader.fieldnames or "name" not in reader.fieldnames:
            raise TaxonomyError(
                f"taxonomy {path}: the header row must have a 'name' column (optional: id, index, synonyms), "
                f"found {reader.fieldnames}"
            )
        rows = list(reader)
    if rows and "index" in rows[0] and rows[0]["index"] not in (None, ""):
        try:
            order = sorted(range(len(rows)), key=lambda i: int(rows[i]["index"]))
        except ValueError as err:
            raise TaxonomyError(f"taxonomy {path}: the 'index' column must hold integers ({err})") from None
        if [int(rows[i]["index"]) for i in order] != list(range(len(rows))):
            raise TaxonomyError(f"taxonomy {path}: the 'index' column must number the classes 0..{len(rows) - 1}")
        rows = [rows[i] for i in order]
    return rows


def _read_json(path: Path) -> list[dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TaxonomyError(f"taxonomy {path} is not valid JSON: {err}") from None
    if isinstance(data, dict):
        return [{"name": name, "synonyms": synonyms} for name, synonyms in data.items()]
    if isinstance(data, list):
        return data
    raise TaxonomyError(f"taxonomy {path}: expected a list of classes or a {{name: [synonyms]}} object")


def _read_text(path: Path) -> list[dict[str, object]]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        names = [n.strip() for n in line.split(",") if n.strip()]
        if names:
            records.append({"name": names[0], "synonyms": names[1:]})
    return records


def load_taxonomy(source: str | Path | Taxonomy | None = None) -> Taxonomy:
    """Read a class list; None gives the shipped ImageNet-1k classes.

    Formats: .tsv/.csv with a header (`name`, optional `id`, `index`, `synonyms`
    separated by '|'); .json (a list of {"name", "id", "synonyms"} or a
    {name: [synonyms]} object); .txt (one class per line, comma-separated names,
    the first one the display name).
    """
    if source is None:
        return imagenet1k_taxonomy()
    if isinstance(source, Taxonomy):
        return source
    path = Path(source)
    if not path.is_file():
        raise TaxonomyError(f"taxonomy file {path} does not exist; pass a .tsv/.csv/.json/.txt class list or None for ImageNet-1k")
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        records = _read_table(path)
    elif suffix == ".json":
        records = _read_json(path)
    elif suffix == ".txt":
        records = _read_text(path)
    else:
        raise TaxonomyError(f"taxonomy {path}: unknown format {suffix!r}; use .tsv, .csv, .json or .txt")
    return taxonomy_from_records(records, source=str(path))


@lru_cache(maxsize=1)
def imagenet1k_taxonomy() -> Taxonomy:
    """The 1,000 ImageNet-1k classes with their WordNet lemmas (see resources/README.md for the source)."""
    resource = resources.files("vito_hf.curation").joinpath("resources/imagenet1k_classes.tsv")
    with resources.as_file(resource) as path:
        taxonomy = load_taxonomy(path)
    return Taxonomy(taxonomy.classes, source="imagenet-1k")

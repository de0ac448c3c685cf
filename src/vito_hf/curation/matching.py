"""Title matching: which classes a video's title names, and the per-class query cap.

Matching works on words, never on substrings, so "cat" does not match
"category". Titles and class names are normalised the same way (accents
dropped, lower case, apostrophes removed, every other non-alphanumeric
character a word break), so "Mountain-Bike!" matches "mountain bike". A class
name also matches with its last word in a plural form (regular English rules:
+s, +es, y -> ies, f/fe -> ves, and a short list of irregulars), and a
hyphenated name also matches written as one word ("T-shirt" -> "tshirt").

With a `TitleSegmenter` (see `segmentation`), a title is also matched on its words with hashtags, camelCase
and run-together words split ("#goldenretrieverpuppy" -> "golden retriever puppy"), and a name of several
words also matches written as one ("goldenretriever"); what the plain words match is always kept.

Rule for several matches: when one matched phrase lies inside a longer matched
phrase at the same place ("tiger" inside "tiger cat"), only the longer one
counts; every other matched class counts, so a video may be the answer to
several class queries, as in the paper's one query per class. The classifier
filter later decides which of them, if any, the video is kept for.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .taxonomy import Taxonomy

if TYPE_CHECKING:  # segmentation imports normalize_words from here
    from .segmentation import TitleSegmenter

_NON_WORD = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_IRREGULAR_PLURALS = {
    "man": ("men",),
    "woman": ("women",),
    "child": ("children",),
    "person": ("people", "persons"),
    "mouse": ("mice", "mouses"),
    "goose": ("geese",),
    "foot": ("feet",),
    "tooth": ("teeth",),
    "louse": ("lice",),
    "ox": ("oxen",),
    "die": ("dice",),
    "fish": ("fish", "fishes"),
    "sheep": ("sheep",),
    "deer": ("deer",),
    "cactus": ("cacti", "cactuses"),
    "fungus": ("fungi", "funguses"),
}
_VOWELS = set("aeiou")


def normalize_words(text: str) -> tuple[str, ...]:
    """The words of `text` after folding accents, case and punctuation."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return tuple(w for w in _NON_WORD.split(_APOSTROPHES.sub("", ascii_text)) if w)


def plural_forms(word: str) -> tuple[str, ...]:
    """Plural spellings of an English noun by the simple rules (irregular ones from a short list)."""
    if word in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[word]
    if not word.isalpha():
        return (word + "s",)
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return (word + "es",)
    if len(word) > 1 and word.endswith("y") and word[-2] not in _VOWELS:
        return (word[:-1] + "ies",)
    if word.endswith("fe"):
        return (word + "s", word[:-2] + "ves")
    if word.endswith("f"):
        return (word + "s", word[:-1] + "ves")
    if word.endswith("o") and len(word) > 1 and word[-2] not in _VOWELS:
        return (word + "s", word + "es")
    return (word + "s",)


def _phrase_variants(name: str, join_words: bool = False) -> set[tuple[str, ...]]:
    words = normalize_words(name)
    if not words:
        return set()
    variants = {words}
    variants.update(words[:-1] + (plural,) for plural in plural_forms(words[-1]))
    if ("-" in name or join_words) and len(words) > 1:
        joined = ("".join(words),)
        variants.add(joined)
        variants.update((plural,) for plural in plural_forms(joined[0]))
    return variants


class TitleMatcher:
    """Finds the classes of a taxonomy whose name or synonym occurs in a title (also inside hashtags and
    run-together words when given a `segmenter`)."""

    def __init__(self, taxonomy: Taxonomy, segmenter: TitleSegmenter | None = None):
        self.taxonomy = taxonomy
        self.segmenter = segmenter
        self._phrases: dict[tuple[str, ...], set[int]] = {}
        for cls in taxonomy:
            for name in cls.names:
                for variant in _phrase_variants(name, join_words=segmenter is not None):
                    self._phrases.setdefault(variant, set()).add(cls.index)
        self._max_words = max((len(p) for p in self._phrases), default=0)

    def match(self, title: str, tags: Iterable[str] = ()) -> tuple[int, ...]:
        """Sorted indices of the classes named in the title (and in the tags, each tag on its own)."""
        found: set[int] = set()
        for text in (title, *tags):
            words = normalize_words(text)
            found.update(self._match_words(words))
            if self.segmenter is not None:
                segmented = self.segmenter.words(text)
                if segmented != words:
                    found.update(self._match_words(segmented))
        return tuple(sorted(found))

    def _match_words(self, words: tuple[str, ...]) -> set[int]:
        spans = []
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + self._max_words) + 1):
                classes = self._phrases.get(words[start:end])
                if classes:
                    spans.append((start, end, classes))
        found: set[int] = set()
        for start, end, classes in spans:
            inside_longer = any(
                s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans
            )
            if not inside_longer:
                found.update(classes)
        return found


@dataclass(frozen=True)
class QueryAssignment:
    """The classes one candidate answers: within the cap (`classes`) and cut by the cap (`capped`)."""

    classes: tuple[int, ...]
    capped: tuple[int, ...]


def apply_class_cap(matches: Sequence[tuple[int, ...]], cap: int | None) -> list[QueryAssignment]:
    """Keep, for each class, the first `cap` candidates (in candidate order) that match it.

    Deterministic for a given candidate order; every shard computes it over all
    candidates, so sharded runs keep exactly the videos one run keeps.
    """
    if cap is not None and cap < 1:
        raise ValueError(f"per_class_cap must be >= 1 or None (no cap), got {cap}")
    counts: dict[int, int] = {}
    assignments = []
    for classes in matches:
        kept, capped = [], []
        for index in classes:
            if cap is None or counts.get(index, 0) < cap:
                counts[index] = counts.get(index, 0) + 1
                kept.append(index)
            else:
                capped.append(index)
        assignments.append(QueryAssignment(tuple(kept), tuple(capped)))
    return assignments

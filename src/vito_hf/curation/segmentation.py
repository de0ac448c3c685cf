"""Split hashtags, camelCase and run-together words of titles into words, so class names inside them match.

`#goldenretriever puppy`, `GoldenRetriever` and `mygoldenretriever` name a class, yet their words are not
separated. camelCase is split by rule (a capital after a small letter starts a word). Run-together tokens are
split by a `sentencepiece` unigram model trained on the run's own text: every candidate title and every class
name, each also written without its spaces, so that words recurring across titles and names become pieces and
their boundaries inside run-together tokens are learnt from the data, not from a dictionary.

A split is taken only when it is safe: the token must be long (`min_token_length`), neither a class-name word
nor one piece of the model (a token the model learnt whole, such as a word that recurs in the titles, is a
word), and every piece of the chosen segmentation (the most probable of the model's n best whose pieces are
all known) must be a known word of two letters or more. Known words are the words of the class names and the
title words seen in at least `min_word_count` titles. So "tenant" seen in many titles stays a word, while a
one-off "goldenretrieverpuppy" splits into "golden retriever puppy". The model and its word counts are files of the curation run
(`title_segmenter/` in the output folder), recorded in the report.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..atomic_files import write_bytes_atomic
from .matching import normalize_words
from .taxonomy import Taxonomy

SEGMENTER_DIR = "title_segmenter"
MODEL_FILE = "segmenter.model"
WORDS_FILE = "words.json"
MAX_TRAINING_SENTENCES = 2_000_000
"""The trainer reads the first this many sentences (class names first): seconds, not hours, on VideoNet's
millions of titles; the word counts still cover every title."""

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


def split_camel_case(text: str) -> str:
    """`"MyGoldenRetriever2"` -> `"My Golden Retriever 2"`; `"HTMLParser"` -> `"HTML Parser"`."""
    return _CAMEL_BOUNDARY.sub(" ", text)


def _training_sentences(titles: Iterable[str], taxonomy: Taxonomy) -> tuple[list[str], Counter]:
    """The model's training text (each title and class name with and without its spaces) and the word counts
    (in how many titles each word occurs; class-name words counted apart)."""
    sentences: list[str] = []
    for cls in taxonomy:  # first: the trainer reads at most MAX_TRAINING_SENTENCES
        for name in cls.names:
            words = normalize_words(name)
            sentences.extend(words)
            sentences.append("".join(words))
    title_words: Counter = Counter()
    for title in titles:
        words = normalize_words(split_camel_case(title))
        title_words.update(set(words))
        sentences.extend(words)
        sentences.append("".join(words))
    return [s for s in sentences if s], title_words


class TitleSegmenter:
    """Splits the words of a title into the words run together in them (see the module docstring)."""

    def __init__(
        self, model: bytes, title_words: Mapping[str, int], taxonomy_words: Iterable[str],
        min_word_count: int = 2, min_token_length: int = 6, nbest: int = 16,
    ):
        import sentencepiece

        self.model = model
        self.title_words = dict(title_words)
        self.taxonomy_words = frozenset(taxonomy_words)
        self.min_word_count = min_word_count
        self.min_token_length = min_token_length
        self.nbest = nbest
        self._processor = sentencepiece.SentencePieceProcessor(model_proto=model)
        self._cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def train(
        cls, titles: Iterable[str], taxonomy: Taxonomy, vocab_size: int = 500, min_word_count: int = 2,
    ) -> TitleSegmenter:
        """Train the unigram model on `titles` and the class names; deterministic (one thread, no sampling)."""
        import sentencepiece

        sentences, title_words = _training_sentences(titles, taxonomy)
        model = io.BytesIO()
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences), model_writer=model, model_type="unigram",
            vocab_size=vocab_size, hard_vocab_limit=False, add_dummy_prefix=False, split_by_whitespace=True,
            character_coverage=1.0, max_sentencepiece_length=24, num_threads=1, shuffle_input_sentence=False,
            input_sentence_size=MAX_TRAINING_SENTENCES,
            bos_id=-1, eos_id=-1, minloglevel=2,
        )
        taxonomy_words = {w for c in taxonomy for name in c.names for w in normalize_words(name)}
        return cls(model.getvalue(), title_words, taxonomy_words, min_word_count=min_word_count)

    def save(self, output_dir: str | Path) -> dict[str, str]:
        """Write the model and the word counts under `output_dir/title_segmenter/`; returns their relative paths."""
        folder = Path(output_dir) / SEGMENTER_DIR
        write_bytes_atomic(folder / MODEL_FILE, self.model)
        words = {
            "min_word_count": self.min_word_count, "min_token_length": self.min_token_length, "nbest": self.nbest,
            "taxonomy_words": sorted(self.taxonomy_words), "title_words": dict(sorted(self.title_words.items())),
        }
        write_bytes_atomic(folder / WORDS_FILE, (json.dumps(words, ensure_ascii=False, indent=0) + "\n").encode())
        return {"model": f"{SEGMENTER_DIR}/{MODEL_FILE}", "words": f"{SEGMENTER_DIR}/{WORDS_FILE}"}

    @classmethod
    def load(cls, output_dir: str | Path) -> TitleSegmenter:
        folder = Path(output_dir) / SEGMENTER_DIR
        words = json.loads((folder / WORDS_FILE).read_text(encoding="utf-8"))
        return cls(
            (folder / MODEL_FILE).read_bytes(), words["title_words"], words["taxonomy_words"],
            min_word_count=words["min_word_count"], min_token_length=words["min_token_length"], nbest=words["nbest"],
        )

    def is_known(self, word: str) -> bool:
        return len(word) > 1 and (word in self.taxonomy_words or self.title_words.get(word, 0) >= self.min_word_count)

    def segment(self, word: str) -> tuple[str, ...]:
        """The known words run together in `word` (a normalised word), or `(word,)` when no safe split exists."""
        if len(word) < self.min_token_length or not word.isalpha() or word in self.taxonomy_words:
            return (word,)
        if word not in self._cache:
            split = (word,)
            candidates = self._processor.nbest_encode_as_pieces(word, self.nbest)
            for pieces in candidates if len(candidates[0]) > 1 else ():
                if len(pieces) > 1 and all(self.is_known(p) for p in pieces):
                    split = tuple(pieces)
                    break
            self._cache[word] = split
        return self._cache[word]

    def words(self, text: str) -> tuple[str, ...]:
        """The normalised words of `text` with camelCase and run-together words split."""
        return tuple(piece for word in normalize_words(split_camel_case(text)) for piece in self.segment(word))

"""A byte-level byte-pair-encoding (BPE) tokenizer, written from scratch: GPT-2's scheme, small enough to read.

The base vocabulary is the 256 byte values, so every text encodes, whatever its characters: a character the
training text never had is spelled in its UTF-8 bytes. Training repeats one step: find the most frequent
pair of adjacent tokens, give it the next id, and replace it everywhere. The text is first cut into chunks
with GPT-2's pattern (a word with its leading space, a number, a run of punctuation, whitespace), and a
merge never crosses a chunk: tokens are pieces of words, not "e t" across a word boundary.

Training counts each distinct chunk once, with its frequency, and after a merge updates the pair counts of
the chunks that held the merged pair only (a recount of the whole text per merge would be hundreds of times
slower). Encoding applies the merges in the order they were learned, as GPT-2 does.
"""

from __future__ import annotations

import collections
import functools
import heapq
import re

import torch

NUM_BYTES = 256
# GPT-2's pre-tokenizer in the standard library's regex syntax: [^\W\d_] is a letter, (?:[^\s\w]|_) is neither
# letter, digit nor space. Every character starts some alternative, so the chunks always join back to the text.
CHUNK_PATTERN = re.compile(r"'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")
ENCODED_CHUNKS_KEPT = 2**16  # the cache of encoded chunks: a text repeats most of its words


def split_into_chunks(text: str) -> list[str]:
    return CHUNK_PATTERN.findall(text)


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """``ids`` with every non-overlapping occurrence of ``pair``, left to right, replaced by ``new_id``."""
    merged, index = [], 0
    while index < len(ids):
        if index + 1 < len(ids) and (ids[index], ids[index + 1]) == pair:
            merged.append(new_id)
            index += 2
        else:
            merged.append(ids[index])
            index += 1
    return merged


def learn_merges(text: str, vocab_size: int) -> list[tuple[int, int]]:
    """The merges, most frequent pair first, until ``vocab_size`` tokens or until no pair occurs twice.

    Ties go to the smallest pair (the pair of smallest ids), so training is deterministic.
    """
    if vocab_size < NUM_BYTES:
        raise ValueError(f"a byte-level vocabulary has at least the {NUM_BYTES} bytes, got vocab_size={vocab_size}")
    chunk_counts = collections.Counter(split_into_chunks(text))
    words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]
    frequencies = list(chunk_counts.values())
    pair_counts: collections.Counter[tuple[int, int]] = collections.Counter()
    words_with_pair: dict[tuple[int, int], set[int]] = collections.defaultdict(set)
    for index, (word, frequency) in enumerate(zip(words, frequencies)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += frequency
            words_with_pair[pair].add(index)
    # A max-heap of (-count, pair); an entry whose count is out of date is skipped when it comes up.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < vocab_size - NUM_BYTES and heap:
        negative_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -negative_count:
            continue
        if -negative_count < 2:
            break  # a pair seen once compresses nothing that a merge could reuse
        new_id = NUM_BYTES + len(merges)
        merges.append(pair)
        changed = set()
        for index in sorted(words_with_pair.pop(pair)):
            word, frequency = words[index], frequencies[index]
            for old in zip(word, word[1:]):
                pair_counts[old] -= frequency
                changed.add(old)
            word = words[index] = merge_pair(word, pair, new_id)
            for new in zip(word, word[1:]):
                pair_counts[new] += frequency
                words_with_pair[new].add(index)
                changed.add(new)
        for other in changed:
            if pair_counts[other] > 0:
                heapq.heappush(heap, (-pair_counts[other], other))
            else:
                del pair_counts[other]
                words_with_pair.pop(other, None)
    return merges


class BytePairTokenizer:
    """Byte-level BPE behind the character tokenizer's interface: ``encode``, ``decode``, ``vocab_size``,
    ``vocab`` and ``state_dict`` / ``from_state_dict`` (``genlearn.text.tokenizer.Tokenizer``).

    Id i < 256 is byte i; id 256 + n is the n-th merge. ``vocab[i]`` is the bytes token i stands for.
    """

    def __init__(self, merges: list[tuple[int, int]]):
        self.merges = [tuple(pair) for pair in merges]
        self.ranks = {pair: NUM_BYTES + rank for rank, pair in enumerate(self.merges)}
        self.vocab = [bytes([byte]) for byte in range(NUM_BYTES)]
        for first, second in self.merges:
            self.vocab.append(self.vocab[first] + self.vocab[second])
        self._encode_chunk = functools.lru_cache(maxsize=ENCODED_CHUNKS_KEPT)(self._merge_chunk)

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BytePairTokenizer:
        """Learn merges on ``text`` up to ``vocab_size`` tokens (fewer if the text runs out of repeated pairs)."""
        return cls(learn_merges(text, vocab_size))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def _merge_chunk(self, chunk: str) -> tuple[int, ...]:
        ids = list(chunk.encode("utf-8"))
        while len(ids) > 1:
            # The earliest-learned merge present goes first: the order training built the tokens in.
            pair = min(zip(ids, ids[1:]), key=lambda candidate: self.ranks.get(candidate, float("inf")))
            if pair not in self.ranks:
                break
            ids = merge_pair(ids, pair, self.ranks[pair])
        return tuple(ids)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; any string without lone surrogates encodes (ValueError names one that has)."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValueError(
                f"the text is not valid Unicode: {error.object[error.start:error.end]!r} at character {error.start} "
                "is a lone surrogate, which has no UTF-8 bytes"
            ) from None
        return [token for chunk in split_into_chunks(text) for token in self._encode_chunk(chunk)]

    def decode_bytes(self, ids) -> bytes:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return b"".join(self.vocab[index] for index in ids)

    def decode(self, ids) -> str:
        """The text of ``ids``. Sampled ids may cut a character's bytes apart; such bytes read as U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def state_dict(self) -> dict:
        """Plain lists of ints, so the tokenizer can live in a ``weights_only`` checkpoint."""
        return {"merges": [list(pair) for pair in self.merges]}

    @classmethod
    def from_state_dict(cls, state: dict) -> BytePairTokenizer:
        """ValueError if ``state`` is not a list of merges, each of two ids learned before it."""
        merges = state["merges"]
        if not isinstance(merges, list):
            raise ValueError("the merges are not a list")
        for rank, pair in enumerate(merges):
            if not (
                isinstance(pair, list) and len(pair) == 2
                and all(type(token) is int and 0 <= token < NUM_BYTES + rank for token in pair)
            ):
                raise ValueError(f"merge {rank} is {pair!r}, not two ids of earlier tokens")
        if len({tuple(pair) for pair in merges}) != len(merges):
            raise ValueError("the merges repeat a pair")
        return cls([tuple(pair) for pair in merges])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BytePairTokenizer) and self.merges == other.merges

    def __repr__(self) -> str:
        return f"BytePairTokenizer(vocab_size={self.vocab_size})"

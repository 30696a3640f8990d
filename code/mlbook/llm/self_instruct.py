"""ROUGE-L and self-instruct: growing a pool of instructions from seed tasks (chapter 7).

Backs the sections "Self-instruct: a model writes its own training data", "Filtering
near-duplicates with ROUGE-L" and "Invalid instructions" of chapter 7. Follows Wang et al.,
*Self-Instruct: Aligning Language Models with Self-Generated Instructions* (ACL 2023), as
the Alpaca release applies it (``generate_instruction.py``: its filters and its ROUGE-L
threshold of 0.7); ROUGE-L is Lin (2004), computed as the ``rouge-score`` package does.

* :func:`rouge_tokenize`, :func:`lcs_length`, :func:`rouge_l` (7.1)-(7.2),
  :func:`rouge_l_text`: the near-duplicate score;
* :func:`invalid_reason` (:data:`BLACKLIST`): Alpaca's heuristics for unusable instructions;
* :func:`self_instruct`: generate instructions from seed tasks
  (:func:`mlbook.llm.tasks.make_seed_tasks`), drop invalid ones and those whose ROUGE-L with
  an instruction already in the pool reaches the threshold; every :class:`Candidate` and
  the verdict on it come back in a :class:`SelfInstructResult`.

The teacher that proposes instructions is the program of :mod:`mlbook.llm.tasks`.
"""

from __future__ import annotations

import functools
import random
import re
import string
from dataclasses import dataclass
from typing import Any, Sequence

from ..checks import (ArgumentTypeError, check_bool, check_count, check_integer_seed,
                      check_list, check_probability)
from .tasks import (PREFIXES, TASK_FAMILIES, Example, TaskFamily, _check_examples,
                    _check_families, _check_text, _join)

__all__ = [
    "rouge_tokenize", "lcs_length", "rouge_l", "rouge_l_text", "BLACKLIST",
    "invalid_reason", "Candidate", "SelfInstructResult", "self_instruct",
]


# ----------------------------------------------------------------------------------------
# ROUGE-L
# ----------------------------------------------------------------------------------------
def rouge_tokenize(text: str) -> list[str]:
    """Tokens as the ``rouge-score`` package's default tokenizer makes them (no stemming):
    lower case, every run of characters other than ``a-z0-9`` becomes a separator."""
    _check_text("text", text, blank=True, what="a string")
    return [t for t in re.split(r"\s+", re.sub(r"[^a-z0-9]+", " ", text.lower())) if t]


@functools.lru_cache(maxsize=1 << 18)
def _lcs_cached(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _check_tokens(name: str, tokens: Any) -> tuple[str, ...]:
    """A sequence of string tokens, as a tuple; a string itself is refused (it is not a list
    of its characters: :func:`rouge_l_text` takes strings)."""
    if isinstance(tokens, str):
        raise ArgumentTypeError(f"{name} must be a sequence of tokens (strings), got the "
                                f"string {tokens!r:.60}; rouge_l_text takes strings")
    if isinstance(tokens, (list, tuple)) and all(type(t) is str for t in tokens):
        return tuple(tokens)                     # the common case, without a check per item
    return tuple(check_list(name, tokens, what="a sequence of tokens (strings)", min_len=0,
                            item=lambda n, v: _check_text(n, v, blank=True, what="a string")))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (dynamic programming,
    ``O(len(a) len(b))`` time)."""
    return _lcs_cached(_check_tokens("a", a), _check_tokens("b", b))


def rouge_l(a_tokens: Sequence[str], b_tokens: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token sequences, (7.1)-(7.2), as ``rouge-score`` computes it.

    With ``L = LCS(a, b)``, precision ``P = L / |a|`` and recall ``R = L / |b|``;
    ``F = 2 P R / (P + R)``, which is ``2 L / (|a| + |b|)``. Symmetric in ``a`` and ``b``,
    in ``[0, 1]``, 1 only for identical sequences, 0 when one is empty.
    """
    a_tokens = _check_tokens("a_tokens", a_tokens)
    b_tokens = _check_tokens("b_tokens", b_tokens)
    if not a_tokens or not b_tokens:
        return 0.0
    lcs = lcs_length(a_tokens, b_tokens)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a_tokens), lcs / len(b_tokens)
    return 2 * precision * recall / (precision + recall)


def rouge_l_text(a: str, b: str) -> float:
    """ROUGE-L F-measure of two strings after :func:`rouge_tokenize`."""
    _check_text("a", a, blank=True, what="a string")
    _check_text("b", b, blank=True, what="a string")
    return rouge_l(rouge_tokenize(a), rouge_tokenize(b))


# ----------------------------------------------------------------------------------------
# Self-instruct
# ----------------------------------------------------------------------------------------
#: Words that make an instruction unsuitable for a text-only model (Alpaca's list).
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
             "map", "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart",
             "diagram")
#: Instructions a generator may produce that the filters must catch.
_FLAWED = ("Draw a picture of the words.", "Plot the numbers on a graph.",
           "Write a program that sorts the words.", "Play the audio file.",
           "Reverse.", "Count words.", "Listen to the music and name it.",
           "Save the result to a file.", "- sort the words", "Make a flowchart of the steps.")


def invalid_reason(instruction: str) -> str | None:
    """Why Alpaca's heuristics would drop ``instruction``, or ``None`` if they keep it.

    Too short (3 words or fewer) or too long (over 150 words); a word a text-only model
    cannot act on (:data:`BLACKLIST`); "Write a program"; starting with punctuation or with
    a character that is not an ASCII letter.
    """
    _check_text("instruction", instruction, blank=True, what="a string")
    words = instruction.split()
    if len(words) <= 3 or len(words) > 150:
        return "too short" if len(words) <= 3 else "too long"
    low = instruction.lower()
    for word in BLACKLIST:
        if re.search(rf"\b{word}\b", low):
            return f"unsuitable word '{word}'"
    if low.startswith("write a program"):
        return "asks for a program"
    if instruction[0] in string.punctuation:
        return "starts with punctuation"
    if not instruction[0].isascii() or not instruction[0].isalpha():
        return "starts with a non-letter"
    return None


@dataclass
class Candidate:
    """One instruction the teacher proposed, and what the filters decided."""

    instruction: str
    family: str
    round: int
    kept: bool
    reason: str                   # "kept", "similar" or the invalid_reason
    max_rouge: float              # highest ROUGE-L with the pool at the time (nan if invalid)
    nearest: str                  # the pool instruction that reached it ("" if invalid)


@dataclass
class SelfInstructResult:
    """Output of :func:`self_instruct`: the seeds, and every candidate kept or removed."""

    seeds: list[Example]
    kept: list[Candidate]
    removed: list[Candidate]
    rouge_threshold: float

    @property
    def n_generated(self) -> int:
        return len(self.kept) + len(self.removed)

    def instructions(self, include_seeds: bool = True) -> dict[str, list[str]]:
        """Instruction templates by family (seeds first), ready for
        :func:`~mlbook.llm.tasks.make_examples`."""
        check_bool("include_seeds", include_seeds)
        out: dict[str, list[str]] = {}
        if include_seeds:
            for s in self.seeds:
                out.setdefault(s.family, []).append(s.template or s.instruction)
        for c in self.kept:
            out.setdefault(c.family, []).append(c.instruction)
        return out


def _edit(text: str, family: TaskFamily, rng: random.Random) -> str:
    """A light rewrite of ``text`` (a near-duplicate): change prefix or tail, or both."""
    for head in family.heads:
        for tail in family.tails:
            for prefix in PREFIXES:
                if _join(prefix, head, tail) == text:
                    return _join(rng.choice(PREFIXES), head, rng.choice(family.tails))
    return family.phrase(rng)


def self_instruct(seed_tasks: Sequence[Example], n_rounds: int, *, per_round: int = 10,
                  n_seed_demos: int = 6, n_machine_demos: int = 2, p_edit: float = 0.5,
                  p_flawed: float = 0.1, rouge_threshold: float = 0.7,
                  seed: int = 0) -> SelfInstructResult:
    """Grow a pool of instructions from ``seed_tasks``, Self-Instruct style.

    Each round, the teacher is shown ``n_seed_demos`` seed instructions and
    ``n_machine_demos`` instructions generated earlier, and proposes ``per_round`` new ones:
    a light rewrite of a demonstration (probability ``p_edit``), a fresh phrasing of a
    demonstrated task, or (probability ``p_flawed``) a flawed instruction of the kind a
    language model also writes. A candidate is dropped if :func:`invalid_reason` objects,
    or if its ROUGE-L with an instruction already in the pool (seeds and kept) is at least
    ``rouge_threshold``; otherwise it joins the pool. Only families of the seeds are ever
    generated: a program, unlike a language model, cannot invent a new kind of task.
    """
    seeds = _check_examples("seed_tasks", seed_tasks)
    unknown = sorted({s.family for s in seeds} - set(TASK_FAMILIES))
    if unknown:
        raise ValueError(f"seed_tasks must be tasks of the book's families (make_seed_tasks), "
                         f"got the unknown families {unknown}")
    _check_families({s.family for s in seeds})
    check_probability("rouge_threshold", rouge_threshold)
    check_count("n_rounds", n_rounds, minimum=0)
    check_count("per_round", per_round, minimum=0)
    check_count("n_seed_demos", n_seed_demos)        # 0 would leave nothing to show
    check_count("n_machine_demos", n_machine_demos, minimum=0)
    check_probability("p_edit", p_edit)
    check_probability("p_flawed", p_flawed)
    rng = random.Random(check_integer_seed("seed", seed))
    templates = [s.template or s.instruction for s in seeds]
    pool = [(t, tuple(rouge_tokenize(t))) for t in templates]
    kept: list[Candidate] = []
    removed: list[Candidate] = []
    for r in range(n_rounds):
        demos = rng.sample(seeds, min(n_seed_demos, len(seeds)))
        machine = rng.sample(kept, min(n_machine_demos, len(kept)))
        shown = [(d.template or d.instruction, d.family) for d in demos] + [
            (m.instruction, m.family) for m in machine]
        for _ in range(per_round):
            text, fam_name = rng.choice(shown)
            fam = TASK_FAMILIES[fam_name]
            u = rng.random()
            if u < p_flawed:
                text = rng.choice(_FLAWED)
            elif u < p_flawed + p_edit:
                text = _edit(text, fam, rng)
            else:
                text = fam.phrase(rng)
            reason = invalid_reason(text)
            if reason is not None:
                removed.append(Candidate(text, fam_name, r, False, reason, float("nan"), ""))
                continue
            tokens = tuple(rouge_tokenize(text))
            best, nearest = 0.0, ""
            for other, other_tokens in pool:
                score = rouge_l(tokens, other_tokens)
                if score > best:
                    best, nearest = score, other
            # keep only if below the threshold for *every* instruction in the pool
            if best >= rouge_threshold:
                removed.append(Candidate(text, fam_name, r, False, "similar", best, nearest))
                continue
            kept.append(Candidate(text, fam_name, r, True, "kept", best, nearest))
            pool.append((text, tokens))
    return SelfInstructResult(seeds, kept, removed, float(rouge_threshold))

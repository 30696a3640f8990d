"""Instruction tuning in the manner of Stanford Alpaca (chapter 7).

Follows Taori et al., *Alpaca: A Strong, Replicable Instruction-Following Model* (2023) and
its release (``tatsu-lab/stanford_alpaca``: the prompt templates, ``generate_instruction.py``
and ``train.py``), which applies Self-Instruct (Wang et al., *Self-Instruct: Aligning Language
Models with Self-Generated Instructions*, ACL 2023) to LLaMA (Touvron et al., 2023).
Parameter-efficient fine-tuning is LoRA (Hu et al., *LoRA: Low-Rank Adaptation of Large
Language Models*, ICLR 2022); the near-duplicate filter is ROUGE-L (Lin, 2004).

Nothing here calls a model API or downloads anything: the "teacher" that writes instructions
and answers them is a program. :data:`TASK_FAMILIES` holds the book's small task families
(arithmetic, unit conversion, reversing, sorting and counting words, changing case, reading
a field of a record, two classification tasks), each able to *phrase* its instruction in
many ways and to *answer* any instance correctly by construction.

The pieces, in the order of the chapter (equation (7.n) is the n-th numbered equation of
chapter 7):

* :data:`ALPACA_PROMPT_WITH_INPUT`, :data:`ALPACA_PROMPT_NO_INPUT`, :func:`format_prompt`:
  the Alpaca prompt format, verbatim;
* :func:`rouge_l` (7.1)-(7.2) and :func:`self_instruct`: generate instructions from seed
  tasks, drop invalid ones and those whose ROUGE-L with an instruction already in the pool
  reaches the threshold;
* :func:`make_examples`: instances (input, output) for instructions, output-first for
  classification tasks;
* :class:`InstructionDataset`: tokenised examples whose prompt tokens have label ``-100``,
  so the loss (7.3) counts response tokens only;
* :class:`LoRALinear`, :func:`apply_lora`, :func:`merge_lora`: ``W x + (alpha / r) B A x``
  (7.4);
* :func:`finetune` (supervised fine-tuning, with :func:`sft_loss` computing the prompt
  prefix that a batch shares only once), :func:`generate_responses`, :func:`exact_match`
  (decided in one teacher-forced pass, :func:`greedy_matches`), the probability that
  sampling at a temperature reproduces the reference (7.5), :func:`reference_log_probs`,
  whether a model copies from its context at all, :func:`copy_losses`,
  and :func:`sft_tiny_llama`, chapter 6's tiny LLaMA fine-tuned on the
  chapter's data, trained once and cached on disk like
  :func:`mlbook.llm.train.pretrained_tiny_llama`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import re
import string
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from ..cache import cache_dir, cached
from ..progress import tqdm

from .data import BPETokenizer
from .llama import Llama, LlamaConfig, apply_rope, generate, repeat_kv
from ..checks import check_count, check_int
from .train import (TrainConfig, cosine_lr, load_checkpoint, make_optimizer, one_thread,
                    pretrained_tiny_llama, save_checkpoint)

__all__ = [
    "ALPACA_PROMPT_WITH_INPUT", "ALPACA_PROMPT_NO_INPUT", "format_prompt", "Example",
    "TaskFamily", "TASK_FAMILIES", "TRAIN_FAMILIES", "HELDOUT_FAMILIES", "make_examples",
    "make_seed_tasks", "content_key", "is_heldout_content", "answer_baselines",
    "rouge_tokenize", "lcs_length", "rouge_l", "rouge_l_text",
    "invalid_reason", "Candidate", "SelfInstructResult", "self_instruct",
    "InstructionDataset", "IGNORE_INDEX", "LoRALinear", "apply_lora", "merge_lora",
    "lora_parameter_count", "trainable_parameters", "SFTConfig", "SFTHistory",
    "shared_prefix_length", "hidden_states", "sft_loss", "finetune", "generate_grouped",
    "generate_responses",
    "greedy_matches", "reference_log_probs", "copy_losses", "exact_match", "SFT_TRAIN",
    "SFT_LORA",
    "SFT_DATA", "LORA_SETTINGS", "SFTTinyLlama", "chapter_data", "examples_fingerprint",
    "sft_key", "sft_tiny_llama",
]

IGNORE_INDEX = -100   # label of a token that carries no loss (PyTorch's and Hugging Face's)

# ----------------------------------------------------------------------------------------
# The Alpaca prompt format (verbatim from the Alpaca release, train.py's PROMPT_DICT)
# ----------------------------------------------------------------------------------------
#: Prompt for an instruction that comes with an input (context) field.
ALPACA_PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
#: Prompt for an instruction without an input.
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)


def format_prompt(instruction: str, input: str = "", *, template: str | None = None) -> str:
    """The Alpaca prompt for ``instruction`` (and ``input``, if not empty).

    The response follows the prompt directly; training appends ``output + </s>``. With
    ``template`` a custom format is used; it must contain an ``{instruction}`` field, and an
    ``{input}`` field when ``input`` is given. Raises ``ValueError`` for an empty
    instruction or a template without the fields it needs.
    """
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError(f"instruction must be a non-empty string, got {instruction!r}")
    if not isinstance(input, str):
        raise ValueError(f"input must be a string (empty for no input), got {type(input).__name__}")
    if template is None:
        template = ALPACA_PROMPT_WITH_INPUT if input.strip() else ALPACA_PROMPT_NO_INPUT
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if "instruction" not in fields:
        raise ValueError("the template has no {instruction} field; a prompt without its "
                         f"instruction cannot be built (fields found: {sorted(fields)})")
    if input.strip() and "input" not in fields:
        raise ValueError("an input was given but the template has no {input} field")
    unknown = fields - {"instruction", "input"}
    if unknown:
        raise ValueError(f"the template may only use the fields instruction and input, "
                         f"found {sorted(unknown)}")
    return template.format(instruction=instruction, input=input)


# ----------------------------------------------------------------------------------------
# Task families: the program that plays the teacher
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """One instruction-following example, as in ``alpaca_data.json`` plus its task family."""

    instruction: str
    input: str
    output: str
    family: str
    #: the instruction before its ``{slots}`` were filled in ("" when it has none)
    template: str = field(default="", compare=False, repr=False)
    #: what the answer depends on, whatever the wording: the filled-in slots and the input
    #: as JSON (:func:`content_key`); "" for an example written by hand
    content: str = field(default="", compare=False, repr=False)

    def prompt(self) -> str:
        """The Alpaca prompt of this example (:func:`format_prompt`)."""
        return format_prompt(self.instruction, self.input)


#: Words of the inputs: each is a single token of chapter 6's tokenizer.
WORDS = ("list", "value", "class", "object", "string", "number", "name", "type", "method",
         "function", "module", "key", "item", "line", "code", "block", "set", "index",
         "error", "case", "point")
POSITIVE = ("good", "great", "nice", "happy", "clean", "fast", "useful", "clear")
NEGATIVE = ("bad", "poor", "slow", "broken", "sad", "ugly", "wrong", "useless")
FIELDS = ("name", "type", "key")
UNITS = (("kilometres", "metres", 1000), ("metres", "centimetres", 100),
         ("kilograms", "grams", 1000), ("litres", "millilitres", 1000))
PREFIXES = ("", "Please ", "Now ", "Your task: ")


def _words(rng: random.Random, lo: int, hi: int, distinct: bool = True) -> list[str]:
    k = rng.randint(lo, hi)
    return rng.sample(WORDS, k) if distinct else [rng.choice(WORDS) for _ in range(k)]


# Instance makers: rng -> (slots for the instruction, input, output). Classification
# families draw the label first and then an input that has it (Self-Instruct's
# output-first generation), so the labels stay balanced.
def _add(rng):
    a, b = rng.randint(0, 9), rng.randint(0, 9)
    return {"a": a, "b": b}, "", str(a + b)


def _convert(rng):
    src, dst, factor = rng.choice(UNITS)
    a = rng.randint(1, 9)
    return {"a": a, "src": src, "dst": dst}, "", str(a * factor)


def _reverse(rng):
    w = _words(rng, 2, 3)
    return {}, " ".join(w), " ".join(reversed(w))


def _sort(rng):
    w = _words(rng, 3, 4)
    return {}, " ".join(w), " ".join(sorted(w))


def _upper(rng):
    w = _words(rng, 1, 3)
    return {}, " ".join(w), " ".join(w).upper()


def _lower(rng):
    w = _words(rng, 1, 3)
    return {}, " ".join(w).upper(), " ".join(w)


def _count(rng):
    w = _words(rng, 1, 5, distinct=False)
    return {}, " ".join(w), str(len(w))


def _first(rng):
    w = _words(rng, 3, 5)
    return {}, " ".join(w), w[0]


def _last(rng):
    w = _words(rng, 3, 5)
    return {}, " ".join(w), w[-1]


def _field(rng):
    values = rng.sample(WORDS, 3)
    keys = list(FIELDS)
    rng.shuffle(keys)
    asked = rng.choice(keys)
    record = dict(zip(keys, values))
    return {"field": asked}, "; ".join(f"{k}: {v}" for k, v in record.items()), record[asked]


def _larger(rng):
    a, b = rng.sample(range(0, 100), 2)
    return {}, f"{a}, {b}", str(max(a, b))


def _even_odd(rng):
    label = rng.choice(["even", "odd"])                      # output first
    n = 2 * rng.randint(0, 499) + (label == "odd")
    return {}, str(n), label


def _sentiment(rng):
    label = rng.choice(["positive", "negative"])             # output first
    lexicon = POSITIVE if label == "positive" else NEGATIVE
    return {}, " ".join(rng.sample(lexicon, rng.randint(2, 3))), label


@dataclass(frozen=True)
class TaskFamily:
    """A family of tasks the teacher program can phrase and answer.

    An instruction is ``prefix + head + tail``; ``heads`` may hold ``{slot}`` fields that
    each instance fills in (the numbers of an arithmetic question). ``make(rng)`` returns
    ``(slots, input, output)`` with the correct output. ``kind`` is ``"classification"``
    (a small set of labels) or ``"generation"``.
    """

    name: str
    kind: str
    heads: tuple[str, ...]
    tails: tuple[str, ...]
    make: Callable[[random.Random], tuple[dict[str, Any], str, str]] = field(repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("generation", "classification"):
            raise ValueError(f"kind must be 'generation' or 'classification', got {self.kind!r}")

    def phrasings(self) -> list[str]:
        """Every instruction template the grammar can produce (prefix x head x tail)."""
        return [_join(p, h, t) for h in self.heads for t in self.tails for p in PREFIXES]

    def phrase(self, rng: random.Random) -> str:
        """One instruction template drawn at random from the grammar."""
        return _join(rng.choice(PREFIXES), rng.choice(self.heads), rng.choice(self.tails))

    def instance(self, rng: random.Random, instruction: str | None = None) -> Example:
        """A fresh, correct example; ``instruction`` is a template of this family."""
        template = instruction if instruction is not None else _join("", self.heads[0], "")
        slots, inp, out = self.make(rng)
        content = json.dumps([self.name, sorted(slots.items()), inp])
        return Example(template.format(**slots), inp, out, self.name, template, content)


QUESTION_PREFIXES = ("", "Question: ", "Quick question: ", "Your task: ")


def _join(prefix: str, head: str, tail: str) -> str:
    """``prefix + head + tail``. A question takes a question's prefix; a tail in lower case
    (" below") goes before the head's final punctuation, a tail sentence after it."""
    if head.endswith("?") and prefix in PREFIXES:
        prefix = QUESTION_PREFIXES[PREFIXES.index(prefix)]
    if prefix and not head.startswith("{"):
        head = head[0].lower() + head[1:]
    if tail and tail[1:2].islower() and head[-1] in ".?":
        return prefix + head[:-1] + tail + head[-1]
    return prefix + head + tail


def _family(name, kind, heads, tails, make) -> TaskFamily:
    return TaskFamily(name, kind, tuple(heads), tuple(tails), make)


_WORDS_TAILS = ("", " in the input", " below", " of the given text", " in this list")
_SHORT_TAILS = ("", " in the input", " below", " given")
#: The book's task families, by name (:data:`TRAIN_FAMILIES`, :data:`HELDOUT_FAMILIES`, and
#: two spare ones, ``sort_words`` and ``lowercase``, for the exercises).
TASK_FAMILIES: dict[str, TaskFamily] = {f.name: f for f in [
    _family("add", "generation",
            ["What is {a} plus {b}?", "Add {a} and {b}.", "Compute the sum of {a} and {b}.",
             "Calculate {a} + {b}.", "Find the total of {a} and {b}."],
            ["", " Answer with a number.", " Reply with the result only."], _add),
    _family("convert_units", "generation",
            ["Convert {a} {src} to {dst}.", "How many {dst} are in {a} {src}?",
             "Express {a} {src} in {dst}.", "Change {a} {src} into {dst}."],
            ["", " Give only the number.", " Answer with a number."], _convert),
    _family("reverse_words", "generation",
            ["Reverse the order of the words.", "Write the words in reverse order.",
             "List the words backwards.", "Put the words in the opposite order.",
             "Flip the word order."], _WORDS_TAILS, _reverse),
    _family("sort_words", "generation",
            ["Sort the words alphabetically.", "Write the words in alphabetical order.",
             "Arrange the words from A to Z.", "Put the words in dictionary order.",
             "Order the words by the alphabet."], _WORDS_TAILS, _sort),
    _family("uppercase", "generation",
            ["Convert the text to upper case.", "Write the text in capital letters.",
             "Make every letter uppercase.", "Turn the words into capitals.",
             "Rewrite the text using only capital letters."], _SHORT_TAILS, _upper),
    _family("count_words", "generation",
            ["How many words are in the text?", "Count the words.",
             "Tell me the number of words.", "Give the word count.",
             "Report how many words there are."], _WORDS_TAILS, _count),
    _family("first_word", "generation",
            ["What is the first word?", "Return the first word.",
             "Give the word that comes first.", "Copy only the opening word.",
             "Tell me which word starts the text."], _SHORT_TAILS, _first),
    _family("extract_field", "generation",
            ["What is the {field} in the record?", "Extract the {field} from the record.",
             "Read the {field} field of the entry.", "Which {field} does the record give?",
             "Look up the {field} in this record."], ["", " Reply with the value only."],
            _field),
    _family("even_odd", "classification",
            ["Is the number even or odd?", "Classify the number as even or odd.",
             "Tell whether the number is even or odd.",
             "Decide if the given number is even or odd.",
             "Label the number: even or odd?"], ["", " Answer with one word."], _even_odd),
    _family("sentiment", "classification",
            ["Is the review positive or negative?", "Classify the sentiment of the words.",
             "Decide whether the opinion is positive or negative.",
             "What is the sentiment of the text?", "Label the review as positive or negative."],
            ["", " Answer with one word."], _sentiment),
    _family("lowercase", "generation",
            ["Convert the text to lower case.", "Write the text in small letters.",
             "Make every letter lowercase."], _SHORT_TAILS, _lower),
    _family("last_word", "generation",
            ["What is the last word?", "Return the last word.",
             "Give the word that comes last."], _SHORT_TAILS, _last),
    _family("larger_number", "generation",
            ["Which number is larger?", "Return the larger of the two numbers.",
             "Give the bigger number."], ["", " Answer with a number."], _larger),
]}
#: Families the model is tuned on.
TRAIN_FAMILIES: tuple[str, ...] = ("add", "convert_units", "reverse_words", "count_words",
                                   "first_word", "extract_field", "even_odd", "sentiment")
#: Families kept out of training, to test generalisation to new kinds of task.
HELDOUT_FAMILIES: tuple[str, ...] = ("uppercase", "last_word", "larger_number")


def _check_families(families: Iterable[str] | Mapping[str, TaskFamily]) -> list[str]:
    names = list(families)
    if not names:
        raise ValueError("families must name at least one task family")
    unknown = [n for n in names if n not in TASK_FAMILIES]
    if unknown:
        raise ValueError(f"unknown task families {unknown}; choose among {list(TASK_FAMILIES)}")
    return names


def make_examples(families: Iterable[str], n: int, seed: int = 0, *,
                  instructions: Mapping[str, Sequence[str]] | None = None,
                  where: Callable[[Example], bool] | None = None) -> list[Example]:
    """``n`` correct examples, the families taking turns (round robin), each instance fresh.

    A family listed ``k`` times in ``families`` takes ``k`` turns per round (the mix).

    ``instructions`` maps a family to the instruction templates to draw from (for example
    the ones :func:`self_instruct` kept); by default the family's whole phrasing grammar.
    A family without any instruction in ``instructions`` is skipped. With ``where``, an
    instance is drawn again until ``where(example)`` is true (used to keep the held-out
    contents out of training, :func:`is_heldout_content`). Seeded by ``seed``.
    """
    names = _check_families(families)
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if where is not None and not callable(where):
        raise TypeError(f"where must be a callable Example -> bool or None, got {where!r}")
    pools: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        pool = (list(instructions.get(name, [])) if instructions is not None
                else TASK_FAMILIES[name].phrasings())
        if pool:
            pools[name] = pool
    if not pools:
        raise ValueError("no instruction is available for the requested families")
    rng = random.Random(seed)
    order = [name for name in names if name in pools]      # a family named twice gets two turns
    out = []
    for i in range(n):
        name = order[i % len(order)]
        for _ in range(10_000):
            example = TASK_FAMILIES[name].instance(rng, rng.choice(pools[name]))
            if where is None or where(example):
                break
        else:
            raise ValueError(f"no instance of {name!r} satisfies where in 10,000 draws")
        out.append(example)
    return out


def content_key(example: Example) -> str:
    """What decides ``example``'s answer, whatever the wording: its family, the slots of its
    instruction (the numbers of a sum) and its input. Two examples with the same key have
    the same correct output."""
    if not isinstance(example, Example):
        raise TypeError(f"example must be an Example, got {type(example).__name__}")
    return example.content or json.dumps([example.family, example.instruction, example.input])


def is_heldout_content(example: Example, share: float = 0.2) -> bool:
    """Whether ``example``'s content belongs to the held-out part: a fixed ``share`` of all
    possible contents, chosen by a hash of :func:`content_key` (the same for every seed).

    Training draws only contents outside it, held-out instances only contents inside it, so
    a held-out instance is a question never trained on: not a new wording of a seen one.
    """
    if not isinstance(share, (int, float)) or not 0 < share < 1:
        raise ValueError(f"share must be in (0, 1), got {share!r}")
    digest = hashlib.sha256(content_key(example).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < share


def answer_baselines(train_examples: Sequence[Example], eval_examples: Sequence[Example]
                     ) -> dict[str, dict[str, float]]:
    """Per family, the exact match of two answerers that ignore the question.

    ``"majority"``: always give the family's most common answer in ``train_examples``
    (ties to the first seen); ``"chance"``: the expected exact match of a uniform guess
    among the family's distinct training answers. Both are scored on ``eval_examples``;
    the result maps each family of ``eval_examples`` to ``{"majority", "chance", "n"}``.
    A family with no training example gets the majority answer of ``eval_examples``
    itself (an optimistic baseline) and chance from its own answers.
    """
    if not eval_examples:
        raise ValueError("eval_examples is empty")
    answers: dict[str, list[str]] = {}
    for ex in train_examples:
        answers.setdefault(ex.family, []).append(ex.output)
    targets: dict[str, list[str]] = {}
    for ex in eval_examples:
        targets.setdefault(ex.family, []).append(ex.output)
    out = {}
    for fam, outputs in targets.items():
        pool = answers.get(fam, outputs)
        counts: dict[str, int] = {}
        for a in pool:
            counts[a] = counts.get(a, 0) + 1
        majority = max(counts, key=counts.get)
        distinct = set(counts)
        out[fam] = {"majority": sum(o == majority for o in outputs) / len(outputs),
                    "chance": sum(o in distinct for o in outputs) / len(outputs) / len(distinct),
                    "n": len(outputs)}
    return out


def make_seed_tasks(families: Iterable[str] = TRAIN_FAMILIES, per_family: int = 2,
                    seed: int = 0) -> list[Example]:
    """Hand-written seed tasks, ``per_family`` per family: the grammar's first phrasings.

    Alpaca started from the 175 human-written seed tasks of Self-Instruct, each an
    instruction with one instance; these are the book's (much smaller) equivalent.
    """
    names = _check_families(families)
    if not isinstance(per_family, int) or per_family < 1:
        raise ValueError(f"per_family must be a positive integer, got {per_family!r}")
    rng = random.Random(seed)
    seeds = []
    for name in names:
        fam = TASK_FAMILIES[name]
        for head in fam.heads[:per_family]:
            seeds.append(fam.instance(rng, _join("", head, "")))
    return seeds


# ----------------------------------------------------------------------------------------
# ROUGE-L
# ----------------------------------------------------------------------------------------
def rouge_tokenize(text: str) -> list[str]:
    """Tokens as the ``rouge-score`` package's default tokenizer makes them (no stemming):
    lower case, every run of characters other than ``a-z0-9`` becomes a separator."""
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


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (dynamic programming,
    ``O(len(a) len(b))`` time)."""
    return _lcs_cached(tuple(a), tuple(b))


def rouge_l(a_tokens: Sequence[str], b_tokens: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token sequences, (7.1)-(7.2), as ``rouge-score`` computes it.

    With ``L = LCS(a, b)``, precision ``P = L / |a|`` and recall ``R = L / |b|``;
    ``F = 2 P R / (P + R)``, which is ``2 L / (|a| + |b|)``. Symmetric in ``a`` and ``b``,
    in ``[0, 1]``, 1 only for identical sequences, 0 when one is empty.
    """
    if isinstance(a_tokens, str) or isinstance(b_tokens, str):
        raise ValueError("rouge_l takes token sequences; use rouge_l_text for strings")
    if not a_tokens or not b_tokens:
        return 0.0
    lcs = lcs_length(a_tokens, b_tokens)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a_tokens), lcs / len(b_tokens)
    return 2 * precision * recall / (precision + recall)


def rouge_l_text(a: str, b: str) -> float:
    """ROUGE-L F-measure of two strings after :func:`rouge_tokenize`."""
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
        """Instruction templates by family (seeds first), ready for :func:`make_examples`."""
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
    seeds = list(seed_tasks)
    if not seeds:
        raise ValueError("seed_tasks is empty: self-instruct needs at least one seed task")
    if not all(isinstance(s, Example) for s in seeds):
        raise ValueError("seed_tasks must be Example objects (see make_seed_tasks)")
    _check_families({s.family for s in seeds})
    if not isinstance(rouge_threshold, (int, float)) or not 0 <= rouge_threshold <= 1:
        raise ValueError(f"rouge_threshold must be in [0, 1], got {rouge_threshold!r}")
    for name, value in (("n_rounds", n_rounds), ("per_round", per_round)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if not (0 <= p_edit <= 1 and 0 <= p_flawed <= 1):
        raise ValueError(f"p_edit and p_flawed must be in [0, 1], got {p_edit}, {p_flawed}")
    rng = random.Random(seed)
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


# ----------------------------------------------------------------------------------------
# Tokenised examples with the prompt masked out of the loss
# ----------------------------------------------------------------------------------------
class InstructionDataset(torch.utils.data.Dataset):
    """Examples tokenised as ``<s> prompt response </s>`` with labels ``-100`` on the prompt.

    Item ``i`` is a dict of 1-D ``int64`` tensors ``input_ids`` and ``labels`` of equal
    length, in Hugging Face's convention: ``labels`` equals ``input_ids`` on the response and
    the closing ``</s>``, and :data:`IGNORE_INDEX` on ``<s>`` and the prompt, so the loss
    (7.3) counts response tokens only. The prompt and the response are tokenised apart, so
    the boundary between them is exact; the response is tokenised as ``" " + output`` (the
    space that LLaMA's SentencePiece tokenizer puts before a separately encoded text), so
    its words are the same tokens as the words of the input. :meth:`collate` pads a batch
    and shifts it into inputs and next-token targets. ``mask_prompt=False`` keeps every
    label (for comparison).
    """

    def __init__(self, examples: Sequence[Example], tokenizer: BPETokenizer, *,
                 max_len: int | None = None, mask_prompt: bool = True):
        if not examples:
            raise ValueError("examples is empty")
        if max_len is not None and (not isinstance(max_len, int) or max_len < 2):
            raise ValueError(f"max_len must be an integer >= 2 or None, got {max_len!r}")
        self.examples = list(examples)
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.eos_id
        self.items = []
        for ex in self.examples:
            prompt = tokenizer.encode(ex.prompt(), bos=True)
            response = tokenizer.encode(" " + ex.output, eos=True)
            ids = prompt + response
            labels = ([IGNORE_INDEX] * len(prompt) if mask_prompt else prompt) + response
            if max_len is not None and len(ids) > max_len:
                raise ValueError(f"an example has {len(ids)} tokens, more than max_len={max_len}")
            self.items.append({"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                               "prompt_len": len(prompt)})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i]

    @property
    def lengths(self) -> list[int]:
        return [len(item["input_ids"]) for item in self.items]

    def collate(self, items: Sequence[dict[str, torch.Tensor]]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad to the longest item; return inputs ``x`` and targets ``y``, ``(B, T-1)``.

        ``y[b, t]`` is the label of token ``t + 1``: the next token on the response,
        ``-100`` on the prompt and on padding (which sits after ``</s>`` and so, under the
        causal mask, never changes the logits of a real token).
        """
        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for b, it in enumerate(items):
            n = len(it["input_ids"])
            ids[b, :n], labels[b, :n] = it["input_ids"], it["labels"]
        return ids[:, :-1], labels[:, 1:]


# ----------------------------------------------------------------------------------------
# LoRA
# ----------------------------------------------------------------------------------------
class LoRALinear(nn.Module):
    """``y = W x + (alpha / r) B A x`` (7.4): a frozen ``nn.Linear`` plus a low-rank update.

    ``W``: ``(out, in)``, frozen (``base``); ``A``: ``(r, in)``, Kaiming-uniform as in
    Microsoft's ``loralib``; ``B``: ``(out, r)``, zeros, so the wrapped layer starts out
    computing exactly what ``base`` computes. Only ``lora_A`` and ``lora_B`` train.
    Parameter shapes match ``peft``'s ``lora_A``/``lora_B`` weights.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 1.0, *,
                 generator: torch.Generator | None = None):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise ValueError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if not isinstance(rank, int) or isinstance(rank, bool) or rank <= 0:
            raise ValueError(f"rank must be a positive integer, got {rank!r}")
        if rank > min(base.in_features, base.out_features):
            raise ValueError(f"rank ({rank}) must not exceed min(in, out) = "
                             f"{min(base.in_features, base.out_features)}")
        if not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha must be positive, got {alpha!r}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank, self.alpha = rank, float(alpha)
        self.scaling = self.alpha / rank
        w = base.weight
        bound = 1 / math.sqrt(base.in_features)        # kaiming_uniform_(a=sqrt(5)) bound
        a = (torch.rand(rank, base.in_features, generator=generator) * 2 - 1) * bound
        self.lora_A = nn.Parameter(a.to(w.dtype).to(w.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=w.dtype,
                                               device=w.device))

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> torch.Tensor:
        """The update ``(alpha / r) B A``, shape ``(out, in)``, of rank at most ``r``."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # W x + (alpha / r) B (A x): two thin products, never the d_out x d_in matrix B A
        return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B * self.scaling)

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight ``W + (alpha / r) B A``: no cost at inference."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                        device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.delta_weight())
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}"


LORA_TARGETS = ("q_proj", "v_proj")   # the LoRA paper's choice for GPT-3 (section 7.1)


def apply_lora(model: nn.Module, rank: int = 8, alpha: float = 16.0,
               targets: Sequence[str] = LORA_TARGETS, *, seed: int = 0) -> nn.Module:
    """Wrap every ``nn.Linear`` whose name ends in one of ``targets`` in :class:`LoRALinear`.

    Every other parameter is frozen (``requires_grad=False``), so an optimizer over
    ``trainable_parameters(model)`` trains the adapters alone. Modifies ``model`` in place
    and returns it. ``targets`` are module names such as ``"q_proj"``, ``"down_proj"``.
    """
    if not isinstance(rank, int) or isinstance(rank, bool) or rank <= 0:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    if isinstance(targets, str) or not targets:
        raise ValueError(f"targets must be a non-empty list of module names, got {targets!r}")
    for p in model.parameters():
        p.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    found = 0
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, LoRALinear(child, rank, alpha, generator=generator))
                found += 1
    if not found:
        raise ValueError(f"no nn.Linear named {list(targets)} in the model")
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` by its merged ``nn.Linear`` (in place; returned).

    The merged model computes the same function, with no extra cost per token, and has
    exactly the original parameter names. Every parameter is made trainable again.
    """
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, child_name, child.merged())
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def lora_parameter_count(config: LlamaConfig, rank: int,
                         targets: Sequence[str] = LORA_TARGETS) -> int:
    """Adapter parameters of LoRA on a LLaMA of this shape: ``r (in + out)`` per wrapped matrix.

    For LLaMA-7B, ``rank=8`` on ``q_proj`` and ``v_proj`` gives 4,194,304, the number
    ``peft`` prints for the alpaca-lora recipe.
    """
    if not isinstance(rank, int) or rank <= 0:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    d, kv, f = config.dim, config.n_kv_heads * config.head_dim, config.ffn_hidden_dim
    shapes = {"q_proj": (d, d), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (d, d),
              "gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d)}
    unknown = [t for t in targets if t not in shapes]
    if unknown:
        raise ValueError(f"unknown targets {unknown}; choose among {list(shapes)}")
    return config.n_layers * sum(rank * sum(shapes[t]) for t in targets)


# ----------------------------------------------------------------------------------------
# Supervised fine-tuning
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SFTConfig:
    """Fine-tuning settings; comments give Alpaca's values for LLaMA-7B."""

    steps: int = 600               # optimizer steps (Alpaca: 3 epochs of 52K, about 1,200)
    batch_size: int = 32           # examples per step (Alpaca: 128)
    lr: float = 3e-3               # peak learning rate (Alpaca: 2e-5)
    warmup_steps: int = 30         # linear warm-up, 5% of the steps (Alpaca: 3%)
    min_lr_ratio: float = 0.0      # cosine decays to this fraction of the peak (Alpaca: 0)
    weight_decay: float = 0.0      # AdamW weight decay (Alpaca: 0)
    grad_clip: float = 1.0         # global gradient-norm clipping
    seed: int = 0                  # order of the examples

    def __post_init__(self) -> None:
        self.train_config()        # TrainConfig checks the numbers

    def train_config(self) -> TrainConfig:
        """The equivalent :class:`~mlbook.llm.train.TrainConfig`, for its schedule and optimizer."""
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                           warmup_steps=self.warmup_steps, min_lr_ratio=self.min_lr_ratio,
                           weight_decay=self.weight_decay, grad_clip=self.grad_clip,
                           seed=self.seed, eval_every=self.steps)


@dataclass
class SFTHistory:
    """What happened during fine-tuning; losses in nats per response token."""

    step: list[int] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0                     # tokens run through the model (prompt included)
    loss_tokens: int = 0                # of which carried a loss (response tokens)
    trainable: int = 0                  # trainable parameters
    total: int = 0                      # all parameters

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shared_prefix_length(x: torch.Tensor) -> int:
    """Number of leading positions at which every row of ``x`` ``(B, T)`` holds the same token."""
    same = (x == x[:1]).all(dim=0).long()                    # (T,)
    return int(same.cumprod(0).sum())


def hidden_states(model: Llama, x: torch.Tensor, prefix: int = 0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The last hidden states of ``x`` ``(B, T)``, computing a shared prefix only once.

    When the first ``prefix`` tokens are the same in every row (every Alpaca prompt opens
    with the same sentence), their hidden states are the same too, because attention is
    causal. They are computed for one row, ``(1, prefix, D)``, and the other positions
    ``(B, T - prefix, D)`` attend to that row's keys and values. The result equals
    ``model.model(x)`` split at ``prefix``; gradients flow into the shared part from every
    row. This is prefix caching (as inference servers do with a KV cache), used in training.
    """
    m = model.model
    b, t = x.shape
    if not 0 <= prefix < t:
        raise ValueError(f"prefix must be in [0, {t}), got {prefix}")
    cos, sin = m.rotary_emb(0, t)
    h_pre, h = m.embed_tokens(x[:1, :prefix]), m.embed_tokens(x[:, prefix:])
    mask = torch.ones(t - prefix, t, dtype=torch.bool, device=x.device).tril(prefix)
    for layer in m.layers:
        att = layer.self_attn
        n_rep = att.n_heads // att.n_kv_heads

        def qkv(z, c, s_):
            bz, tz, _ = z.shape
            q = att.q_proj(z).view(bz, tz, att.n_heads, att.head_dim).transpose(1, 2)
            k = att.k_proj(z).view(bz, tz, att.n_kv_heads, att.head_dim).transpose(1, 2)
            v = att.v_proj(z).view(bz, tz, att.n_kv_heads, att.head_dim).transpose(1, 2)
            return apply_rope(q, c, s_), apply_rope(k, c, s_), v

        q, k, v = qkv(layer.input_layernorm(h), cos[prefix:], sin[prefix:])
        if prefix:
            qp, kp, vp = qkv(layer.input_layernorm(h_pre), cos[:prefix], sin[:prefix])
            out_p = F.scaled_dot_product_attention(qp, repeat_kv(kp, n_rep),
                                                   repeat_kv(vp, n_rep), is_causal=True)
            h_pre = h_pre + att.o_proj(out_p.transpose(1, 2).reshape(1, prefix, -1))
            h_pre = h_pre + layer.mlp(layer.post_attention_layernorm(h_pre))
            k = torch.cat([kp.expand(b, -1, -1, -1), k], dim=2)
            v = torch.cat([vp.expand(b, -1, -1, -1), v], dim=2)
            out = F.scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep),
                                                 attn_mask=mask)
        else:
            out = F.scaled_dot_product_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep),
                                                 is_causal=True)
        h = h + att.o_proj(out.transpose(1, 2).reshape(b, t - prefix, -1))
        h = h + layer.mlp(layer.post_attention_layernorm(h))
    return m.norm(h_pre), m.norm(h)


def sft_loss(model: Llama, x: torch.Tensor, y: torch.Tensor, *,
             share_prefix: bool = True) -> torch.Tensor:
    """Mean cross-entropy over the response tokens, (7.3): ``x``, ``y`` from ``collate``.

    Equal to ``causal_lm_loss(model(x), y)`` (up to rounding), computed with less work: the
    output layer is applied only where ``y`` is not ``-100`` (the logits of prompt positions
    would be thrown away), and with ``share_prefix`` the opening tokens that every row
    shares are run once (:func:`hidden_states`). A batch of Alpaca prompts shares its first
    sentence or more, so this saves a third or more of the work.
    """
    keep = y != IGNORE_INDEX                                  # (B, T)
    if not bool(keep.any()):
        raise ValueError("the batch has no response token to compute a loss on")
    first = int(keep.float().argmax(dim=1).min())             # earliest position with a loss
    prefix = min(shared_prefix_length(x), first) if share_prefix else 0
    _, hidden = hidden_states(model, x, prefix)               # (B, T - prefix, D)
    logits = model.lm_head(hidden[keep[:, prefix:]])          # (N, V)
    return F.cross_entropy(logits.float(), y[:, prefix:][keep[:, prefix:]])


def _length_grouped(perm: list[int], lengths: list[int], keys: list[int], batch_size: int,
                    group: int = 8) -> list[int]:
    """Reorder a shuffled epoch so each batch holds examples of similar length (less padding)
    and, as far as possible, the same template (a longer shared prefix).

    The epoch is cut into chunks of ``group * batch_size`` examples, each chunk sorted by
    ``(key, length)`` and cut into batches, and the batches shuffled back (deterministically,
    by the permutation itself): Hugging Face's ``group_by_length`` idea.
    """
    chunk = group * batch_size
    batches = []
    for s in range(0, len(perm), chunk):
        part = sorted(perm[s:s + chunk], key=lambda i: (keys[i], lengths[i]))
        batches += [part[b:b + batch_size] for b in range(0, len(part), batch_size)]
    rng = random.Random(perm[0] if perm else 0)
    rng.shuffle(batches)
    return [i for b in batches for i in b]


def finetune(model: nn.Module, dataset: InstructionDataset, config: SFTConfig | None = None,
             *, progress: bool = True) -> SFTHistory:
    """Supervised fine-tuning of ``model`` in place on ``dataset`` (loss (7.3)).

    Batches of ``config.batch_size`` examples, reshuffled every epoch (seeded); AdamW and the
    warm-up + cosine schedule of chapter 6 (:func:`~mlbook.llm.train.make_optimizer`,
    :func:`~mlbook.llm.train.cosine_lr`); gradient clipping. Trains whatever parameters have
    ``requires_grad`` (all of them, or the adapters after :func:`apply_lora`).
    """
    config = SFTConfig() if config is None else config
    if not isinstance(config, SFTConfig):
        raise ValueError(f"config must be an SFTConfig, got {type(config).__name__}")
    if not isinstance(dataset, InstructionDataset):
        raise ValueError(f"dataset must be an InstructionDataset, got {type(dataset).__name__}")
    if max(dataset.lengths) > model.config.max_seq_len + 1:
        raise ValueError(f"the longest example ({max(dataset.lengths)} tokens) does not fit "
                         f"the model's context of {model.config.max_seq_len}")
    tc = config.train_config()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameter")
    optimizer = make_optimizer(model, tc)
    generator = torch.Generator().manual_seed(config.seed)
    history = SFTHistory(trainable=sum(p.numel() for p in params),
                         total=sum(p.numel() for p in model.parameters()))
    order: list[int] = []
    lengths = dataset.lengths
    keys = [int(bool(ex.input.strip())) for ex in dataset.examples]
    model.train()
    bar = tqdm(range(config.steps), desc="fine-tuning", disable=not progress,
               mininterval=1.0, leave=False)
    start = time.perf_counter()
    for step in bar:
        if len(order) < config.batch_size:
            order += _length_grouped(torch.randperm(len(dataset), generator=generator).tolist(),
                                     lengths, keys, config.batch_size)
        batch, order = order[:config.batch_size], order[config.batch_size:]
        x, y = dataset.collate([dataset[i] for i in batch])
        lr = cosine_lr(step, tc)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = sft_loss(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        history.step.append(step + 1)
        history.lr.append(lr)
        history.loss.append(float(loss.detach()))
        history.tokens += x.numel()
        history.loss_tokens += int((y != IGNORE_INDEX).sum())
        if step % 20 == 0:
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


# ----------------------------------------------------------------------------------------
# Generation and exact match
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def generate_grouped(model: Llama, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
                     eos_id: int, greedy: bool = False, temperature: float = 1.0,
                     top_p: float = 1.0, seed: int | None = 0,
                     batch_size: int = 64) -> list[list[int]]:
    """The new tokens after each tokenised prompt, up to and including the first ``eos_id``.

    Prompts of equal token length are continued together, ``batch_size`` at a time, with
    chapter 6's :func:`~mlbook.llm.llama.generate` (no padding is needed, so the result is
    what one-at-a-time decoding gives); group ``g`` (by length) and chunk offset ``s`` are
    seeded with ``seed + 1000 g + s``. Returns one list of token ids per prompt.
    """
    groups: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        groups.setdefault(len(p), []).append(i)
    out: list[list[int]] = [[] for _ in prompts]
    for g, (length, idx) in enumerate(sorted(groups.items())):
        for s in range(0, len(idx), batch_size):
            chunk = idx[s:s + batch_size]
            ids = torch.tensor([list(prompts[i]) for i in chunk])
            new = generate(model, ids, max_new_tokens, greedy=greedy, temperature=temperature,
                           top_p=top_p, eos_id=eos_id,
                           seed=None if seed is None else seed + 1000 * g + s)[:, length:]
            for row, i in zip(new.tolist(), chunk):
                out[i] = row[:row.index(eos_id) + 1] if eos_id in row else row
    return out


@torch.no_grad()
def generate_responses(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example], *,
                       max_new_tokens: int = 16, greedy: bool = True, temperature: float = 1.0,
                       top_p: float = 1.0, seed: int | None = 0,
                       batch_size: int = 64) -> list[str]:
    """The model's response to each example's prompt, decoded and stripped.

    Prompts of equal token length are decoded together in batches (no padding is needed,
    so the result is what one-at-a-time decoding gives); generation stops at ``</s>``.
    ``greedy`` takes the most probable token; otherwise tokens are sampled with
    ``temperature`` and ``top_p`` (chapter 6's :func:`~mlbook.llm.llama.generate`).
    """
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    prompts = [tokenizer.encode(ex.prompt(), bos=True) for ex in examples]
    rows = generate_grouped(model, prompts, max_new_tokens, eos_id=tokenizer.eos_id,
                            greedy=greedy, temperature=temperature, top_p=top_p, seed=seed,
                            batch_size=batch_size)
    return [tokenizer.decode(row[:-1] if row[-1:] == [tokenizer.eos_id] else row).strip()
            for row in rows]


@torch.no_grad()
def greedy_matches(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example], *,
                   batch_size: int = 64) -> list[bool]:
    """For each example: would greedy decoding produce exactly ``output </s>``?

    One teacher-forced forward pass answers it: greedy decoding writes the reference token
    by token if and only if, at every response position, the most probable next token given
    the prompt and the reference so far *is* the next reference token (the ``</s>``
    included). So instead of decoding step by step, feed ``<s> prompt output </s>`` and
    compare the argmax with the labels at the unmasked positions. (A different token
    sequence that decodes to the same text would count as a miss; greedy decoding of a
    model trained on the tokenizer's own segmentation practically never produces one.)
    """
    dataset = InstructionDataset(examples, tokenizer)
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(dataset), batch_size):
        x, y = dataset.collate([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))])
        pred = model(x).argmax(-1)                                     # (B, T-1)
        ok = (pred == y) | (y == IGNORE_INDEX)
        out += ok.all(dim=1).tolist()
    model.train(was_training)
    return out


@torch.no_grad()
def reference_log_probs(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example],
                        temperatures: Sequence[float] = (1.0,), *,
                        batch_size: int = 64) -> torch.Tensor:
    """Log-probability that sampling at each temperature writes exactly ``output </s>``.

    ``log p_tau(y | prompt) = sum_t log softmax(logits_t / tau)[y_t]`` over the response
    positions, from one teacher-forced pass. Its exponential, averaged over examples, is
    the *expected* exact match of temperature sampling (7.5), with no sampling noise.
    Returns a ``(len(temperatures), len(examples))`` tensor (nats).
    """
    if any(not t > 0 for t in temperatures):
        raise ValueError(f"temperatures must be positive, got {list(temperatures)}")
    dataset = InstructionDataset(examples, tokenizer)
    taus = torch.tensor([float(t) for t in temperatures])
    out = []
    was_training = model.training
    model.eval()
    for s in range(0, len(dataset), batch_size):
        x, y = dataset.collate([dataset[i] for i in range(s, min(s + batch_size, len(dataset)))])
        keep = y != IGNORE_INDEX                                        # (B, T)
        logits = model(x)[keep].float()                                 # (N, V) responses
        target = y[keep]                                                # (N,)
        row = keep.nonzero()[:, 0]                                      # example of each
        per_tau = []
        for tau in taus:
            logp = torch.log_softmax(logits / tau, dim=-1).gather(-1, target[:, None])[:, 0]
            per_tau.append(torch.zeros(x.shape[0]).index_add_(0, row, logp))   # (B,)
        out.append(torch.stack(per_tau))                                # (n_tau, B)
    model.train(was_training)
    return torch.cat(out, dim=1)


@torch.no_grad()
def copy_losses(model: Llama, tokenizer: BPETokenizer, *, n_sequences: int = 20,
                length: int = 15, seed: int = 0) -> dict[str, float]:
    """Can the model copy from its context? Its loss on a list of words shown twice.

    Each sequence is ``<s>`` and ``length`` distinct words of :data:`WORDS` in random order
    (as the tokens ``" word"``), then the same words again. The words are drawn at random, so
    the first pass cannot be predicted beyond guessing a word; the second pass can be
    predicted exactly by a model that looks back for the current word and copies the one
    that followed it (what an *induction head* does). Returns the mean next-token loss in
    nats on the words after the first of each pass (the first word of either pass cannot be
    known): ``{"first", "repeat"}``. A model that copies has a repeat loss far below its
    first-pass loss.
    """
    n_sequences = check_count("n_sequences", n_sequences)
    length = check_int("length", length, minimum=2, maximum=len(WORDS))
    seed = check_int("seed", seed, minimum=0)
    pieces = [tokenizer.encode(" " + w) for w in WORDS]
    if any(len(p) != 1 for p in pieces):
        raise ValueError("the tokenizer must encode every ' word' of WORDS as one token "
                         "(chapter 6's tokenizer does)")
    ids = torch.tensor([p[0] for p in pieces])
    generator = torch.Generator().manual_seed(seed)
    rows = [ids[torch.randperm(len(WORDS), generator=generator)[:length]]
            for _ in range(n_sequences)]
    x = torch.stack([torch.cat([torch.tensor([tokenizer.bos_id]), r, r]) for r in rows])
    was_training = model.training
    model.eval()
    logits = model(x[:, :-1])                                          # (N, 2 L, V)
    loss = F.cross_entropy(logits.transpose(1, 2).float(), x[:, 1:], reduction="none")
    model.train(was_training)
    # loss[:, t] is the loss of token t + 1; both passes scored on their words 2..L
    return {"first": float(loss[:, 1:length].mean()),                  # (N, 2 L) losses
            "repeat": float(loss[:, length + 1:].mean())}


def exact_match(model: Llama, tokenizer: BPETokenizer, examples: Sequence[Example], *,
                max_new_tokens: int = 16, responses: Sequence[str] | None = None,
                method: str = "forced") -> float:
    """Fraction of examples whose greedy response equals the expected output exactly.

    ``method="forced"`` (default) decides it in one teacher-forced pass
    (:func:`greedy_matches`); an output longer than ``max_new_tokens - 1`` tokens (plus
    ``</s>``) counts as a miss, as greedy decoding would be cut off before finishing it.
    ``method="generate"`` decodes with :func:`generate_responses` and compares the
    stripped strings. Pass ``responses`` to score ready answers.
    """
    if not examples:
        raise ValueError("examples is empty")
    if method not in ("forced", "generate"):
        raise ValueError(f"method must be 'forced' or 'generate', got {method!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    if responses is None and method == "forced":
        hits = greedy_matches(model, tokenizer, examples)
        fits = [len(tokenizer.encode(ex.output)) + 1 <= max_new_tokens for ex in examples]
        return sum(h and f for h, f in zip(hits, fits)) / len(examples)
    if responses is None:
        responses = generate_responses(model, tokenizer, examples, max_new_tokens=max_new_tokens)
    if len(responses) != len(examples):
        raise ValueError(f"{len(responses)} responses for {len(examples)} examples")
    return sum(r.strip() == ex.output.strip() for r, ex in zip(responses, examples)) / len(examples)


# ----------------------------------------------------------------------------------------
# The chapter's fine-tuned tiny LLaMA, trained once and cached
# ----------------------------------------------------------------------------------------
#: Full fine-tuning of the chapter.
SFT_TRAIN = SFTConfig()
#: LoRA fine-tuning of the chapter (a larger learning rate, as is usual for adapters).
SFT_LORA = SFTConfig(lr=6e-3)
#: How the chapter's data are made: self-instruct settings and data-set sizes.
SFT_DATA = {"seeds_per_family": 2, "rounds": 40, "per_round": 10, "rouge_threshold": 0.7,
            "n_train": 16000, "mix": {}, "heldout_share": 0.2, "n_heldout": 40, "n_heldout_families": 30,
            "seed": 0}
#: LoRA settings of the chapter.
LORA_SETTINGS = {"rank": 8, "alpha": 16.0,
                 "targets": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                             "down_proj")}
CACHE_FORMAT = 2


@dataclass
class SFTTinyLlama:
    """The fine-tuned tiny LLaMA and everything needed to evaluate or continue from it."""

    model: Llama
    tokenizer: BPETokenizer
    train_examples: list[Example]
    heldout_examples: dict[str, list[Example]]   # "instances" and "families"
    instruction_pool: SelfInstructResult          # the self-instruct run behind the data
    history: SFTHistory
    method: str                                  # "full" or "lora"
    path: Path
    from_cache: bool


def chapter_data(settings: Mapping[str, Any] = SFT_DATA) -> tuple[
        SelfInstructResult, list[Example], dict[str, list[Example]]]:
    """The chapter's self-instruct run, training examples and held-out examples.

    Training examples draw their contents outside the held-out share
    (:func:`is_heldout_content`); held-out *instances*, ``n_heldout`` per trained family,
    draw theirs inside it, so each is a question never trained on (in a wording of the
    same instruction pool). Held-out *families* are tasks never trained on
    (:data:`HELDOUT_FAMILIES`), ``n_heldout_families`` per family.
    """
    s = dict(settings)
    seeds = make_seed_tasks(TRAIN_FAMILIES, s["seeds_per_family"], s["seed"])
    result = self_instruct(seeds, s["rounds"], per_round=s["per_round"],
                           rouge_threshold=s["rouge_threshold"], seed=s["seed"])
    pools = result.instructions()
    share = s["heldout_share"]
    mix = [name for name in TRAIN_FAMILIES for _ in range(s.get("mix", {}).get(name, 1))]
    train_examples = make_examples(mix, s["n_train"], s["seed"], instructions=pools,
                                   where=lambda e: not is_heldout_content(e, share))
    instances = make_examples(TRAIN_FAMILIES, s["n_heldout"] * len(TRAIN_FAMILIES),
                              s["seed"] + 1, instructions=pools,
                              where=lambda e: is_heldout_content(e, share))
    families = make_examples(HELDOUT_FAMILIES, s["n_heldout_families"] * len(HELDOUT_FAMILIES),
                             s["seed"] + 2)
    return result, train_examples, {"instances": instances, "families": families}


def examples_fingerprint(examples: Sequence[Example]) -> str:
    """A short SHA-256 of the examples' text (it changes whenever the task families do)."""
    rows = [[e.instruction, e.input, e.output, e.family] for e in examples]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def sft_key(base_key: str, method: str, config: SFTConfig, data: Mapping[str, Any],
            lora: Mapping[str, Any] | None, fingerprint: str = "") -> str:
    """A hash of everything that determines the fine-tuned weights: the base model's key,
    the method and its settings, the data settings and the examples' fingerprint, the
    prompt templates, and :data:`CACHE_FORMAT` (bumped when the code's behaviour changes)."""
    settings = {"format": CACHE_FORMAT, "base": base_key, "method": method,
                "examples": fingerprint,
                "sft": asdict(config), "data": dict(data),
                "lora": None if lora is None else {k: list(v) if isinstance(v, tuple) else v
                                                   for k, v in lora.items()},
                "prompts": [ALPACA_PROMPT_WITH_INPUT, ALPACA_PROMPT_NO_INPUT]}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def sft_tiny_llama(*, retrain: bool = False, progress: bool = True,
                   cache: str | Path | None = None, method: str = "full",
                   config: SFTConfig | None = None) -> SFTTinyLlama:
    """Chapter 6's tiny LLaMA fine-tuned on the chapter's instruction data; cached on disk.

    Starts from :func:`~mlbook.llm.train.pretrained_tiny_llama` (same ``cache``), builds the
    data with :func:`chapter_data`, and fine-tunes every weight (``method="full"``,
    :data:`SFT_TRAIN`) or LoRA adapters on every linear layer (``method="lora"``,
    :data:`SFT_LORA`, :data:`LORA_SETTINGS`; merged into the weights before saving). The
    file is ``tiny-llama-sft-<method>-<key>.pt`` in the cache directory, the key from
    :func:`sft_key`. ``retrain=True`` trains even if
    the file exists.
    """
    if method not in ("full", "lora"):
        raise ValueError(f"method must be 'full' or 'lora', got {method!r}")
    if config is None:
        config = SFT_TRAIN if method == "full" else SFT_LORA
    base = pretrained_tiny_llama(progress=progress, cache=cache)
    lora = LORA_SETTINGS if method == "lora" else None
    result, train_examples, heldout = chapter_data(SFT_DATA)
    key = sft_key(base.path.stem, method, config, SFT_DATA, lora,
                  examples_fingerprint(train_examples))
    folder = Path(cache).expanduser() if cache is not None else cache_dir()
    path = folder / f"tiny-llama-sft-{method}-{key}.pt"

    def load(path: Path) -> SFTTinyLlama:
        model, payload = load_checkpoint(path)
        if payload.get("key") != key:    # a file renamed or copied over: not this model
            raise ValueError(f"it holds the model of key {payload.get('key')!r}, not {key!r}")
        return SFTTinyLlama(model, base.tokenizer, train_examples, heldout, result,
                            SFTHistory(**payload["history"]), method, path, True)

    def build() -> SFTTinyLlama:
        torch.manual_seed(0)
        model = Llama(base.model.config)
        model.load_state_dict(base.model.state_dict())
        if lora is not None:
            apply_lora(model, lora["rank"], lora["alpha"], lora["targets"])
        dataset = InstructionDataset(train_examples, base.tokenizer)
        with one_thread():    # the same weights whichever chapter trains them (train.one_thread)
            history = finetune(model, dataset, config, progress=progress)
        if lora is not None:
            merge_lora(model)
        model.eval()
        save_checkpoint(path, model, history=history.to_dict(), sft_config=asdict(config),
                        key=key)
        return SFTTinyLlama(model, base.tokenizer, train_examples, heldout, result, history,
                            method, path, False)

    return cached(path, load, build, rebuild=retrain)

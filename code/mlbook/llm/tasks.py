"""The Alpaca prompt format and the book's instruction tasks (chapter 7).

Backs the sections "Alpaca's recipe", "The teacher in this book" and "The Alpaca prompt
format" of chapter 7. The prompt templates are those of the Stanford Alpaca release (Taori
et al., 2023, ``tatsu-lab/stanford_alpaca``'s ``train.py``, ``PROMPT_DICT``), verbatim.

Nothing here calls a model API or downloads anything: the "teacher" that writes instructions
and answers them is a program. :data:`TASK_FAMILIES` holds the book's small task families
(arithmetic, unit conversion, reversing, sorting and counting words, changing case, reading
a field of a record, two classification tasks), each able to *phrase* its instruction in
many ways and to *answer* any instance correctly by construction.

* :data:`ALPACA_PROMPT_WITH_INPUT`, :data:`ALPACA_PROMPT_NO_INPUT`, :func:`format_prompt`:
  the Alpaca prompt format;
* :class:`Example` (one instruction-following example, as in ``alpaca_data.json``),
  :class:`TaskFamily`, :data:`TASK_FAMILIES`, :data:`TRAIN_FAMILIES`,
  :data:`HELDOUT_FAMILIES` and the word lists the inputs are made of (:data:`WORDS`);
* :func:`make_examples`: instances (input, output) for instructions, output-first for
  classification tasks; :func:`make_seed_tasks`, the hand-written seeds of self-instruct
  (:mod:`mlbook.llm.self_instruct`);
* :func:`content_key` and :func:`is_heldout_content`, which keep the held-out questions out
  of training, and :func:`answer_baselines`, answerers that ignore the question.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..checks import (ArgumentTypeError, check_callable, check_choice, check_count,
                      check_instance, check_integer_seed, check_list, check_number)

__all__ = [
    "ALPACA_PROMPT_WITH_INPUT", "ALPACA_PROMPT_NO_INPUT", "format_prompt", "Example",
    "WORDS", "POSITIVE", "NEGATIVE", "FIELDS", "UNITS", "PREFIXES", "QUESTION_PREFIXES",
    "TaskFamily", "TASK_FAMILIES", "TRAIN_FAMILIES", "HELDOUT_FAMILIES", "make_examples",
    "make_seed_tasks", "content_key", "is_heldout_content", "answer_baselines",
]


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


def _check_text(name: str, value: Any, *, blank: bool = False,
                what: str = "a non-empty string") -> str:
    """A string (``blank``: possibly empty or white space only; otherwise with some text)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be {what}, got {value!r:.60} of type "
                                f"{type(value).__name__}")
    if not blank and not value.strip():
        raise ValueError(f"{name} must be {what}, got {value!r:.60}")
    return value


def format_prompt(instruction: str, input: str = "", *, template: str | None = None) -> str:
    """The Alpaca prompt for ``instruction`` (and ``input``, if not empty).

    The response follows the prompt directly; training appends ``output + </s>``. With
    ``template`` a custom format is used; it must contain an ``{instruction}`` field, and an
    ``{input}`` field when ``input`` is given. Raises ``ValueError`` for an empty
    instruction or a template without the fields it needs.
    """
    _check_text("instruction", instruction)
    _check_text("input", input, blank=True, what="a string (empty for no input)")
    if template is None:
        template = ALPACA_PROMPT_WITH_INPUT if input.strip() else ALPACA_PROMPT_NO_INPUT
    _check_text("template", template, what="a prompt template (a string with an "
                                            "{instruction} field) or None")
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

    def __post_init__(self) -> None:
        _check_text("instruction", self.instruction)
        for name in ("input", "output", "family", "template", "content"):
            _check_text(name, getattr(self, name), blank=True, what="a string")

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
        _check_text("name", self.name)
        check_choice("kind", self.kind, ("generation", "classification"))
        for name in ("heads", "tails"):
            items = check_list(name, getattr(self, name), what="a tuple of instruction parts",
                               item=lambda n, v: _check_text(n, v, blank=name == "tails"))
            object.__setattr__(self, name, tuple(items))
        check_callable("make", self.make, what="a function rng -> (slots, input, output)")

    def phrasings(self) -> list[str]:
        """Every instruction template the grammar can produce (prefix x head x tail)."""
        return [_join(p, h, t) for h in self.heads for t in self.tails for p in PREFIXES]

    def phrase(self, rng: random.Random) -> str:
        """One instruction template drawn at random from the grammar."""
        _check_rng(rng)
        return _join(rng.choice(PREFIXES), rng.choice(self.heads), rng.choice(self.tails))

    def instance(self, rng: random.Random, instruction: str | None = None) -> Example:
        """A fresh, correct example; ``instruction`` is a template of this family."""
        _check_rng(rng)
        if instruction is not None:
            _check_text("instruction", instruction, what="an instruction template of this "
                                                         "family (a string) or None")
        template = instruction if instruction is not None else _join("", self.heads[0], "")
        slots, inp, out = self.make(rng)
        content = json.dumps([self.name, sorted(slots.items()), inp])
        try:
            filled = template.format(**slots)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"instruction {template!r} does not fit the family "
                             f"{self.name!r}: its fields must be among {sorted(slots)} "
                             f"({type(error).__name__}: {error})") from None
        return Example(filled, inp, out, self.name, template, content)


QUESTION_PREFIXES = ("", "Question: ", "Quick question: ", "Your task: ")


def _check_rng(rng: Any, name: str = "rng") -> random.Random:
    return check_instance(name, rng, random.Random,
                          what="a random.Random (for example random.Random(0))")


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
    names = check_list("families", families, what="a list of task-family names", min_len=0,
                       item=lambda n, v: _check_text(n, v, what="a task-family name"))
    if not names:
        raise ValueError("families must name at least one task family")
    unknown = [n for n in names if n not in TASK_FAMILIES]
    if unknown:
        raise ValueError(f"unknown task families {unknown}; choose among {list(TASK_FAMILIES)}")
    return names


def _check_examples(name: str, examples: Any, *, min_len: int = 1) -> list[Example]:
    """A list of :class:`Example` (not a string, not a single example), of at least
    ``min_len`` examples."""
    found = check_list(name, examples, what="a list of Example objects", min_len=0,
                       exclude=Example, item=lambda n, v: check_instance(n, v, Example))
    if len(found) < min_len:
        raise ValueError(f"{name} is empty: need at least {min_len} Example(s)" if not found
                         else f"{name} must hold at least {min_len} Examples, got {len(found)}")
    return found


def make_examples(families: Iterable[str], n: int, seed: int = 0, *,
                  instructions: Mapping[str, Sequence[str]] | None = None,
                  where: Callable[[Example], bool] | None = None) -> list[Example]:
    """``n`` correct examples, the families taking turns (round robin), each instance fresh.

    A family listed ``k`` times in ``families`` takes ``k`` turns per round (the mix).

    ``instructions`` maps a family to the instruction templates to draw from (for example
    the ones :func:`~mlbook.llm.self_instruct.self_instruct` kept); by default the family's
    whole phrasing grammar. A family without any instruction in ``instructions`` is skipped.
    With ``where``, an instance is drawn again until ``where(example)`` is true (used to
    keep the held-out contents out of training, :func:`is_heldout_content`). Seeded by
    ``seed``.
    """
    names = _check_families(families)
    check_count("n", n, minimum=0)
    seed = check_integer_seed("seed", seed)
    if where is not None:
        check_callable("where", where, what="a callable Example -> bool or None")
    if instructions is not None:
        check_instance("instructions", instructions, Mapping,
                       what="a dict mapping a family to its instruction templates, or None")
    pools: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        pool = (check_list(f"instructions[{name!r}]", instructions.get(name, []),
                           what="a list of instruction templates", min_len=0,
                           item=lambda n, v: _check_text(n, v))
                if instructions is not None else TASK_FAMILIES[name].phrasings())
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
            template = rng.choice(pools[name])
            try:
                example = TASK_FAMILIES[name].instance(rng, template)
            except ValueError as error:       # a template with fields the family lacks
                raise ValueError(f"instructions[{name!r}]: {error}") from None
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
    check_instance("example", example, Example)
    return example.content or json.dumps([example.family, example.instruction, example.input])


def is_heldout_content(example: Example, share: float = 0.2) -> bool:
    """Whether ``example``'s content belongs to the held-out part: a fixed ``share`` of all
    possible contents, chosen by a hash of :func:`content_key` (the same for every seed).

    Training draws only contents outside it, held-out instances only contents inside it, so
    a held-out instance is a question never trained on: not a new wording of a seen one.
    """
    check_number("share", share, minimum=0.0, maximum=1.0, exclusive_minimum=True,
                 exclusive_maximum=True)
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
    train_examples = _check_examples("train_examples", train_examples, min_len=0)
    eval_examples = _check_examples("eval_examples", eval_examples)
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
    check_count("per_family", per_family)
    rng = random.Random(check_integer_seed("seed", seed))
    seeds = []
    for name in names:
        fam = TASK_FAMILIES[name]
        for head in fam.heads[:per_family]:
            seeds.append(fam.instance(rng, _join("", head, "")))
    return seeds

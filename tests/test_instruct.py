"""Chapter 7: Alpaca prompts, ROUGE-L, self-instruct, prompt-masked SFT and LoRA."""

from __future__ import annotations

import collections
import numpy as np
import dataclasses
import random

import pytest
import torch

from mlbook.llm.data import BPETokenizer
from mlbook.llm.instruct import (IGNORE_INDEX, InstructionDataset, SFTConfig, copy_losses,
                                 exact_match, finetune, forward_shared_prefix,
                                 generate_responses, greedy_matches, reference_log_probs,
                                 sft_loss, shared_prefix_length)
from mlbook.llm.lora import (LoRALinear, apply_lora, lora_parameter_count, merge_lora,
                             trainable_parameters)
from mlbook.llm.self_instruct import (invalid_reason, lcs_length, rouge_l, rouge_l_text,
                                      rouge_tokenize, self_instruct)
from mlbook.llm.tasks import (ALPACA_PROMPT_NO_INPUT, ALPACA_PROMPT_WITH_INPUT,
                              HELDOUT_FAMILIES, TASK_FAMILIES, TRAIN_FAMILIES, WORDS, Example,
                              format_prompt, make_examples, make_seed_tasks)
from mlbook.llm.llama import LLAMA_SIZES, Llama, LlamaConfig, causal_lm_loss


#: Tiny models: one torch thread is as fast, and is not slowed by busy cores.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizer() -> BPETokenizer:
    """A small BPE tokenizer trained on the prompts of generated examples (fast)."""
    examples = make_examples(list(TASK_FAMILIES), 300, seed=5)
    texts = [format_prompt(e.instruction, e.input) + " " + e.output for e in examples]
    return BPETokenizer.train(texts, vocab_size=400)


def tiny_model(vocab_size: int, seed: int = 0) -> Llama:
    config = LlamaConfig(vocab_size=vocab_size, dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                         multiple_of=16, max_seq_len=256)
    return Llama(config, seed=seed)


# ----------------------------------------------------------------------------------------
# The Alpaca prompt format
# ----------------------------------------------------------------------------------------
def test_prompt_without_input_is_the_alpaca_release_text():
    assert format_prompt("Give three tips for staying healthy.") == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nGive three tips for staying healthy."
        "\n\n### Response:")


def test_prompt_with_input_is_the_alpaca_release_text():
    assert format_prompt("Reverse the order of the words.", "list value key") == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nReverse the order of the words.\n\n### Input:\nlist value key"
        "\n\n### Response:")


def test_empty_input_selects_the_template_without_input():
    assert format_prompt("Add 2 and 3.", "") == format_prompt("Add 2 and 3.")
    assert "### Input:" not in format_prompt("Add 2 and 3.", "   ")
    assert ALPACA_PROMPT_NO_INPUT.endswith("### Response:")
    assert ALPACA_PROMPT_WITH_INPUT.count("{") == 2


@pytest.mark.parametrize("instruction", ["", "   ", None])
def test_a_prompt_missing_its_instruction_is_rejected(instruction):
    with pytest.raises(ValueError, match="instruction"):
        format_prompt(instruction)


def test_a_template_missing_its_instruction_field_is_rejected():
    with pytest.raises(ValueError, match="instruction"):
        format_prompt("Add 2 and 3.", template="### Input:\n{input}\n\n### Response:")
    with pytest.raises(ValueError, match="input"):
        format_prompt("Sort.", "b a", template="### Instruction:\n{instruction}\n### Response:")


# ----------------------------------------------------------------------------------------
# Task families: correct by construction
# ----------------------------------------------------------------------------------------
def test_every_family_answers_correctly():
    checks = {
        "add": lambda e: int(e.output) == sum(int(t.strip(".?+")) for t in e.instruction.split()
                                              if t.strip(".?+").isdigit()),
        "reverse_words": lambda e: e.output.split() == e.input.split()[::-1],
        "sort_words": lambda e: e.output.split() == sorted(e.input.split()),
        "uppercase": lambda e: e.output == e.input.upper(),
        "lowercase": lambda e: e.output == e.input.lower(),
        "count_words": lambda e: int(e.output) == len(e.input.split()),
        "first_word": lambda e: e.output == e.input.split()[0],
        "last_word": lambda e: e.output == e.input.split()[-1],
        "even_odd": lambda e: e.output == ("even" if int(e.input) % 2 == 0 else "odd"),
        "larger_number": lambda e: int(e.output) == max(int(t) for t in e.input.split(", ")),
    }
    for example in make_examples(list(TASK_FAMILIES), 26 * len(TASK_FAMILIES), seed=1):
        if example.family in checks:
            assert checks[example.family](example), example
        if example.family == "extract_field":
            record = dict(kv.split(": ") for kv in example.input.split("; "))
            asked = next(k for k in record if k in example.instruction)
            assert example.output == record[asked]
        if example.family == "convert_units":
            number = int(next(t for t in example.instruction.split() if t.isdigit()))
            assert int(example.output) in (100 * number, 1000 * number)


def test_classification_labels_are_balanced_by_output_first_generation():
    examples = make_examples(["even_odd", "sentiment"], 2000, seed=2)
    counts = collections.Counter(e.output for e in examples)
    for label in ("even", "odd", "positive", "negative"):
        assert abs(counts[label] - 500) < 80


def test_train_and_heldout_families_do_not_overlap():
    assert not set(TRAIN_FAMILIES) & set(HELDOUT_FAMILIES)
    assert set(TRAIN_FAMILIES) | set(HELDOUT_FAMILIES) <= set(TASK_FAMILIES)


def test_examples_are_repeatable_with_the_same_seed():
    assert make_examples(TRAIN_FAMILIES, 50, seed=3) == make_examples(TRAIN_FAMILIES, 50, seed=3)
    assert make_examples(TRAIN_FAMILIES, 50, seed=3) != make_examples(TRAIN_FAMILIES, 50, seed=4)


def test_unknown_family_is_rejected():
    with pytest.raises(ValueError, match="unknown task families"):
        make_examples(["translate_to_french"], 3)


# ----------------------------------------------------------------------------------------
# ROUGE-L
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b, lcs, f", [
    ("the cat sat on the mat", "the cat is on the mat", 5, 5 / 6),
    ("a b c d", "b d", 2, 2 * 2 / (4 + 2)),
    ("a b", "b a", 1, 0.5),
    ("a b c", "x y z", 0, 0.0),
    ("a b c", "a b c", 3, 1.0),
    ("reverse the order of the words", "reverse the order of the words below", 6, 12 / 13),
])
def test_rouge_l_on_hand_computed_cases(a, b, lcs, f):
    assert lcs_length(a.split(), b.split()) == lcs
    assert rouge_l(a.split(), b.split()) == pytest.approx(f, abs=1e-12)
    assert rouge_l(b.split(), a.split()) == pytest.approx(f, abs=1e-12)   # symmetric


def test_rouge_l_is_zero_when_a_side_is_empty():
    assert rouge_l([], ["a"]) == 0.0 and rouge_l(["a"], []) == 0.0


ROUGE_PAIRS = [
    ("Reverse the order of the words.", "Reverse the order of the words below."),
    ("Write the words in reverse order.", "Write the words in alphabetical order."),
    ("Flip the word order.", "Reverse the order of the words."),
    ("What is {a} plus {b}?", "Compute the sum of {a} and {b}."),
    ("Please find the total of {a} and {b}. Answer with a number.",
     "Now find the total of {a} and {b}."),
    ("Is the number even or odd?", "Classify the number as even or odd."),
    ("It's 3.5 km -- or 3,500 m!", "3 500 m, it's said"),
]


@pytest.mark.parametrize("a, b", ROUGE_PAIRS)
def test_rouge_l_agrees_with_the_rouge_score_package(a, b):
    from rouge_score import rouge_scorer

    expected = rouge_scorer.RougeScorer(["rougeL"]).score(a, b)["rougeL"].fmeasure
    assert rouge_l_text(a, b) == expected            # bit for bit, float rounding included


def test_rouge_l_agrees_with_rouge_score_on_the_chapters_generated_instructions():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    result = self_instruct(make_seed_tasks(), 6, seed=3)
    texts = [c.instruction for c in result.kept + result.removed]
    rng = random.Random(0)
    for _ in range(200):
        a, b = rng.choice(texts), rng.choice(texts)
        assert rouge_l_text(a, b) == scorer.score(a, b)["rougeL"].fmeasure, (a, b)


def test_rouge_tokenizer_lowercases_and_drops_punctuation():
    assert rouge_tokenize("What is {a} plus {b}?") == ["what", "is", "a", "plus", "b"]


# ----------------------------------------------------------------------------------------
# Self-instruct
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def seeds() -> list[Example]:
    return make_seed_tasks(TRAIN_FAMILIES, per_family=2, seed=0)


def test_kept_instructions_are_below_the_threshold_with_every_earlier_one(seeds):
    result = self_instruct(seeds, 20, rouge_threshold=0.7, seed=0)
    pool = [s.template or s.instruction for s in seeds]
    for c in result.kept:
        assert max(rouge_l_text(c.instruction, p) for p in pool) < 0.7
        pool.append(c.instruction)
    similar = [c for c in result.removed if c.reason == "similar"]
    assert similar and all(c.max_rouge >= 0.7 for c in similar)
    assert all(invalid_reason(c.instruction) is None for c in result.kept)


def test_a_higher_threshold_keeps_more_instructions(seeds):
    kept = [len(self_instruct(seeds, 20, rouge_threshold=t, seed=0).kept)
            for t in (0.3, 0.5, 0.7, 0.9, 1.0)]
    assert kept == sorted(kept) and kept[0] < kept[-1]
    assert len(self_instruct(seeds, 5, rouge_threshold=0.0, seed=0).kept) == 0


def test_invalid_instructions_are_filtered(seeds):
    assert invalid_reason("Draw a picture of the words.").startswith("unsuitable")
    assert invalid_reason("Reverse.") == "too short"
    assert invalid_reason("Write a program that sorts the words.") == "asks for a program"
    assert invalid_reason("- sort the words now") == "starts with punctuation"
    assert invalid_reason("Reverse the order of the words.") is None
    result = self_instruct(seeds, 30, seed=1)
    assert any(c.reason != "similar" for c in result.removed)


def test_self_instruct_is_repeatable(seeds):
    a, b = self_instruct(seeds, 10, seed=7), self_instruct(seeds, 10, seed=7)
    assert [c.instruction for c in a.kept] == [c.instruction for c in b.kept]


def test_self_instruct_needs_seed_tasks():
    with pytest.raises(ValueError, match="empty"):
        self_instruct([], 3)


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan")])
def test_threshold_outside_zero_one_is_rejected(seeds, threshold):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        self_instruct(seeds, 3, rouge_threshold=threshold)


def test_kept_instructions_make_valid_examples(seeds):
    result = self_instruct(seeds, 10, seed=0)
    examples = make_examples(TRAIN_FAMILIES, 80, seed=0, instructions=result.instructions())
    assert all("{" not in e.instruction for e in examples)
    allowed = {t for ts in result.instructions().values() for t in ts}
    assert all(e.template in allowed for e in examples)


# ----------------------------------------------------------------------------------------
# Masking: prompt tokens carry no loss
# ----------------------------------------------------------------------------------------
def test_prompt_tokens_are_labelled_minus_100_and_the_response_is_kept(tokenizer):
    example = Example("Reverse the order of the words.", "list value key", "key value list",
                      "reverse_words")
    item = InstructionDataset([example], tokenizer)[0]
    prompt = tokenizer.encode(example.prompt(), bos=True)
    response = tokenizer.encode(" " + example.output, eos=True)
    assert item["input_ids"].tolist() == prompt + response
    assert item["labels"].tolist() == [IGNORE_INDEX] * len(prompt) + response
    assert tokenizer.decode(item["labels"][item["labels"] != IGNORE_INDEX]).strip() == \
        example.output


def test_prompt_tokens_carry_no_loss(tokenizer):
    examples = make_examples(TRAIN_FAMILIES, 6, seed=0)
    data = InstructionDataset(examples, tokenizer)
    x, y = data.collate([data[i] for i in range(len(data))])
    model = tiny_model(tokenizer.vocab_size)
    logits = model(x).detach().requires_grad_(True)
    causal_lm_loss(logits, y).backward()
    on_prompt = y == IGNORE_INDEX
    assert on_prompt.sum() > 3 * (~on_prompt).sum()            # prompts are most tokens ...
    assert logits.grad[on_prompt].abs().max() == 0             # ... and get no gradient
    assert logits.grad[~on_prompt].abs().max() > 0
    # changing the prompt's logits leaves the loss unchanged
    noisy = logits.detach() + 5 * torch.randn_like(logits) * on_prompt[..., None]
    assert torch.allclose(causal_lm_loss(noisy, y), causal_lm_loss(logits.detach(), y))


def test_unmasked_dataset_counts_prompt_tokens(tokenizer):
    examples = make_examples(TRAIN_FAMILIES, 4, seed=0)
    masked = InstructionDataset(examples, tokenizer)
    full = InstructionDataset(examples, tokenizer, mask_prompt=False)
    assert (masked[0]["labels"] == IGNORE_INDEX).sum() > 0
    assert (full[0]["labels"][1:] != IGNORE_INDEX).all()


def test_sft_loss_equals_the_plain_loss_with_a_shared_prefix(tokenizer):
    examples = [e for e in make_examples(TRAIN_FAMILIES, 24, seed=0) if e.input][:8]
    data = InstructionDataset(examples, tokenizer)
    x, y = data.collate([data[i] for i in range(len(data))])
    model = tiny_model(tokenizer.vocab_size)
    prefix = shared_prefix_length(x)
    assert prefix > 20                                         # the shared Alpaca preamble
    pre, rest = forward_shared_prefix(model, x, prefix)
    full = model.model(x)
    assert torch.allclose(pre[0], full[0, :prefix], atol=1e-5)
    assert torch.allclose(rest, full[:, prefix:], atol=1e-5)
    grads = []
    for loss_fn in (lambda: causal_lm_loss(model(x), y), lambda: sft_loss(model, x, y)):
        model.zero_grad()
        loss_fn().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


# ----------------------------------------------------------------------------------------
# Fine-tuning and exact match (tiny configurations)
# ----------------------------------------------------------------------------------------
def test_finetuning_lowers_the_response_loss(tokenizer):
    examples = make_examples(["even_odd", "first_word"], 64, seed=0)
    data = InstructionDataset(examples, tokenizer)
    model = tiny_model(tokenizer.vocab_size)
    history = finetune(model, data, SFTConfig(steps=20, batch_size=8, lr=1e-2, warmup_steps=2),
                       progress=False)
    assert history.trainable == history.total == model.num_parameters()
    assert sum(history.loss[-5:]) / 5 < 0.6 * sum(history.loss[:5]) / 5
    assert history.loss_tokens < history.tokens / 3           # the loss saw responses only


def test_greedy_exact_match_in_one_forward_pass_agrees_with_decoding(tokenizer):
    model = tiny_model(tokenizer.vocab_size, seed=3)
    examples = make_examples(TRAIN_FAMILIES, 12, seed=0)
    # make half of the references the model's own greedy answers, so both kinds occur
    answers = generate_responses(model, tokenizer, examples, max_new_tokens=4)
    own = [dataclasses.replace(e, output=a) if i % 2 == 0 and a else e
           for i, (e, a) in enumerate(zip(examples, answers))]
    forced = greedy_matches(model, tokenizer, own)
    decoded = generate_responses(model, tokenizer, own, max_new_tokens=8)
    assert forced == [d == e.output for d, e in zip(decoded, own)]
    assert exact_match(model, tokenizer, own, max_new_tokens=8) == \
        exact_match(model, tokenizer, own, max_new_tokens=8, method="generate")


def test_sampling_probability_of_the_reference_matches_the_loss_and_tends_to_greedy(tokenizer):
    model = tiny_model(tokenizer.vocab_size, seed=3)
    examples = make_examples(TRAIN_FAMILIES, 8, seed=0)
    answers = generate_responses(model, tokenizer, examples, max_new_tokens=4)
    own = [dataclasses.replace(e, output=a) if i % 2 == 0 and a else e
           for i, (e, a) in enumerate(zip(examples, answers))]
    log_p = reference_log_probs(model, tokenizer, own, [1.0, 0.01])
    data = InstructionDataset(own, tokenizer)
    with torch.no_grad():
        for i in range(len(own)):               # at tau = 1: minus the summed loss (7.3)
            x, y = data.collate([data[i]])
            n = int((y != IGNORE_INDEX).sum())
            loss = float(causal_lm_loss(model(x), y))
            assert float(log_p[0, i]) == pytest.approx(-n * loss, rel=1e-4)
    greedy = torch.tensor(greedy_matches(model, tokenizer, own), dtype=torch.float)
    assert torch.allclose(log_p[1].exp(), greedy, atol=1e-3)   # tau -> 0: greedy decoding


class _WordTokenizer:
    """Each ' word' of WORDS is one token (ids 3, 4, ...), as in chapter 6's tokenizer."""

    bos_id = 1

    def encode(self, text):
        return [3 + WORDS.index(text.strip())]


class _Copier(torch.nn.Module):
    """Predicts, after ``length + 1`` tokens, the token that came ``length`` positions back:
    a perfect copier of a repeated list; before that, a uniform guess over 32 tokens."""

    def __init__(self, length):
        super().__init__()
        self.length = length

    def forward(self, x):
        logits = torch.zeros(*x.shape, 32)
        for t in range(self.length + 1, x.shape[1]):
            logits[torch.arange(x.shape[0]), t, x[:, t - self.length + 1]] = 50.0
        return logits


def test_copy_losses_of_a_perfect_copier_and_of_a_guesser():
    copier = copy_losses(_Copier(10), _WordTokenizer(), length=10, n_sequences=4)
    assert copier["repeat"] < 1e-6                         # the repeat is predicted exactly
    assert copier["first"] == pytest.approx(np.log(32), rel=1e-6)   # the first pass is not
    guesser = copy_losses(_Copier(10 ** 6), _WordTokenizer(), length=10, n_sequences=4)
    assert guesser["repeat"] == pytest.approx(guesser["first"], rel=1e-6)


@pytest.mark.parametrize("kwargs", [{"length": 1}, {"length": len(WORDS) + 1},
                                    {"n_sequences": 0}])
def test_copy_losses_checks_its_arguments(kwargs):
    with pytest.raises(ValueError, match="length|n_sequences"):
        copy_losses(_Copier(10), _WordTokenizer(), **kwargs)


def test_copy_losses_needs_one_token_per_word(tokenizer):
    split = [w for w in WORDS if len(tokenizer.encode(" " + w)) > 1]
    if not split:                                # the small test tokenizer splits some words
        pytest.fail("expected the 400-token test tokenizer to split a word")
    with pytest.raises(ValueError, match="one token"):
        copy_losses(tiny_model(tokenizer.vocab_size), tokenizer)


def test_exact_match_rejects_an_empty_list(tokenizer):
    with pytest.raises(ValueError, match="empty"):
        exact_match(tiny_model(tokenizer.vocab_size), tokenizer, [])


# ----------------------------------------------------------------------------------------
# LoRA
# ----------------------------------------------------------------------------------------
def test_lora_starts_as_the_base_layer_and_merges_exactly():
    torch.manual_seed(0)
    base = torch.nn.Linear(16, 12, bias=True)
    lora = LoRALinear(base, rank=4, alpha=8.0, generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 16)
    assert torch.equal(lora(x), base(x))                       # B = 0 at the start
    with torch.no_grad():
        lora.lora_B.normal_()
    merged = lora.merged()
    assert torch.allclose(merged(x), lora(x), atol=1e-5)
    assert torch.linalg.matrix_rank(lora.delta_weight()) <= 4


def test_only_the_adapters_train_and_the_merged_model_gives_the_same_output(tokenizer):
    model = tiny_model(tokenizer.vocab_size)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_lora(model, rank=4, alpha=8.0, targets=("q_proj", "v_proj"))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert trainable_parameters(model) == lora_parameter_count(model.config, 4,
                                                               ("q_proj", "v_proj"))
    data = InstructionDataset(make_examples(["even_odd"], 16, seed=0), tokenizer)
    finetune(model, data, SFTConfig(steps=5, batch_size=4, lr=1e-2, warmup_steps=1),
             progress=False)
    state = model.state_dict()
    for key, value in before.items():                          # frozen weights unchanged
        lora_key = key.replace("q_proj.weight", "q_proj.base.weight").replace(
            "v_proj.weight", "v_proj.base.weight")
        assert torch.equal(state[lora_key], value), key
    assert any(state[n].abs().sum() > 0 for n in names if n.endswith("lora_B"))
    x = torch.randint(3, tokenizer.vocab_size, (2, 20))
    with torch.no_grad():
        out = model(x)
        merge_lora(model)
        assert torch.allclose(model(x), out, atol=1e-5)
    assert set(model.state_dict()) == set(before)              # original parameter names


def test_lora_count_for_llama_7b_is_the_alpaca_lora_number():
    # peft prints "trainable params: 4194304 || all params: 6742609920" for r=8 on q, v
    assert lora_parameter_count(LLAMA_SIZES["7B"], 8, ("q_proj", "v_proj")) == 4_194_304


@pytest.mark.parametrize("rank", [0, -2, 1.5])
def test_lora_rank_must_be_positive(rank):
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(torch.nn.Linear(8, 8), rank=rank)
    with pytest.raises(ValueError, match="rank"):
        apply_lora(tiny_model(300), rank=rank)


def test_unknown_fine_tuning_method_is_rejected():
    from mlbook.llm.instruct import sft_tiny_llama
    with pytest.raises(ValueError, match="method"):
        sft_tiny_llama(method="prefix-tuning")


def test_lora_targets_must_exist():
    with pytest.raises(ValueError, match="no nn.Linear"):
        apply_lora(tiny_model(300), rank=2, targets=("attention",))


# ----------------------------------------------------------------------------------------
# Held-out contents and the answer baselines
# ----------------------------------------------------------------------------------------
def test_heldout_contents_never_appear_in_training():
    from mlbook.llm.tasks import content_key, is_heldout_content
    train = make_examples(TRAIN_FAMILIES, 2000, seed=0,
                          where=lambda e: not is_heldout_content(e))
    held = make_examples(TRAIN_FAMILIES, 400, seed=1, where=is_heldout_content)
    assert not {content_key(e) for e in train} & {content_key(e) for e in held}
    # every family still has held-out instances, and the held-out share is about 20%
    assert {e.family for e in held} == set(TRAIN_FAMILIES)
    share = np.mean([is_heldout_content(e) for e in make_examples(TRAIN_FAMILIES, 4000, seed=2)])
    assert 0.15 < share < 0.25


def test_same_content_means_same_answer_whatever_the_wording():
    from mlbook.llm.tasks import content_key
    by_key = {}
    for e in make_examples(["add", "convert_units", "extract_field"], 3000, seed=3):
        assert by_key.setdefault(content_key(e), e.output) == e.output


def test_answer_baselines_by_hand():
    from mlbook.llm.tasks import answer_baselines
    train = [Example("q", "", a, "add") for a in ["3", "3", "4", "5"]]
    evals = [Example("q", "", a, "add") for a in ["3", "4", "4", "9"]]
    b = answer_baselines(train, evals)["add"]
    assert b["majority"] == pytest.approx(1 / 4)          # "3" is right once in four
    assert b["chance"] == pytest.approx(3 / 4 / 3)        # three of four answers guessable, 1/3 each
    with pytest.raises(ValueError, match="eval_examples"):
        answer_baselines(train, [])


def test_where_that_nothing_satisfies_is_reported():
    with pytest.raises(ValueError, match="where"):
        make_examples(["even_odd"], 1, where=lambda e: False)
    with pytest.raises(TypeError, match="where"):
        make_examples(["even_odd"], 1, where="yes")


# ----------------------------------------------------------------------------------------
# The package: one module per idea, none hidden by a re-exported function
# ----------------------------------------------------------------------------------------
def test_the_llm_submodules_are_modules_not_the_functions_they_define():
    import importlib
    import types

    import mlbook.llm as llm
    for name in ("llama", "data", "train", "tasks", "self_instruct", "lora", "instruct", "dpo",
                 "dpo_bandit"):
        importlib.import_module(f"mlbook.llm.{name}")
        assert isinstance(getattr(llm, name), types.ModuleType), name
    assert callable(llm.train.cosine_lr) and callable(llm.self_instruct.self_instruct)


def test_every_name_is_exported_by_the_module_that_defines_it_only():
    import importlib
    modules = {m: importlib.import_module(f"mlbook.llm.{m}")
               for m in ("tasks", "self_instruct", "lora", "instruct", "dpo", "dpo_bandit")}
    owner: dict[str, str] = {}
    for m, mod in modules.items():
        for name in mod.__all__:
            assert name not in owner, f"{name} exported by {owner.get(name)} and {m}"
            owner[name] = m
            obj = getattr(mod, name)
            if callable(obj) and hasattr(obj, "__module__"):
                assert obj.__module__ == mod.__name__, f"{m} re-exports {name}"

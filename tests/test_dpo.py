"""Tests for chapter 8, mlbook.llm.dpo and mlbook.llm.dpo_bandit: the claims of the chapter,
checked."""

import copy
import math

import numpy as np
import pytest
import torch

from mlbook.llm import BPETokenizer, Llama, LlamaConfig
from mlbook.llm.dpo import (DPOConfig, PreferencePair, _length_grouped_epoch, batched_logprobs,
                            dpo_gradient_weights, dpo_loss, encode_pairs, implicit_rewards,
                            make_preference_pairs, malformed_response, pair_logprobs,
                            preference_metrics, reward_and_kl, sequence_logprobs, train_dpo)
from mlbook.llm.dpo_bandit import (BANDIT_REFERENCE, BANDIT_REWARDS, fit_bradley_terry,
                                   kl_optimal_policy, kl_policy_gradient,
                                   population_preferences, sample_bandit_preferences,
                                   total_variation, train_dpo_bandit)
from mlbook.llm.instruct import InstructionDataset
from mlbook.llm.tasks import make_examples

# The chapter's bandit: five responses, a reference that prefers mediocre ones.
REF = np.array(BANDIT_REFERENCE)
REWARD = np.array(BANDIT_REWARDS)
# Stated tolerance of the chapter: with 20,000 sampled pairs the DPO policy is within this
# total-variation distance of the closed-form optimum pi_ref exp(r / beta) / Z.
TV_TOLERANCE = 0.02


@pytest.fixture(autouse=True)
def one_thread():
    """These tensors are tiny: one thread is faster than two (and immune to a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _logps(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    return [-5 * torch.rand(n, generator=g, dtype=torch.float64) for _ in range(4)]


# ---- the loss ------------------------------------------------------------------------------
def test_dpo_loss_equals_the_formula():
    pc, pr, rc, rr = _logps()
    for beta in (0.1, 0.5, 2.0):
        expected = np.mean([-math.log(1 / (1 + math.exp(-beta * ((a - c) - (b - d)))))
                            for a, b, c, d in zip(*(t.tolist() for t in (pc, pr, rc, rr)))])
        assert float(dpo_loss(pc, pr, rc, rr, beta)) == pytest.approx(expected, rel=1e-12)
        per_pair = dpo_loss(pc, pr, rc, rr, beta, reduction="none")
        assert per_pair.shape == (6,)
        assert float(dpo_loss(pc, pr, rc, rr, beta, reduction="sum")) == pytest.approx(
            float(per_pair.sum()))


def test_dpo_loss_in_the_papers_indexed_layout_and_at_huge_margins():
    """The paper's appendix B keeps every response's log-probability in one tensor and
    indexes winners and losers; the per-pair loss is log(1 + exp(-margin)), which for a pair
    ordered wrong by 5,000 nats is 5,000 * beta, not inf."""
    g = torch.Generator().manual_seed(1)
    pi, ref = (-30 * torch.rand(40, generator=g, dtype=torch.float64) for _ in range(2))
    pi[0] = -5000.0                                  # one pair ordered wrong by 5,000 nats
    yw, yl = torch.arange(0, 40, 2), torch.arange(1, 40, 2)
    for beta in (0.05, 0.1, 1.0):
        margin = beta * ((pi[yw] - pi[yl]) - (ref[yw] - ref[yl]))
        expected = torch.logaddexp(torch.zeros_like(margin), -margin)   # log(1 + e^-margin)
        ours = dpo_loss(pi[yw], pi[yl], ref[yw], ref[yl], beta, reduction="none")
        assert torch.allclose(ours, expected, rtol=0, atol=1e-12)
        assert torch.isfinite(ours).all() and float(ours[0]) == pytest.approx(-float(margin[0]))
        assert torch.allclose(implicit_rewards(pi, ref, beta), beta * (pi - ref))


def test_dpo_loss_at_the_reference_is_log_2():
    pc, pr, _, _ = _logps()
    assert float(dpo_loss(pc, pr, pc, pr, 0.1)) == pytest.approx(math.log(2))


def test_dpo_loss_is_stable_for_large_margins():
    big = torch.tensor([1000.0, -1000.0], dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(2, dtype=torch.float64)
    losses = dpo_loss(big, zero, zero, zero, 1.0, reduction="none")
    assert torch.isfinite(losses).all()
    assert float(losses[0].detach()) == pytest.approx(0.0, abs=1e-300)   # right by a mile: no loss
    assert float(losses[1].detach()) == pytest.approx(1000.0)          # wrong by a mile: the margin
    losses.sum().backward()
    assert torch.isfinite(big.grad).all()
    # log(sigmoid(.)) would give inf here: that is what logsigmoid avoids
    assert math.isinf(float(-torch.log(torch.sigmoid(torch.tensor(-1000.0, dtype=torch.float64)))))


def test_gradient_raises_chosen_and_lowers_rejected():
    pc, pr, rc, rr = _logps()
    pc.requires_grad_(True)
    pr.requires_grad_(True)
    beta = 0.5
    dpo_loss(pc, pr, rc, rr, beta).backward()
    assert (pc.grad < 0).all() and (pr.grad > 0).all()   # descent raises pi_c, lowers pi_r
    # equation (8.7): each pair's weight is sigmoid(r_hat_l - r_hat_w), times beta / N
    w = dpo_gradient_weights(pc.detach(), pr.detach(), rc, rr, beta)
    assert torch.allclose(-pc.grad, beta * w / 6)
    assert torch.allclose(pr.grad, beta * w / 6)


def test_pairs_ordered_wrongly_get_larger_gradient_weight():
    zero = torch.zeros(2, dtype=torch.float64)
    w = dpo_gradient_weights(torch.tensor([3.0, -3.0]), zero, zero, zero, 1.0)
    assert w[1] > 0.9 > 0.1 > w[0]


def test_implicit_rewards_and_metrics():
    pc, pr, rc, rr = _logps()
    assert torch.allclose(implicit_rewards(pc, rc, 0.2), 0.2 * (pc - rc))
    m = preference_metrics(pc, pr, pc, pr, 0.2)      # the reference itself: all ties
    assert m["accuracy"] == 0.5 and m["margin"] == 0.0
    assert m["loss"] == pytest.approx(math.log(2))
    m = preference_metrics(rc + 1, rr - 1, rc, rr, 0.2)
    assert m["accuracy"] == 1.0 and m["margin"] == pytest.approx(0.4)


@pytest.mark.parametrize("beta", [0, -0.1, float("inf"), float("nan"), "0.1", True])
def test_beta_must_be_positive(beta):
    pc, pr, rc, rr = _logps()
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(pc, pr, rc, rr, beta)
    with pytest.raises(ValueError, match="beta"):
        kl_optimal_policy(REF, REWARD, beta)
    with pytest.raises(ValueError, match="beta"):
        DPOConfig(beta=beta)


def test_mismatched_batch_sizes_are_rejected():
    pc, pr, rc, rr = _logps()
    with pytest.raises(ValueError, match="batch size"):
        dpo_loss(pc, pr[:5], rc, rr, 0.1)
    with pytest.raises(ValueError, match="batch size"):
        dpo_loss(pc, pr, rc[:3], rr, 0.1)
    with pytest.raises(ValueError, match="1-D"):
        dpo_loss(pc[None], pr[None], rc[None], rr[None], 0.1)
    with pytest.raises(ValueError, match="empty"):
        dpo_loss(*(torch.zeros(0) for _ in range(4)), 0.1)
    with pytest.raises(ValueError, match="reduction"):
        dpo_loss(pc, pr, rc, rr, 0.1, reduction="max")
    with pytest.raises(ValueError, match="same length"):
        train_dpo_bandit(REF, [0, 1], [2], 0.5)


@pytest.mark.parametrize("chosen, rejected", [("", "7"), ("7", ""), ("7", "   "), ("7", " 7 ")])
def test_a_pair_with_an_empty_response_is_rejected(chosen, rejected):
    with pytest.raises(ValueError):
        PreferencePair("What is 3 plus 4?", chosen, rejected)


# ---- sequence log-probabilities on a tiny model -------------------------------------------
class _CharTokenizer:
    """A stand-in tokenizer: one token per character, ids 0-2 special like LLaMA's."""
    bos_id, eos_id = 1, 2

    def encode(self, text, *, bos=False, eos=False):
        return [self.bos_id] * bos + [3 + ord(c) % 60 for c in text] + [self.eos_id] * eos

    def decode(self, ids):
        return "".join(chr(32 + i % 90) for i in ids if i > 2)


@pytest.fixture(scope="module")
def tiny_model():
    config = LlamaConfig(vocab_size=64, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                         multiple_of=16, max_seq_len=64)
    return Llama(config, seed=0).eval()


PAIRS = [PreferencePair("add 3 4:", "7", "8", "wrong"),
         PreferencePair("first word of a b c:", "a", "a b c", "malformed"),
         PreferencePair("even or odd 6:", "even", "odd", "wrong")]


def test_sequence_logprobs_sum_over_response_tokens_only(tiny_model):
    batch = encode_pairs(_CharTokenizer(), PAIRS)
    assert batch.chosen_ids.shape == batch.rejected_ids.shape
    with torch.no_grad():
        got = sequence_logprobs(tiny_model, batch.chosen_ids, batch.chosen_mask)
        for b, pair in enumerate(PAIRS):    # by hand: one sequence at a time, no padding
            tok = _CharTokenizer()
            prompt = tok.encode(pair.prompt, bos=True)
            response = tok.encode(" " + pair.chosen, eos=True)
            ids = torch.tensor([prompt + response])
            logp = torch.log_softmax(tiny_model(ids)[0], -1)
            want = sum(float(logp[t - 1, ids[0, t]]) for t in range(len(prompt), ids.shape[1]))
            assert float(got[b]) == pytest.approx(want, abs=1e-5)
    # padding and prompt do not count: changing a padding token changes nothing
    ids = batch.chosen_ids.clone()
    ids[0, -1] = 5
    with torch.no_grad():
        assert torch.allclose(sequence_logprobs(tiny_model, ids, batch.chosen_mask)[0], got[0])


def test_an_empty_response_mask_is_rejected(tiny_model):
    batch = encode_pairs(_CharTokenizer(), PAIRS)
    mask = batch.chosen_mask.clone()
    mask[1] = False
    with pytest.raises(ValueError, match="empty response"):
        sequence_logprobs(tiny_model, batch.chosen_ids, mask)


def test_sequence_logprobs_takes_chapter_6s_llama_and_nothing_else(tiny_model):
    batch = encode_pairs(_CharTokenizer(), PAIRS)

    class Wrapped(torch.nn.Module):          # same attributes, but not a Llama: no guessing
        def __init__(self, llama):
            super().__init__()
            self.model, self.lm_head, self.config = llama.model, llama.lm_head, llama.config

        def forward(self, ids):
            return self.lm_head(self.model(ids))

    with pytest.raises(TypeError, match="model must be a Llama"):
        sequence_logprobs(Wrapped(tiny_model), batch.chosen_ids, batch.chosen_mask)


def test_dpo_training_raises_preference_accuracy(tiny_model):
    torch.manual_seed(0)
    reference = tiny_model
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    policy = copy.deepcopy(reference)
    batch = encode_pairs(_CharTokenizer(), PAIRS)
    history = train_dpo(policy, reference, batch,
                        DPOConfig(beta=0.5, steps=15, batch_size=3, lr=3e-3, warmup_steps=0,
                                  eval_every=15), eval_pairs=batch, progress=False)
    assert history.evals[0]["accuracy"] == 0.5          # the policy starts as the reference
    assert history.evals[-1]["accuracy"] == 1.0
    assert history.loss[-1] < math.log(2) < history.loss[0] + 1e-6
    # the reference is frozen: not one weight moved
    assert all(torch.equal(before[k], v) for k, v in reference.state_dict().items())
    pc, pr = pair_logprobs(policy, batch)
    rc, rr = pair_logprobs(reference, batch)
    assert ((pc - rc) > (pr - rr)).all()
    with pytest.raises(ValueError, match="separate models"):
        train_dpo(reference, reference, batch, progress=False)


def test_dpo_config_checks_its_numbers():
    for bad in (dict(steps=0), dict(batch_size=-1), dict(lr=0), dict(warmup_steps=40),
                dict(eval_every=0)):
        with pytest.raises(ValueError):
            DPOConfig(**bad)


def test_length_grouped_epoch_visits_every_pair_once():
    lengths = [5, 9, 7, 5, 8, 6, 9, 7, 5, 6, 8]
    order = _length_grouped_epoch(lengths, 3, torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(len(lengths)))


def test_reward_and_kl_of_the_reference_itself(tiny_model):
    tok = _CharTokenizer()
    prompts, answers = [p.prompt for p in PAIRS], [p.chosen for p in PAIRS]
    out = reward_and_kl(tiny_model, copy.deepcopy(tiny_model), tok, prompts, answers,
                        max_new_tokens=4, kl_prompts=2)
    assert out["kl"] == pytest.approx(0.0, abs=1e-6)       # same model: log-ratio is zero
    batch = encode_pairs(tok, PAIRS)
    expected = float(batched_logprobs(tiny_model, batch.chosen_ids, batch.chosen_mask).exp().mean())
    assert out["reward"] == pytest.approx(expected)       # P(answer), exactly
    with pytest.raises(ValueError, match="as many answers"):
        reward_and_kl(tiny_model, tiny_model, tok, prompts, answers[:2])


# ---- preference pairs from chapter 7's tasks ----------------------------------------------
def test_pairs_are_tokenised_like_chapter_7_training_data():
    examples = make_examples(["add", "reverse_words", "sentiment"], 6, seed=0)
    texts = [e.prompt() + " " + e.output for e in examples]
    tok = BPETokenizer.train(texts * 5, vocab_size=300)
    pairs = [PreferencePair(e.prompt(), e.output, e.output + " " + e.output) for e in examples]
    batch = encode_pairs(tok, pairs)
    dataset = InstructionDataset(examples, tok)
    for b, item in enumerate(dataset.items):
        n = len(item["input_ids"])
        assert torch.equal(batch.chosen_ids[b, :n], item["input_ids"])
        # the response mask is exactly where chapter 7 puts a loss
        assert torch.equal(batch.chosen_mask[b, :n], item["labels"] != -100)
        assert not batch.chosen_mask[b, n:].any()


def test_preference_pairs_prefer_the_correct_output():
    examples = make_examples(["add", "first_word", "even_odd", "sentiment"], 40, seed=1)
    own = [e.output if i % 3 == 0 else "wrong answer" for i, e in enumerate(examples)]
    pairs = make_preference_pairs(examples, model_responses=own, seed=0)
    for i, (e, p) in enumerate(zip(examples, pairs)):
        assert p.chosen == e.output and p.rejected.strip() != e.output
        assert p.prompt == e.prompt()
        # the model's own answer is used exactly when it is wrong
        assert (p.kind == "model") == (i % 3 != 0)
    kinds = {p.kind for p in make_preference_pairs(examples, seed=0)}
    assert kinds == {"wrong", "malformed"}
    with pytest.raises(ValueError, match="model responses"):
        make_preference_pairs(examples, model_responses=own[:3])
    with pytest.raises(ValueError, match="empty"):
        make_preference_pairs([])


def test_malformed_responses_differ_from_the_answer():
    import random
    rng = random.Random(0)
    for _ in range(50):
        assert malformed_response("7", "", rng) == "7 7"
        assert malformed_response("a", "a b c", rng) != "a"


# ---- the bandit: DPO reaches the closed-form optimum (8.4) --------------------------------
def test_closed_form_optimum_maximises_the_kl_regularised_objective():
    beta = 0.5
    star = kl_optimal_policy(REF, REWARD, beta)
    objective = lambda p: p @ REWARD - beta * np.sum(p * np.log(p / REF))  # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(200):
        other = rng.dirichlet(np.ones(5))
        assert objective(other) <= objective(star) + 1e-12
    assert np.allclose(kl_optimal_policy(REF, REWARD, 1e-3), np.eye(5)[0])   # beta -> 0: argmax
    assert np.allclose(kl_optimal_policy(REF, REWARD, 1e6), REF)             # beta -> inf: ref


@pytest.mark.parametrize("beta", [0.2, 1.0, 5.0])
def test_dpo_bandit_with_infinite_data_is_the_closed_form(beta):
    chosen, rejected, weights = population_preferences(REF, REWARD)
    star = kl_optimal_policy(REF, REWARD, beta)
    result = train_dpo_bandit(REF, chosen, rejected, beta, weights, target=star)
    assert total_variation(result.policy, star) < 1e-6
    # the implicit reward beta log(pi / pi_ref) recovers the true reward up to a constant
    implicit = beta * (np.log(result.policy) - np.log(REF))
    assert np.allclose(implicit - implicit.mean(), REWARD - REWARD.mean(), atol=1e-5)


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_dpo_bandit_from_sampled_pairs_is_within_the_stated_tv(beta):
    chosen, rejected = sample_bandit_preferences(REF, REWARD, 20_000, seed=0)
    result = train_dpo_bandit(REF, chosen, rejected, beta)
    assert total_variation(result.policy, kl_optimal_policy(REF, REWARD, beta)) < TV_TOLERANCE
    # and exactly the two-stage answer with the reward model fitted to the same pairs
    r_hat = fit_bradley_terry(5, chosen, rejected)
    assert total_variation(result.policy, kl_optimal_policy(REF, r_hat, beta)) < 1e-4


def test_sampled_preferences_follow_bradley_terry():
    chosen, rejected = sample_bandit_preferences(REF, REWARD, 20_000, seed=1)
    assert (chosen != rejected).all()
    between = (np.minimum(chosen, rejected) == 0) & (np.maximum(chosen, rejected) == 1)
    wins = np.mean(chosen[between] == 0)           # response 0 against response 1
    assert wins == pytest.approx(1 / (1 + math.exp(-(REWARD[0] - REWARD[1]))), abs=0.03)


def test_two_stage_route_reaches_the_same_policy():
    chosen, rejected = sample_bandit_preferences(REF, REWARD, 20_000, seed=0)
    r_hat = fit_bradley_terry(5, chosen, rejected)
    assert np.allclose(r_hat, REWARD - REWARD.mean(), atol=0.1)
    beta = 0.5
    pg = kl_policy_gradient(REF, r_hat, beta, steps=800, seed=0)
    assert total_variation(pg.policy, kl_optimal_policy(REF, r_hat, beta)) < TV_TOLERANCE
    assert pg.objective[-1] > pg.objective[0]


def test_bandit_bad_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        kl_optimal_policy([0.5, 0.6], [0, 1], 1.0)
    with pytest.raises(ValueError, match="strictly positive"):
        kl_optimal_policy([1.0, 0.0], [0, 1], 1.0)
    with pytest.raises(ValueError, match="rewards"):
        kl_optimal_policy(REF, [1, 2], 1.0)
    with pytest.raises(ValueError, match="indices"):
        train_dpo_bandit(REF, [0, 7], [1, 2], 1.0)
    with pytest.raises(ValueError, match="n_pairs"):
        sample_bandit_preferences(REF, REWARD, 0)


# ---- IPO and on-policy pairs ----------------------------------------------------------------
def test_ipo_loss_is_the_squared_distance_to_half_over_beta():
    from mlbook.llm.dpo import ipo_loss
    pc, pr, rc, rr = _logps(seed=3)
    for beta in (0.1, 1.0):
        h = (pc - rc) - (pr - rr)
        expected = ((h - 1 / (2 * beta)) ** 2).mean()
        assert float(ipo_loss(pc, pr, rc, rr, beta)) == pytest.approx(float(expected), rel=1e-12)
    with pytest.raises(ValueError, match="beta"):
        ipo_loss(pc, pr, rc, rr, 0.0)
    with pytest.raises(ValueError, match="loss"):
        DPOConfig(loss="kto")


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_deterministic_preferences_run_dpo_off_but_not_ipo(beta):
    """Azar et al.'s argument: ten comparisons all won by the first response. DPO keeps
    lowering the loser whatever beta is; IPO stops at the margin 1 / (2 beta)."""
    ref = np.array([0.5, 0.5])
    chosen, rejected = np.zeros(10, dtype=int), np.ones(10, dtype=int)
    short = train_dpo_bandit(ref, chosen, rejected, beta, steps=500, lr=0.05)
    long = train_dpo_bandit(ref, chosen, rejected, beta, steps=2000, lr=0.05)
    assert long.policy[1] < short.policy[1] and long.policy[1] < 0.01   # still falling
    ipo = train_dpo_bandit(ref, chosen, rejected, beta, steps=2000, lr=0.05, loss="ipo")
    margin = np.log(ipo.policy[0] / ipo.policy[1])           # log-ratio margin (ref is uniform)
    assert margin == pytest.approx(1 / (2 * beta), abs=1e-3)


def test_on_policy_pairs_prefer_a_right_sample_to_a_wrong_one():
    from mlbook.llm.dpo import sample_preference_pairs
    from mlbook.llm.tasks import Example
    tiny_model = Llama(LlamaConfig(vocab_size=64, dim=32, n_layers=1, n_heads=2, n_kv_heads=1,
                                   multiple_of=16, max_seq_len=256), seed=0).eval()

    class Tok:
        eos_id = 2

        def encode(self, text, bos=False, eos=False):
            return [1] * bos + [3 + ord(c) % 60 for c in text] + [2] * eos

        def decode(self, ids):
            return "".join("ab"[i % 2] for i in ids if i > 2)

    examples = [Example("say a or b", "", out, "first_word") for out in ("a", "b", "ab", "ba")]
    result = sample_preference_pairs(tiny_model, Tok(), examples, n_samples=8, seed=0,
                                     max_new_tokens=2)
    assert len(result.correct_share) == 4
    assert len(result.pairs) == sum(0 < c < 1 for c in result.correct_share) >= 1
    for pair, ex in zip(result.pairs, result.examples):
        assert pair.chosen == ex.output and pair.rejected != ex.output
    with pytest.raises(ValueError, match="n_samples"):
        sample_preference_pairs(tiny_model, Tok(), examples, n_samples=1)

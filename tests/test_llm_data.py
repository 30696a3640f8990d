"""Chapter 6: the corpus, the BPE tokenizers, batches and the scaling arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlbook.llm import scaling
from mlbook.llm.data import (BPETokenizer, apply_bpe, build_corpus, corpus_documents,
                             corpus_fingerprint, get_batch, learn_bpe, shard,
                             split_documents, unigram_cross_entropy)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(512)


def test_corpus_is_the_pydoc_topics_shipped_with_python():
    docs = corpus_documents()
    assert len(docs) > 50 and "if" in docs and docs["if"].startswith('The "if" statement')
    assert corpus_fingerprint(docs) == corpus_fingerprint()


def test_validation_holds_out_whole_topics_about_a_tenth_of_the_text():
    docs = corpus_documents()
    train, val = split_documents(docs, 0.1, seed=0)
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(docs)
    share = sum(map(len, val.values())) / sum(map(len, docs.values()))
    assert 0.1 <= share < 0.2


def test_tokenizer_round_trips_any_text_and_splits_digits(corpus):
    tok = corpus.tokenizer
    for text in [corpus.val_docs["if"][:2000], "LLaMA 羊驼 🦙 \t\n  x = 1_000", ""]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.pieces(" 2023") == [" ", "2", "0", "2", "3"]
    assert (tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert tok.encode("if", bos=True, eos=True)[0] == 1 and tok.encode("if", eos=True)[-1] == 2


def test_tokenizer_training_is_repeatable_and_saves_to_a_string(corpus):
    again = build_corpus(512)
    assert torch.equal(again.train_ids, corpus.train_ids)
    restored = BPETokenizer.from_str(corpus.tokenizer.to_str())
    assert restored.encode("The while statement") == corpus.tokenizer.encode("The while statement")


def test_a_bigger_vocabulary_gives_fewer_tokens(corpus):
    assert build_corpus(2048).train_ids.numel() < corpus.train_ids.numel()


def test_toy_bpe_merges_the_most_frequent_pair_first():
    steps = learn_bpe("low lower lowest slow slower slowest", 10)
    assert steps[0].pair == ("l", "o") and steps[0].count == 6
    assert steps[1].pair == ("lo", "w")
    counts = [s.count for s in steps]
    assert counts == sorted(counts, reverse=True)          # the top count never rises
    assert min(counts) >= 2                                 # stops when no pair repeats
    merges = [s.pair for s in steps]
    assert apply_bpe("low lower lowest slow slower slowest", merges) == steps[-1].tokens


def test_batches_are_windows_with_targets_shifted_by_one(corpus):
    g = torch.Generator().manual_seed(0)
    x, y = get_batch(corpus.train_ids, 4, 16, g)
    assert x.shape == y.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_shards_of_the_global_batch_partition_it():
    batch = torch.arange(24).view(8, 3)
    parts = [shard(batch, r, 4) for r in range(4)]
    assert torch.equal(torch.cat(parts), batch)


def test_unigram_baseline_is_below_uniform_and_above_zero(corpus):
    h = unigram_cross_entropy(corpus.train_ids, corpus.val_ids, 512)
    assert 0 < h < np.log(512)


def test_chinchilla_fit_and_compute_optimum():
    n, d = 70e9, 1.4e12                   # Chinchilla itself
    assert scaling.chinchilla_loss(n, d) == pytest.approx(1.69 + 406.4 / n**0.34 + 410.7 / d**0.28)
    c = scaling.training_flops(n, d)
    n_opt, d_opt = scaling.chinchilla_optimal(c)
    assert 6 * n_opt * d_opt == pytest.approx(c)
    for factor in (0.5, 2.0):             # the optimum beats its neighbours on the same budget
        assert scaling.chinchilla_loss(n_opt, d_opt) < scaling.chinchilla_loss(n_opt * factor, d_opt / factor)
    assert sum(share for share, _, _ in scaling.LLAMA_DATA_MIXTURE.values()) == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------
def test_bad_data_arguments_are_rejected(corpus):
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train(["some text"], vocab_size=100)
    with pytest.raises(ValueError, match="val_fraction"):
        split_documents(corpus_documents(), 1.5)
    with pytest.raises(ValueError, match="seq_len"):
        get_batch(torch.arange(10), 2, 10)
    with pytest.raises(ValueError, match="does not split evenly"):
        shard(torch.zeros(6, 2), 0, 4)
    with pytest.raises(ValueError, match="num_merges"):
        learn_bpe("aa aa", -1)
    with pytest.raises(ValueError, match="positive"):
        scaling.chinchilla_loss(0, 1e9)

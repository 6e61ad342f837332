import math

import pytest

from society.metrics.selfbleu import self_bleu


def test_identical_texts_score_one():
    texts = [["the", "lord", "is", "my", "shepherd"]] * 5
    assert self_bleu(texts) == pytest.approx(1.0)


def test_disjoint_texts_score_the_smoothed_floor():
    texts = [[f"w{i}{k}" for k in range(5)] for i in range(4)]
    # no n-gram matches: each precision is 0.1 / count (NLTK method1), brevity penalty 1
    expected = math.exp(sum(math.log(0.1 / (5 - n + 1)) for n in range(1, 5)) / 4)
    assert self_bleu(texts) == pytest.approx(expected)


def test_known_hand_computed_value():
    # hypothesis "a b c d" against references "a b c e" and "x y": clipped matches
    # 3/4, 2/3, 1/2, 0 -> 0.1/1; closest reference length 4 -> no brevity penalty.
    texts = [["a", "b", "c", "d"], ["a", "b", "c", "e"], ["x", "y"]]
    expected = math.exp((math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2) + math.log(0.1)) / 4)
    assert self_bleu(texts, hypotheses=[0]) == pytest.approx(expected)


def test_clipping_uses_the_best_single_other_text_not_the_hypothesis_itself():
    hypothesis = ["a", "a", "a", "a"]
    texts = [hypothesis, ["a", "b", "c", "d"], ["a", "a", "x", "y"]]
    # unigram "a" x4 clipped to 2 (third text), bigram "a a" x3 clipped to 1
    expected = math.exp(
        (math.log(2 / 4) + math.log(1 / 3) + math.log(0.1 / 2) + math.log(0.1 / 1)) / 4
    )
    assert self_bleu(texts, hypotheses=[0]) == pytest.approx(expected)


def test_brevity_penalty_and_edge_cases():
    short = [["a", "b"], ["a", "b", "c", "d", "e", "f"]]
    value = self_bleu(short, hypotheses=[0])
    assert value < 0.5  # brevity penalty exp(1 - 6/2)
    assert math.isnan(self_bleu([["a"]]))
    assert self_bleu([[], ["a", "b"]], hypotheses=[0]) == 0.0


def test_repetition_raises_self_bleu():
    varied = [[f"w{i}", "and", f"v{i}", "or", f"u{i}"] for i in range(20)]
    repetitive = [["and", "the", "lord", "said", f"w{i % 3}"] for i in range(20)]
    assert self_bleu(repetitive) > self_bleu(varied)

"""Real vs generated: how well a simple classifier tells an agent's output from real text.

A bag of word uni- and bigrams (scikit-learn ``CountVectorizer``, fitted inside each fold)
feeds a logistic regression; the score is its stratified k-fold cross-validated accuracy
on a balanced set of generated and held-out real texts. 0.5 means indistinguishable,
1.0 means every text is recognised. A rising accuracy over rounds is drift away from real
language.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Word tokens as in ``society.metrics.text.words`` (lower-cased ``\w+`` with apostrophes).
TOKEN_PATTERN = r"\w+(?:'\w+)*"


def real_vs_generated_accuracy(
    generated: Sequence[str],
    real: Sequence[str],
    max_texts: int = 100,
    folds: int = 5,
    seed: int = 0,
) -> float:
    """Cross-validated accuracy of telling generated texts from real ones.

    Args:
        generated: the generated texts (e.g. one agent's utterances).
        real: real texts never trained on (held-out).
        max_texts: texts per class (both classes are cut to the same size, chosen at
            random with ``seed``).
        folds: cross-validation folds.
        seed: seed of the subsampling and the fold split.

    Returns:
        Mean accuracy over the folds; NaN when either class has fewer than ``folds``
        texts or no text has a word.
    """
    m = min(len(generated), len(real), max_texts)
    if m < folds:
        return float("nan")
    # scikit-learn is imported here, not at module level: it costs about half a second,
    # which every sweep worker and CLI call would otherwise pay at startup.
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(seed)
    fake = [generated[i] for i in rng.choice(len(generated), m, replace=False)]
    true = [real[i] for i in rng.choice(len(real), m, replace=False)]
    texts = np.asarray(fake + true, dtype=object)
    labels = np.repeat([0, 1], m)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # What cross_val_score(make_pipeline(vectoriser, model)) computes, fold by fold, without
    # its cloning and validation (a fifth of the time; the same scores, tested).
    scores = []
    for train, test in split.split(texts, labels):
        vectoriser = CountVectorizer(token_pattern=TOKEN_PATTERN, ngram_range=(1, 2))
        try:
            features = vectoriser.fit_transform(texts[train])
        except ValueError:  # empty vocabulary: no text has a word
            return float("nan")
        model = LogisticRegression(solver="liblinear").fit(features, labels[train])
        scores.append(model.score(vectoriser.transform(texts[test]), labels[test]))
    return float(np.mean(scores))

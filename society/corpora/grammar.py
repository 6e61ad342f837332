"""A synthetic English-like language from a known probabilistic grammar.

Because the grammar is known, the share of ungrammatical text an agent produces can be
measured exactly: :meth:`Grammar.is_grammatical` accepts exactly the strings the grammar
derives, and :meth:`Grammar.log_prob` gives their exact probability (summed over all parses).

:class:`Grammar` is a general probabilistic context-free grammar (PCFG) whose rule graph
must be acyclic, which is what bounding the embedding depth in the nonterminal names gives.
Acyclicity makes the language finite, keeps generation bounded and lets a memoised top-down
parser (a chart indexed by nonterminal and start position) recognise exactly.

:func:`default_grammar` builds the society's language: ``S -> NP VP .`` with number agreement
(singular and plural determiners, nouns and verbs; the verb agrees with its subject, also
inside relative and complement clauses), optional adjectives, prepositional phrases, subject
and object relative clauses and "that"-complement clauses up to a bounded depth, transitive,
intransitive and clause-taking verbs, and a lexicon of about 520 word forms whose
probabilities follow Zipf's law within each category, so there is a rare tail.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate

import numpy as np

from society.corpora.english import default_lexicon, default_rules

_NT, _CAT, _WORD = 0, 1, 2

RuleTable = Mapping[str, Sequence[tuple[Sequence[str], float]]]


class Grammar:
    """An acyclic probabilistic context-free grammar over space-separated words.

    Symbols are strings. A symbol that is a key of ``rules`` is a nonterminal; a key of
    ``lexicon`` is a preterminal (a word category); any other symbol is a literal word.
    A word may belong to several categories.

    Args:
        rules: ``{lhs: [(rhs symbols, weight), ...]}``; weights are normalised per lhs and
            an empty rhs is allowed (an empty expansion).
        lexicon: ``{category: {word: weight}}``; weights are normalised per category.
        start: the start symbol.

    Raises:
        ValueError: if a weight is not positive, a symbol is both a nonterminal and a
            category, the start symbol is unknown, or the rules are recursive.
    """

    def __init__(
        self, rules: RuleTable, lexicon: Mapping[str, Mapping[str, float]], start: str = "S"
    ):
        if start not in rules:
            raise ValueError(f"start symbol {start!r} has no rules")
        clash = set(rules) & set(lexicon)
        if clash:
            raise ValueError(f"symbols both nonterminal and category: {sorted(clash)}")
        self.start = start
        self.rules: dict[str, list[tuple[tuple[str, ...], float]]] = {
            lhs: _normalise([(tuple(rhs), w) for rhs, w in options], lhs)
            for lhs, options in rules.items()
        }
        self.lexicon: dict[str, dict[str, float]] = {
            cat: dict(_normalise(list(words.items()), cat)) for cat, words in lexicon.items()
        }
        self._compile()

    # ----------------------------------------------------------------- construction

    def _compile(self) -> None:
        nts = list(self.rules)
        self._nt_id = {nt: i for i, nt in enumerate(nts)}
        self._nt_name = nts

        def item(sym: str) -> tuple[int, int | str]:
            if sym in self._nt_id:
                return (_NT, self._nt_id[sym])
            if sym in self.lexicon:
                return (_CAT, sym)
            return (_WORD, sym)

        self._rules_c: list[list[tuple[tuple[tuple[int, int | str], ...], float]]] = [
            [(tuple(item(s) for s in rhs), p) for rhs, p in self.rules[nt]] for nt in nts
        ]
        literals = {s for opts in self.rules.values() for rhs, _ in opts for s in rhs}
        literals -= set(self.rules) | set(self.lexicon)
        self._word_cats: dict[str, dict[str, float]] = {}
        for cat, words in self.lexicon.items():
            for word, p in words.items():
                self._word_cats.setdefault(word, {})[cat] = p
        self.vocabulary: frozenset[str] = frozenset(self._word_cats) | frozenset(literals)
        self._order = self._topological_order()
        self._min_len, self._first = self._length_and_first_sets()
        self._cum = [list(accumulate(p for _, p in opts)) for opts in self._rules_c]
        self._lex_words = {cat: list(ws) for cat, ws in self.lexicon.items()}
        self._lex_cum = {cat: list(accumulate(ws.values())) for cat, ws in self.lexicon.items()}

    def _topological_order(self) -> list[int]:
        """Nonterminal ids with every nonterminal after all it expands to (checks acyclicity)."""
        order: list[int] = []
        state = [0] * len(self._nt_name)  # 0 new, 1 on stack, 2 done

        def visit(nt: int, path: list[str]) -> None:
            if state[nt] == 2:
                return
            if state[nt] == 1:
                raise ValueError(f"recursive rules: {' -> '.join([*path, self._nt_name[nt]])}")
            state[nt] = 1
            for rhs, _ in self._rules_c[nt]:
                for kind, sym in rhs:
                    if kind == _NT:
                        visit(sym, [*path, self._nt_name[nt]])  # type: ignore[arg-type]
            state[nt] = 2
            order.append(nt)

        for nt in range(len(self._nt_name)):
            visit(nt, [])
        return order

    def _length_and_first_sets(self) -> tuple[list[int], list[frozenset[str]]]:
        """Shortest yield of each nonterminal and the words its yield can start with."""
        n = len(self._nt_name)
        min_len = [0] * n
        first: list[frozenset[str]] = [frozenset()] * n
        for nt in self._order:
            lengths, words = [], set()
            for rhs, _ in self._rules_c[nt]:
                total, open_prefix = 0, True
                for kind, sym in rhs:
                    if kind == _NT:
                        length, starts = min_len[sym], first[sym]  # type: ignore[index]
                    elif kind == _CAT:
                        length, starts = 1, self.lexicon[sym].keys()  # type: ignore[index]
                    else:
                        length, starts = 1, {sym}
                    if open_prefix:
                        words.update(starts)
                        open_prefix = length == 0
                    total += length
                lengths.append(total)
            min_len[nt], first[nt] = min(lengths), frozenset(words)
        return min_len, first

    # ------------------------------------------------------------------- generation

    def generate(self, n: int, rng: np.random.Generator) -> list[str]:
        """Sample ``n`` sentences from the grammar.

        Args:
            n: number of sentences.
            rng: the random generator (the output is a function of its state).

        Returns:
            Sentences as words separated by single spaces.
        """
        start = self._nt_id[self.start]
        out = []
        for _ in range(n):
            words: list[str] = []
            self._expand(start, rng, words)
            out.append(" ".join(words))
        return out

    def _expand(self, nt: int, rng: np.random.Generator, words: list[str]) -> None:
        cum = self._cum[nt]
        k = min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)
        for kind, sym in self._rules_c[nt][k][0]:
            if kind == _NT:
                self._expand(sym, rng, words)  # type: ignore[arg-type]
            elif kind == _CAT:
                lcum = self._lex_cum[sym]  # type: ignore[index]
                j = min(bisect.bisect_right(lcum, rng.random() * lcum[-1]), len(lcum) - 1)
                words.append(self._lex_words[sym][j])  # type: ignore[index]
            else:
                words.append(sym)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ recognition

    def is_grammatical(self, sentence: str) -> bool:
        """Return whether the grammar derives ``sentence`` (exact membership).

        Whitespace is normalised (split on any run of whitespace); nothing else is: case
        and punctuation must match the grammar's words exactly.
        """
        tokens = sentence.split()
        if not tokens or any(t not in self.vocabulary for t in tokens):
            return False
        return len(tokens) in self._ends(tokens)

    def grammatical_share(self, sentences: Iterable[str]) -> float:
        """Return the share of ``sentences`` that are grammatical (nan for none)."""
        flags = [self.is_grammatical(s) for s in sentences]
        return float(np.mean(flags)) if flags else float("nan")

    def _ends(self, tokens: list[str]) -> set[int]:
        """Positions where a parse of the start symbol from position 0 can end."""
        n = len(tokens)
        cats = [self._word_cats.get(t, {}) for t in tokens]
        rules, min_len, first = self._rules_c, self._min_len, self._first
        memo: dict[tuple[int, int], set[int]] = {}

        def span(nt: int, i: int) -> set[int]:
            key = (nt, i)
            found = memo.get(key)
            if found is not None:
                return found
            out: set[int] = set()
            if i + min_len[nt] <= n and (min_len[nt] == 0 or tokens[i] in first[nt]):
                for rhs, _ in rules[nt]:
                    cur = {i}
                    for kind, sym in rhs:
                        if kind == _NT:
                            nxt: set[int] = set()
                            for j in cur:
                                nxt |= span(sym, j)  # type: ignore[arg-type]
                        elif kind == _CAT:
                            nxt = {j + 1 for j in cur if j < n and sym in cats[j]}
                        else:
                            nxt = {j + 1 for j in cur if j < n and tokens[j] == sym}
                        cur = nxt
                        if not cur:
                            break
                    out |= cur
            memo[key] = out
            return out

        return span(self._nt_id[self.start], 0)

    def log_prob(self, sentence: str) -> float:
        """Return the natural-log probability of ``sentence``, summed over all its parses.

        Returns ``-inf`` for an ungrammatical sentence. Whitespace is normalised as in
        :meth:`is_grammatical`.
        """
        tokens = sentence.split()
        if not tokens or any(t not in self.vocabulary for t in tokens):
            return -math.inf
        n = len(tokens)
        cats = [self._word_cats.get(t, {}) for t in tokens]
        rules, min_len, first = self._rules_c, self._min_len, self._first
        memo: dict[tuple[int, int], dict[int, float]] = {}

        def span(nt: int, i: int) -> dict[int, float]:
            key = (nt, i)
            found = memo.get(key)
            if found is not None:
                return found
            out: dict[int, float] = {}
            if i + min_len[nt] <= n and (min_len[nt] == 0 or tokens[i] in first[nt]):
                for rhs, p in rules[nt]:
                    cur = {i: p}
                    for kind, sym in rhs:
                        nxt: dict[int, float] = {}
                        for j, q in cur.items():
                            if kind == _NT:
                                for k, r in span(sym, j).items():  # type: ignore[arg-type]
                                    nxt[k] = nxt.get(k, 0.0) + q * r
                            elif j < n:
                                if kind == _CAT:
                                    r = cats[j].get(sym, 0.0)  # type: ignore[arg-type]
                                else:
                                    r = 1.0 if tokens[j] == sym else 0.0
                                if r:
                                    nxt[j + 1] = nxt.get(j + 1, 0.0) + q * r
                        cur = nxt
                        if not cur:
                            break
                    for j, q in cur.items():
                        out[j] = out.get(j, 0.0) + q
            memo[key] = out
            return out

        p = span(self._nt_id[self.start], 0).get(n, 0.0)
        return math.log(p) if p > 0 else -math.inf


def _normalise(options: list[tuple], name: str) -> list[tuple]:
    """Scale the weights (last element of each pair) of ``options`` to sum to one."""
    if not options:
        raise ValueError(f"{name!r} has no options")
    if any(not w > 0 for _, w in options):
        raise ValueError(f"{name!r} has a non-positive weight")
    total = sum(w for _, w in options)
    return [(x, w / total) for x, w in options]


def default_grammar(max_depth: int = 2, zipf_exponent: float = 1.1) -> Grammar:
    """Return the society's synthetic English-like grammar.

    Args:
        max_depth: how deeply prepositional phrases, relative clauses and complement
            clauses may nest.
        zipf_exponent: exponent ``s`` of the within-category word distribution
            ``p(rank r) ~ 1 / r**s``.

    Returns:
        The grammar; sentences are lowercase words separated by spaces ending with " .".
    """
    return Grammar(default_rules(max_depth), default_lexicon(zipf_exponent), start="S")

"""The default synthetic language: word lists, inflection, rules and lexicon weights.

:func:`default_rules` and :func:`default_lexicon` specify the English-like grammar that
:func:`society.corpora.grammar.default_grammar` builds. Every word list is ordered from
most to least frequent: the word of rank ``r`` in a category gets a probability
proportional to ``1 / r**s`` (Zipf), so the end of each list is the language's rare tail.
The lists are chosen so that no word form belongs to two categories (no noun is also a
verb form), except the determiners that serve both numbers ("the", "my", ...).
"""

from __future__ import annotations

from collections.abc import Sequence


def _words(text: str) -> list[str]:
    return text.split()


NOUNS = _words(
    """
man woman child dog cat bird king queen teacher farmer student doctor friend girl boy horse
mouse wolf fox baby city house tree river book garden village stone song story ship door
window road mountain forest field flower apple table chair box church bridge market castle
sailor soldier priest merchant painter singer dancer hunter baker judge thief leaf wife goose
ox tooth foot person lamp cup coin bell sword crown island valley lake hill cloud star moon
candle mirror basket blanket pocket kitten puppy rabbit lion tiger eagle owl bear
snake frog spider bee butterfly cousin uncle aunt neighbour stranger pilgrim shepherd
weaver potter miller widow orphan giant dwarf wizard witch knight prince princess servant
"""
)

IRREGULAR_PLURALS = {
    "man": "men",
    "woman": "women",
    "child": "children",
    "mouse": "mice",
    "wolf": "wolves",
    "leaf": "leaves",
    "wife": "wives",
    "thief": "thieves",
    "goose": "geese",
    "ox": "oxen",
    "tooth": "teeth",
    "foot": "feet",
    "person": "people",
    "dwarf": "dwarves",
}

TRANSITIVE_VERBS = _words(
    """
see like follow find help know want call meet love hate visit carry build paint read write
touch push pull hold keep teach chase fear remember forget answer admire trust feed catch
greet hear miss praise blame thank invite guide wash hide
"""
)

INTRANSITIVE_VERBS = _words(
    """
sleep run walk sing dance laugh cry smile wait fall swim jump arrive rest talk shout work
play fly sit stand dream grow shine die travel pray whisper tremble wander listen
"""
)

SENTENTIAL_VERBS = _words(
    """
think say believe hope suspect claim guess notice imagine doubt
"""
)

ADJECTIVES = _words(
    """
old young big small happy sad tall short red green blue black white quiet loud kind cruel
brave clever lazy hungry tired strange beautiful poor rich wise gentle angry proud shy wild
calm bright dark cold warm ancient humble silent golden little heavy gray sleepy curious
honest foolish noble fierce
"""
)

ADVERBS = _words(
    """
quickly slowly often quietly loudly happily sadly today again here there early late together
alone badly
"""
)

PREPOSITIONS = _words(
    """
with near in on behind under from beside above without beyond across
"""
)

DETERMINERS_SINGULAR = _words("every this each one another")
DETERMINERS_PLURAL = _words("some these those many two three several few all")
DETERMINERS_BOTH = _words("the my his her our their no your")

NAMES = _words(
    """
alice bob carol david emma frank grace henry isabel jack karen leo mary nathan olivia peter
ruth simon tom victor
"""
)


def plural(noun: str) -> str:
    """Return the plural of ``noun`` (irregulars, then -ies / -es / -s spelling rules)."""
    return IRREGULAR_PLURALS.get(noun) or _add_s(noun)


def third_singular(verb: str) -> str:
    """Return the third-person singular present of ``verb`` ("carry" -> "carries")."""
    return _add_s(verb)


def _add_s(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return word[:-1] + "ies"
    if word.endswith(("s", "sh", "ch", "x", "z", "o")):
        return word + "es"
    return word + "s"


def _zipf(words: Sequence[str], exponent: float) -> dict[str, float]:
    """Weights proportional to ``1 / rank**exponent`` in list order."""
    return {w: 1.0 / (rank**exponent) for rank, w in enumerate(words, start=1)}


def default_lexicon(zipf_exponent: float = 1.1) -> dict[str, dict[str, float]]:
    """Return the default grammar's lexicon: ``{category: {word: probability weight}}``."""
    z = zipf_exponent
    dets_sg = DETERMINERS_BOTH[:3] + DETERMINERS_SINGULAR + DETERMINERS_BOTH[3:]
    dets_pl = DETERMINERS_BOTH[:3] + DETERMINERS_PLURAL + DETERMINERS_BOTH[3:]
    lexicon = {
        "Det.sg": _zipf(dets_sg, z),
        "Det.pl": _zipf(dets_pl, z),
        "N.sg": _zipf(NOUNS, z),
        "N.pl": _zipf([plural(w) for w in NOUNS], z),
        "Name": _zipf(NAMES, z),
        "Adj": _zipf(ADJECTIVES, z),
        "Adv": _zipf(ADVERBS, z),
        "P": _zipf(PREPOSITIONS, z),
    }
    for cat, verbs in (("Vt", TRANSITIVE_VERBS), ("Vi", INTRANSITIVE_VERBS)):
        lexicon[f"{cat}.sg"] = _zipf([third_singular(v) for v in verbs], z)
        lexicon[f"{cat}.pl"] = _zipf(verbs, z)
    lexicon["Vs.sg"] = _zipf([third_singular(v) for v in SENTENTIAL_VERBS], z)
    lexicon["Vs.pl"] = _zipf(SENTENTIAL_VERBS, z)
    return lexicon


def default_rules(max_depth: int = 2) -> dict[str, list[tuple[tuple[str, ...], float]]]:
    """Return the default grammar's rules with embeddings nested at most ``max_depth`` deep.

    Nonterminals carry number (``sg``/``pl``) and depth: a noun phrase at depth ``d`` may
    take a prepositional phrase or relative clause only if ``d < max_depth``, and the phrase
    inside is at depth ``d + 1``.
    """
    numbers = {"sg": 0.55, "pl": 0.45}
    rules: dict[str, list[tuple[tuple[str, ...], float]]] = {
        "S": [((f"NP.{n}.0", f"VP.{n}.0", "."), w) for n, w in numbers.items()],
    }
    for n in numbers:
        rules[f"Nom.{n}"] = [
            ((f"N.{n}",), 0.6),
            (("Adj", f"N.{n}"), 0.3),
            (("Adj", "Adj", f"N.{n}"), 0.1),
        ]
    for d in range(max_depth + 1):
        deeper = d < max_depth
        if d > 0:
            rules[f"Clause.{d}"] = [((f"NP.{n}.{d}", f"VP.{n}.{d}"), w) for n, w in numbers.items()]
        if deeper:
            rules[f"PP.{d}"] = [(("P", f"NP.{n}.{d + 1}"), w) for n, w in numbers.items()]
        for n in numbers:
            base = (f"Det.{n}", f"Nom.{n}")
            if deeper:
                np_rules = [((*base, f"Post.{n}.{d}"), 0.85)]
                rules[f"Post.{n}.{d}"] = [((), 0.65), ((f"PP.{d}",), 0.2), ((f"RC.{n}.{d}",), 0.15)]
                rules[f"RC.{n}.{d}"] = [(("that", f"VP.{n}.{d + 1}"), 0.6)] + [
                    (("that", f"NP.{m}.{d + 1}", f"Vt.{m}"), 0.4 * w) for m, w in numbers.items()
                ]
            else:
                np_rules = [(base, 0.85)]
            if n == "sg":
                np_rules.append((("Name",), 0.15))
            rules[f"NP.{n}.{d}"] = np_rules
            vp = [((f"Vi.{n}",), 0.25), ((f"Vi.{n}", "Adv"), 0.1)]
            vp += [((f"Vt.{n}", f"NP.{m}.{d}"), 0.37 * w) for m, w in numbers.items()]
            vp += [((f"Vt.{n}", f"NP.{m}.{d}", "Adv"), 0.05 * w) for m, w in numbers.items()]
            if deeper:
                vp += [
                    ((f"Vi.{n}", f"PP.{d}"), 0.1),
                    ((f"Vs.{n}", "that", f"Clause.{d + 1}"), 0.08),
                ]
            rules[f"VP.{n}.{d}"] = vp
    return rules

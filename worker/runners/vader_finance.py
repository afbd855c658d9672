"""vader-finance: VADER with the SentiBigNomics financial lexicon and the direction of change.

Two things make general-purpose VADER miss on finance news:

1. Its lexicon lacks the trade's words (layoff, downgrade, bankruptcy, buyback). The
   SentiBigNomics lexicon (Consoli et al., 2022) that ships in the `finvader` 1.0.4 wheel
   has 7,295 of them, scored -1 to 1; finvader merges them into VADER's lexicon scaled by
   its constant 0.1, which we keep. Its module is only *read*: `import finvader` downloads
   NLTK data, so the file is parsed with `ast` (it is a list of
   `senti_bignomics['word'] = value` lines) and never executed; its digest is pinned.
2. Finance polarity is directional: "unemployment fell" is good news and "defaults climbed"
   bad, while VADER scores "fell" and "climbed" alone. Where a word of movement (rose,
   slumped, cut, widened...) has a quantity whose growth is good (profit, sales, jobs) or
   bad (losses, costs, debt) within a few words, the movement carries the sentence's
   valence (direction × the quantity's sign) and the quantity's own lexicon score is set
   aside; VADER's negation rules still apply ("did not cut jobs").

The lists are short on purpose: the words of the trade that are unambiguous. They were
written from how finance news is phrased, and checked on tests/data/sentiment_labelled.tsv
and tests/data/sentiment_heldout.tsv (the second written before the rules, never tuned on).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SentimentIntensityAnalyzer,
    SentiText,
)

from worker.runners.weights import PinnedPackage, verify_sha256

FINVADER = PinnedPackage("finvader", "1.0.4", "finvader", pip_flags="--no-deps")
LEXICON_FILE = "finvader/SentiBignomics.py"
LEXICON_SHA256 = "bbbdfbb97c685143b41eaa5893ad48fe68a66d2e539a70c561c40bb83f7e0f78"
SCALE = 0.1  # finvader's own constant
MOVE_VALENCE = 2.0  # about a strong VADER word ("good" is 1.9, "bad" -2.5)
# Lexicon entries VADER's own rules score a movement word by (see FinanceAnalyzer): keys no
# word of a text can be, since VADER splits texts at whitespace and keeps the NUL.
GOOD_MOVE, BAD_MOVE = "\x00good-move", "\x00bad-move"
LOOK_BEFORE = 5  # "Profits were not hurt by the strike and rose 9%"
LOOK_AFTER = 3  # "cut 4,000 jobs", "narrowed its loss"

# Quantities whose growth is good news (+1) or bad news (-1).
_GOOD = """profit profits earnings revenue revenues sales margin margins income incomes growth
demand orders bookings dividend dividends shares stock stocks valuation output production
exports surplus employment jobs hiring wages salaries deposits lending subscribers users
customers guidance outlook forecast forecasts confidence investment investments returns cash
liquidity reserves gdp economy productivity rating ratings spending payouts buybacks"""
_BAD = """loss losses cost costs expenses debt debts deficit deficits unemployment joblessness
layoffs defaults default delinquencies arrears inflation writedowns write-downs impairments
bankruptcies foreclosures insolvencies shortages complaints delays churn outflows fines
penalties liabilities"""
QUANTITIES: dict[str, int] = {w: 1 for w in _GOOD.split()} | {w: -1 for w in _BAD.split()}


def _forms(*stems: str) -> set[str]:
    return {word for stem in stems for word in stem.split("|")}


# Words of movement, up (+1) or down (-1), as finance news writes them.
_UP = _forms(
    "rise|rises|rose|risen|rising",
    "climb|climbs|climbed|climbing",
    "jump|jumps|jumped|jumping",
    "surge|surges|surged|surging",
    "soar|soars|soared|soaring",
    "grow|grows|grew|grown|growing",
    "increase|increases|increased|increasing",
    "gain|gained|gaining",
    "rally|rallies|rallied",
    "spike|spikes|spiked",
    "boost|boosts|boosted|boosting",
    "raise|raises|raised|raising",
    "lift|lifts|lifted|lifting",
    "expand|expands|expanded|expanding",
    "widen|widens|widened|widening",
    "double|doubles|doubled|triple|tripled",
    "accelerate|accelerates|accelerated|accelerating",
    "swell|swells|swelled|swollen|balloon|ballooned",
    "hike|hikes|hiked|higher|up",
)
_DOWN = _forms(
    "fall|falls|fell|fallen|falling",
    "drop|drops|dropped|dropping",
    "decline|declines|declined|declining",
    "decrease|decreases|decreased|decreasing",
    "slump|slumps|slumped|slumping",
    "plunge|plunges|plunged|plunging|plummet|plummets|plummeted",
    "tumble|tumbles|tumbled|tumbling",
    "sink|sinks|sank|sunk|sinking",
    "slide|slides|slid|sliding|dip|dips|dipped",
    "shrink|shrinks|shrank|shrunk|shrinking",
    "cut|cuts|cutting|slash|slashes|slashed|trim|trims|trimmed",
    "reduce|reduces|reduced|reducing|lower|lowers|lowered|lowering",
    "halve|halves|halved|down",
    "collapse|collapses|collapsed|crash|crashed|dive|dived|dove",
    "ease|eases|eased|easing",
    "contract|contracts|contracted|contracting",
    "narrow|narrows|narrowed|narrowing",
    "weaken|weakens|weakened|weakening",
    "erode|erodes|eroded|eroding|shed|sheds|shedding",
)
MOVES: dict[str, int] = {w: 1 for w in _UP} | {w: -1 for w in _DOWN}


def read_lexicon(path: Path) -> dict[str, float]:
    """The `senti_bignomics['word'] = value` assignments of finvader's module, unexecuted."""
    terms: dict[str, float] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if not (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)):
            continue
        try:
            value = ast.literal_eval(node.value)
        except ValueError:
            continue
        if isinstance(target.slice.value, str) and isinstance(value, int | float):
            terms[target.slice.value] = float(value)
    return terms


def sentibignomics() -> dict[str, float]:
    """The lexicon from the pinned wheel, found by its metadata: the package is not imported."""
    path = FINVADER.file(LEXICON_FILE)
    return read_lexicon(verify_sha256(path, LEXICON_SHA256, "the SentiBigNomics lexicon"))


def _moves(words: list[str]) -> tuple[dict[int, int], set[int]]:
    """The sign (good +1, bad -1) of each movement word that has a quantity near, and the
    quantities used. The nearest quantity wins (the one before on a tie: "sales fell,
    costs rose")."""
    valences: dict[int, int] = {}
    used: set[int] = set()
    for i, word in enumerate(words):
        direction = MOVES.get(word)
        if direction is None:
            continue
        near = [
            j
            for j in range(max(0, i - LOOK_BEFORE), min(len(words), i + LOOK_AFTER + 1))
            if words[j] in QUANTITIES
        ]
        if near:
            j = min(near, key=lambda k: (abs(k - i), k > i))
            valences[i] = direction * QUANTITIES[words[j]]
            used.add(j)
    return valences, used


def negation_check(valence: float, words: list[str], start_i: int, i: int) -> float:
    """VADER's `_negation_check`, same result, lower-casing only the words it reads.

    VADER lower-cases the whole text for every check, three times per lexicon word; with
    SentiBigNomics many more words are lexicon words, and that alone cost a third of
    VADER's speed.
    """
    w1 = words[i - 1].lower()
    if start_i == 0:
        return valence * N_SCALAR if _negates(w1) else valence
    w2 = words[i - 2].lower()
    if start_i == 1:
        if w2 == "never" and w1 in ("so", "this"):
            return valence * 1.25
        if w2 == "without" and w1 == "doubt":
            return valence
        return valence * N_SCALAR if _negates(w2) else valence
    w3 = words[i - 3].lower()
    if (w3 == "never" and w2 in ("so", "this")) or w1 in ("so", "this"):
        return valence * 1.25
    if w3 == "without" and "doubt" in (w2, w1):
        return valence
    return valence * N_SCALAR if _negates(w3) else valence


_NEGATE = frozenset(NEGATE)


def _negates(word: str) -> bool:
    return word in _NEGATE or "n't" in word


class FinanceAnalyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]
    """VADER's scoring, with the direction rules and the faster negation check."""

    _negation_check = staticmethod(negation_check)

    def polarity_scores(self, text: str) -> dict[str, float]:
        """VADER's, without its character-by-character emoji pass where there can be none
        (every emoji is outside ASCII): that pass alone took a sixth of the time."""
        if not text.isascii():
            scores: dict[str, float] = super().polarity_scores(text)
            return scores
        sentitext = SentiText(text.strip())
        words = sentitext.words_and_emoticons
        sentiments: list[float] = []
        for i, item in enumerate(words):
            lower = item.lower()
            if lower in BOOSTER_DICT or (
                lower == "kind" and i < len(words) - 1 and words[i + 1].lower() == "of"
            ):
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
        sentiments = self._but_check(words, sentiments)
        scores = self.score_valence(sentiments, sentitext.text)
        return scores

    def sentiment_valence(
        self, valence: float, sentitext: Any, item: str, i: int, sentiments: list[float]
    ) -> list[float]:
        # Worked out once per text and kept on VADER's own per-text object.
        context = getattr(sentitext, "finance", None)
        if context is None:
            words = [w.lower() for w in sentitext.words_and_emoticons]
            context = sentitext.finance = (words, *_moves(words))
        words, valences, used = context
        if i in used:
            sentiments.append(0.0)
            return sentiments
        if i in valences:
            # Scored by VADER's own rules (negation, "no", boosters such as "hardly", caps,
            # idioms) as a word whose lexicon valence is the movement's.
            key = GOOD_MOVE if valences[i] > 0 else BAD_MOVE
            item = key.upper() if item.isupper() else key
        result: list[float] = super().sentiment_valence(valence, sentitext, item, i, sentiments)
        return result


def analyzer() -> FinanceAnalyzer:
    """A VADER analyzer with the finance lexicon and the direction rules."""
    vader = FinanceAnalyzer()
    vader.lexicon.update({word: score * SCALE for word, score in sentibignomics().items()})
    vader.lexicon.update({GOOD_MOVE: MOVE_VALENCE, BAD_MOVE: -MOVE_VALENCE})
    return vader

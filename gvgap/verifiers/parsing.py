"""Read the verdict out of a verifier's free text: CoT-Binary, CoT-Score and tournament,
and the Sudoku verifier's closing word (App. G: "Correct" / "Incorrect").

Every parser returns None when the text has no unambiguous verdict; the caller stores
NaN (or, in a tournament, flips a seeded coin) and counts it. Rules, chosen so a small
model's noise is not read as a verdict:
- the marker ("Correctness:", "Score:", "Preferred solution:") is required, any case,
  with optional markdown bold / quotes / angle brackets around the value;
- the FIRST marker followed by a valid value wins: a model that keeps writing after its
  verdict usually invents a new problem and a new verdict for it;
- a value that echoes the template's choice list ("<correct> or <incorrect>",
  "<A> or <B>") is ambiguous and skipped;
- the Sudoku verdict (parse_verdict) is `the response is: Correct` / `Incorrect`, a line
  holding only that word, or a CoT-Binary `Correctness:` line, whichever comes first; the
  per-unit remarks of a check ("Row 1: ... - Correct") are not verdicts;
- out-of-range scores (0, 11, -3) are not read; a score out of another total (`4/5`,
  `3 out of 5`, `45/100`) is rescaled to the 1..10 scale, never read as its numerator.
Texts are cut to MAX_CHARS and the patterns are linear (no nested quantifiers), so a
parser's time is bounded whatever the model writes.
"""

from __future__ import annotations

import re

MAX_CHARS = 8000  # verifiers write <= a few hundred tokens; longer text is cut

_DECOR = r"[\s*_\"'`<\[(]{0,12}"  # markdown bold, quotes, brackets between marker and value
_END = r"(?![\w/])"  # the value must end here ("correctly" and "8/9" are not values)

_SEP = r"[\s*_]{0,6}[:=\-]"  # "Score:", "**Score**:", "Score ="

_BINARY = re.compile(r"correctness" + _SEP + _DECOR + r"(in)?correct" + _END, re.IGNORECASE)
_AFTER = r"[\s>\])*_\"'`.]{0,12}"  # closing decoration after a value

_BINARY_OR = re.compile(_AFTER + r"(or\b|/)" + _DECOR + r"(correctness" + _SEP + _DECOR + r")?(in)?correct\b",
                        re.IGNORECASE)

# "k/d", "k out of d", "k (out of d)", "k of d", "k on a scale of 1 to d": an explicit
# denominator d, whose value is rescaled to the 1..10 scale (see parse_score).
_OUT_OF = (r"[>\]*_\"'`]{0,4}\s{0,3}\(?\s{0,3}(?:/|out\s{1,3}of\b|of\b|on\s{1,3}a\s{1,3}scale\s{1,3}(?:of\s{1,3}|from\s{1,3})?"
           r"(?:[01]\s{0,3}(?:to|-|\u2013)\s{0,3})?)\s{0,3}[<\[]?")
_SCORE = re.compile(r"score" + _SEP + _DECOR + r"(\d{1,3}(?:\.\d+)?)(?![\d.]*\d)"
                    r"(?:" + _OUT_OF + r"(\d{1,4}(?:\.\d+)?)(?![\d.]*\d))?", re.IGNORECASE)
_SCORE_OR = re.compile(_AFTER + r"(or\b|to\b|-)\s{0,3}<?\s{0,3}\d", re.IGNORECASE)

_PREF = re.compile(r"preferred\s{1,3}solution" + _SEP + _DECOR + r"(?:solution\s{1,3})?((?-i:[AB]))(?!\w)",
                   re.IGNORECASE)
_PREF_OR = re.compile(_AFTER + r"(or\b|and\b|/)", re.IGNORECASE)


_OR_BEFORE = re.compile(r"(\bor|/)[\s`'\"*_<>\[\]().]{0,12}$", re.IGNORECASE)


def _second_choice(text: str, start: int) -> bool:
    """True when the marker at `start` is the second half of an echoed "X or Y"."""
    return _OR_BEFORE.search(text, max(0, start - 16), start) is not None


def _clip(text) -> str:
    return text[:MAX_CHARS] if isinstance(text, str) else ""


def parse_binary(text: str | None) -> float | None:
    """`Correctness: <correct>` -> 1.0, `Correctness: <incorrect>` -> 0.0, else None."""
    text = _clip(text)
    for m in _BINARY.finditer(text):
        if _BINARY_OR.match(text, m.end()) or _second_choice(text, m.start()):
            continue  # "<correct> or <incorrect>": the template echoed back
        return 0.0 if m.group(1) else 1.0
    return None


def parse_score(text: str | None, low: int = 1, high: int = 10) -> float | None:
    """`Score: <k>` (also `**Score:** k`) with low <= k <= high, else None.

    A score with an explicit denominator d (`k/d`, `k out of d`, `k on a scale of 1 to d`)
    is rescaled to `high * k / d` (`4/5` -> 8, `45/100` -> 4.5, `7/10` -> 7); it is read
    only when 0 <= k <= d and the rescaled value is in [low, high]. A numerator is never
    read alone.
    """
    text = _clip(text)
    for m in _SCORE.finditer(text):
        if _SCORE_OR.match(text, m.end()) or _second_choice(text, m.start()):
            continue  # "Score: 1 to 10", "Score: <8> or <9>"
        value = float(m.group(1))
        if m.group(2) is not None:
            denominator = float(m.group(2))
            if not 0 < denominator or value > denominator:
                continue
            value = high * value / denominator
        if low <= value <= high:
            return value
    return None


def parse_preference(text: str | None) -> str | None:
    """`Preferred solution: <A>` -> "A", `... <B>` -> "B", else None."""
    text = _clip(text)
    for m in _PREF.finditer(text):
        if _PREF_OR.match(text, m.end()) or _second_choice(text, m.start()):
            continue  # "<A> or <B>"
        return m.group(1).upper()
    return None


_RESPONSE = re.compile(r"response\s{1,3}is" + r"[\s*_]{0,6}:?" + _DECOR + r"(in)?correct" + _END, re.IGNORECASE)
_ALONE = re.compile(r"^[\s*_\"'`<\[(]{0,12}(in)?correct[\s>\])*_\"'`.!]{0,12}$", re.IGNORECASE | re.MULTILINE)


def parse_verdict(text: str | None) -> float | None:
    """The Sudoku verifier's verdict (App. G): `...the response is: Correct` -> 1.0,
    `... Incorrect` -> 0.0; also a line that is only `Correct` / `Incorrect` (a one-word
    reply) or `Correctness: <correct>`. The first verdict in the text wins; else None."""
    text = _clip(text)
    found = []
    for pattern in (_RESPONSE, _ALONE, _BINARY):
        for m in pattern.finditer(text):
            if _BINARY_OR.match(text, m.end()) or _second_choice(text, m.start()):
                continue  # "Correct or Incorrect": the instructions echoed back
            found.append((m.start(), 0.0 if m.group(1) else 1.0))
            break
    return min(found)[1] if found else None

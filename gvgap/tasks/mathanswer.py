"""MATH answers as text: extraction from a completion, notation-only clean-up, and the
comparisons that need no computer algebra (exact numbers, lists of numbers, power towers).

Everything here is plain string work in linear time; `mathcheck` calls math-verify only
for what `cheap_equal` leaves undecided (None).
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from functools import lru_cache

from gvgap.tasks import mathsize
from gvgap.tasks.numbers import canonical, clean_text

# -- extraction -----------------------------------------------------------------------------


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} (nested braces handled; `\\boxed 5` too).

    As in lm-evaluation-harness: if the last one is unclosed (truncated output), None.
    """
    i = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if i < 0:
        return None
    j = i + (6 if text.startswith("\\boxed", i) else 5)
    if text.startswith(" ", j):  # "\boxed 5": one token, up to space or "$"
        m = re.match(r" +([^\s$]+)", text[j:])
        return m.group(1) if m else None
    if not text.startswith("{", j):
        return None
    depth = 0
    for k in range(j, len(text)):
        if text[k] == "{":
            depth += 1
        elif text[k] == "}":
            depth -= 1
            if depth == 0:
                return text[j + 1:k]
    return None


_DELIMS = (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)"))
# Sentence punctuation and spacing at the end of an answer: never part of its value.
# ("!" is not here: `5!` is a factorial.)
_TAIL = re.compile(r"(?:\s|\\[,;:! ]|\\q?quad\b|[.,;:])+$")
_TEXT_TAIL = re.compile(r"(\\(?:text|textrm|mathrm)\{[^{}]*?)(?:\s|[.,;:])+\}$")  # `\text{ cm.}`


def trim(ans: str) -> str:
    """Strip math delimiters and trailing sentence punctuation, outside and inside them
    (`$3^{4}.$` -> `3^{4}`, `\\frac{2}{5},` -> `\\frac{2}{5}`)."""
    prev = None
    ans = ans.strip()
    while ans != prev:
        prev = ans
        for left, right in _DELIMS:
            if ans.startswith(left) and ans.endswith(right) and len(ans) >= len(left) + len(right):
                ans = ans[len(left):len(ans) - len(right)].strip()
        ans = _TEXT_TAIL.sub(r"\1}", _TAIL.sub("", ans))
    return ans


def final_answer(completion: str) -> str | None:
    """`...final answer is X` (Minerva format; X up to 'I hope it is correct' or end of
    line, or a whole $...$ span), else the last \\boxed{}; None if neither is there."""
    low = completion.lower()
    i = low.rfind("final answer is")
    if i >= 0:
        rest = completion[i + len("final answer is"):]
        hope = rest.lower().find("i hope it is correct")
        if hope >= 0:
            rest = rest[:hope]
        rest = rest.lstrip(" \t:*")
        if rest.startswith("$"):
            delim = "$$" if rest.startswith("$$") else "$"
            m = re.compile(r"(?<!\\)" + re.escape(delim)).search(rest, len(delim))
            rest = rest[:m.end()] if m else rest.split("\n", 1)[0]
        else:
            rest = rest.split("\n", 1)[0]
        ans = trim(rest.strip().rstrip("*").rstrip(".").rstrip("*"))
        boxed = last_boxed(ans)
        ans = trim(boxed) if boxed is not None else ans
        if ans:
            return ans
    boxed = last_boxed(completion)
    return trim(boxed) if boxed else None


# -- notation-only clean-up -----------------------------------------------------------------
# e and i in roman type are the constants: `\mathrm{e}`, `\operatorname{i}`, `{\rm e}`.
_ROMAN = re.compile(r"\\(?:mathrm|operatorname|textrm|text|mathit|rm)\s*\{\s*([ei])\s*\}|\{\s*\\rm\s+([ei])\s*\}"
                    r"|\\(?:mathrm|rm)\s+([ei])(?![A-Za-z])")
_SPACING = re.compile(r"\\left(?![A-Za-z])|\\right(?![A-Za-z])|\\!|\\,|\\;|\\:|\\ |\\displaystyle|\s+")
_DEGREE = re.compile(r"\^\s*\{?\\circ\}?")
_SPACE_CMD = re.compile(r"\\(?:left|right)(?![A-Za-z])|(?<!\\)\\[,;:! ]|\\displaystyle\b")
_TEXT = re.compile(r"(\\(?:text|textrm|mbox)\s*\{[^{}]*\})")
_LOOSE_SPACE = re.compile(r"\s+(?![A-Za-z])|(?<![A-Za-z])\s+")  # a space only matters between letters (`\pi r`)


@lru_cache(maxsize=1 << 16)  # a grading pass asks for each gold and answer several times
def prepare(ans: str) -> str:
    """The form an answer is compared (and cached) in: NFKC, LaTeX thousands separators
    as `,`, delimiters and end punctuation trimmed, roman e/i as e/i, no `\\%`, `^\\circ`,
    `\\$`, `\\dfrac`, `\\left`/`\\right`, spacing commands, nor spaces except between two
    letters (`\\pi r`) and inside `\\text{}`. Value-preserving: safe to hand to math-verify."""
    s = trim(clean_text(ans))
    s = _ROMAN.sub(lambda m: next(g for g in m.groups() if g), s)
    s = _DEGREE.sub("", s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    s = _SPACE_CMD.sub(" ", s)
    parts = _TEXT.split(s)  # spaces inside \text{...} are kept as they are (odd indices)
    return trim("".join(p if k % 2 else _LOOSE_SPACE.sub("", p) for k, p in enumerate(parts)))


def normalise(ans: str) -> str:
    """`prepare`, then every spacing command and space dropped: two answers equal after
    this are equal."""
    return _SPACING.sub("", prepare(ans))


# -- what the problem asks for ----------------------------------------------------------------
_ASKS_LIST = re.compile(
    r"separated by commas|separate (?:them|your answers?) (?:by|with) commas|comma[- ]separated|"
    r"\b(?:enter|find|list|what are) all\b|\ball (?:the )?(?:\w+ )?(?:solutions|values|roots|zeros|numbers|"
    r"answers|integers|possibilities)\b|\b(?:the|its) (?:\w+ )?(?:roots|solutions|zeros)\b", re.IGNORECASE)
_ASKS_ONE = re.compile(r"\b(?:how many|number of|sum of|product of|mean of|average of)\b", re.IGNORECASE)
_ASKS_ORDER = re.compile(r"\bin (?:increasing|decreasing|ascending|descending) order\b|"
                         r"\bfrom (?:least|smallest) to (?:greatest|largest)\b", re.IGNORECASE)


@lru_cache(maxsize=1 << 13)  # one entry per problem of a round
def list_mode(question: str | None) -> str | None:
    """"sequence" when the problem asks for several answers in a given order, "set" when it
    asks for several answers (all solutions, a comma-separated list), else None."""
    if not question:
        return None
    if _ASKS_ORDER.search(question):
        return "sequence"
    if _ASKS_LIST.search(question) and not _ASKS_ONE.search(question):
        return "set"
    return None


# -- exact numbers and lists -----------------------------------------------------------------
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")
_FRACTION = re.compile(r"(-?)(?:\\frac\{(-?\d{1,100})\}\{(\d{1,100})\}|\\frac(\d)(\d)|(-?\d{1,100})/(\d{1,100}))")


def exact_value(s: str) -> tuple[Fraction, str] | None:
    """(value, kind) of a plain integer ("int"), decimal ("dec") or simple fraction
    ("frac"), else None. `s` is normalised and has no thousands commas."""
    if len(s) <= 1000 and _DECIMAL.fullmatch(s):
        return Fraction(canonical(s)), ("dec" if "." in s else "int")
    m = _FRACTION.fullmatch(s)
    if not m:
        return None
    num, den = [int(x) for x in m.groups()[1:] if x is not None]
    if den == 0:
        return None
    return Fraction(-num if m.group(1) else num, den), "frac"


_AND = re.compile(r"\s*,?\s*(?:\\text\{\s*(?:and|or)\s*\}|(?<![A-Za-z])(?:and|or)(?![A-Za-z])|;)\s*")


def as_list(prepared: str, mode: str | None) -> list[str] | None:
    """The normalised elements of a comma-separated list of plain numbers / fractions, or
    None when the answer is one value. `prepared` is `prepare(answer)` (spaces kept): a
    thousands-shaped string (`30,150`, `1,000`, no spaces) is one number unless the
    problem asks for a list (`mode`) and no group starts with 0 (`1,000` stays a number)."""
    if _THOUSANDS.fullmatch(prepared):
        if mode is None or any(g.startswith("0") for g in prepared.split(",")[1:]):
            return None
    joined = _AND.sub(",", prepared)  # `30 and 150`, `30;150`, `30 \text{ or } 150`
    if "," not in joined:
        return None
    parts = [_SPACING.sub("", part) for part in joined.split(",")]
    return parts if all(exact_value(p) is not None for p in parts) else None


def for_verify(prepared: str, mode: str | None) -> str:
    """The text math-verify gets: a list of numbers as `a, b, c` (so it reads a set, not
    one number with thousands commas), anything else as it is."""
    parts = as_list(prepared, mode)
    return ", ".join(parts) if parts else prepared


def _numbers_equal(g: str, p: str) -> bool | None:
    """Exact comparison of two plain numbers / fractions; None when it must be left to
    math-verify (a decimal against a fraction: a question of rounding)."""
    vg, vp = exact_value(g), exact_value(p)
    if vg is None or vp is None:
        return None
    if vg[0] == vp[0]:
        return True
    return None if {vg[1], vp[1]} == {"dec", "frac"} else False


def _one_number(s: str) -> str:
    return s.replace(",", "") if _THOUSANDS.fullmatch(s) else s


# -- huge numbers ---------------------------------------------------------------------------
def is_huge(ans: str) -> bool:
    """Whether `ans` holds a power tower, factorial, ... of more than HUGE_DIGITS digits."""
    return mathsize.is_huge(normalise(ans))


# -- the cheap decision ------------------------------------------------------------------------
def cheap_equal(gold: str, pred: str, mode: str | None = None) -> bool | None:
    """True/False when decidable without sympy, else None. `mode` is `list_mode(question)`.

    - same normalised string -> True;
    - a number beyond HUGE_DIGITS digits on either side (`mathsize`: power towers,
      factorials, ...; sympy would spend the whole time-out on it), strings differ -> False;
    - lists of plain numbers (by `as_list`) -> compared as multisets (mode "set" or none)
      or in order ("sequence"); a list against one value -> False;
    - plain numbers and simple fractions -> exact comparison (a decimal against a fraction
      that differs exactly is left to math-verify, which allows rounding).
    """
    gp, pp = prepare(gold), prepare(pred)
    g, p = _SPACING.sub("", gp), _SPACING.sub("", pp)
    if not g or not p:
        return None if g else False
    if g == p:
        return True
    if is_huge(g) or is_huge(p):
        return False
    gl, pl = as_list(gp, mode), as_list(pp, mode)
    if gl is not None or pl is not None:
        gi, pi = gl or [_one_number(g)], pl or [_one_number(p)]
        if any(exact_value(x) is None for x in gi + pi):
            return None
        if len(gi) != len(pi):
            return False
        gv, pv = [exact_value(x)[0] for x in gi], [exact_value(x)[0] for x in pi]
        return gv == pv if mode == "sequence" else Counter(gv) == Counter(pv)
    return _numbers_equal(_one_number(g), _one_number(p))

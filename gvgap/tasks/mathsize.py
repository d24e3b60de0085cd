"""How many digits a numeric MATH answer has, estimated with logarithms, never computed.

sympy spends its whole time-out building numbers such as `9^{9^{9^{9}}}`, `(10^7)!`,
`\\binom{10^{10}}{10^5}`, `\\pi^{\\pi^{\\pi^{\\pi}}}` or `9\\uparrow\\uparrow 9`; a weak model
that loops on them would make a large MATH round take hours to grade. Here their size is
a float log10 (inf when even that overflows), found in microseconds, so the grader can
decide them before any symbolic check.

Grammar read (on the normalised answer; anything else ends a chain):
    chain   := postfix ("^" chain | ("\\uparrow")+ postfix)?
    postfix := atom "!"*
    atom    := number | \\pi | e | {chain} | (chain) | \\sqrt{chain} | \\binom{chain}{chain}
"""

from __future__ import annotations

import math
import re

HUGE_DIGITS = 100_000  # a number (or reciprocal) with more digits than this is never evaluated
_LN10 = math.log(10)
_NUM = re.compile(r"\d+(?:\.\d+)?")
_START = re.compile(r"(?<![A-Za-z_.}\\\d])\d|(?<![A-Za-z_.}\\])(?:\{|\(|\\pi(?![A-Za-z])|e(?![A-Za-z])|\\[dt]?binom|\\sqrt)")
_TRIGGER = re.compile(r"\^|!|\\uparrow|binom")
_MAX_DEPTH = 60  # nesting levels read (each costs ~5 Python frames)
_BINOM = re.compile(r"\\[dt]?binom\{")


def _pow(log_base: float, log_exp: float) -> float:
    """log10(a^b) from log10 a and log10 b."""
    if log_base == 0.0:
        return 0.0  # 1^b
    return log_base * (10.0 ** log_exp if log_exp < 300 else math.inf)


def _factorial(log_n: float) -> float:
    return math.lgamma(10.0 ** log_n + 1) / _LN10 if log_n < 300 else math.inf


def _binomial(log_n: float, log_k: float) -> float | None:
    if log_n >= 300:
        return math.inf
    n, k = 10.0 ** log_n, 10.0 ** log_k
    if k > n:
        return None
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)) / _LN10


def _arrows(log_a: float, arrows: int, log_b: float) -> float | None:
    """log10 of a ↑^arrows b (Knuth): one arrow is a power, two a tower of b copies of a."""
    if arrows == 1:
        return _pow(log_a, log_b)
    b = 10.0 ** log_b if log_b < 300 else math.inf
    if arrows == 2:
        if b > 100:
            return math.inf
        value = log_a
        for _ in range(int(b) - 1):
            value = _pow(log_a, value)
        return value
    return math.inf if log_a >= math.log10(3) and b >= 3 else None


class _Reader:
    """Recursive descent over one normalised answer; each position's chain is read once
    (memo), so scanning every start is linear in the answer's length."""

    def __init__(self, s: str):
        self.s = s
        self.memo: dict[int, tuple[float | None, int]] = {}

    def skip(self, i: int) -> int:
        while i < len(self.s) and self.s[i] == " ":
            i += 1
        return i

    def chain(self, i: int, depth: int = 0) -> tuple[float | None, int]:
        """(log10 of the chain starting at i, or None if it is not one; where it ends)."""
        if i not in self.memo:
            self.memo[i] = (None, i)  # a cycle or the depth cap reads as "not a chain"
            self.memo[i] = self._chain(i, depth) if depth <= _MAX_DEPTH else (None, i)
        return self.memo[i]

    def _chain(self, i: int, depth: int) -> tuple[float | None, int]:
        s = self.s
        base, i = self.postfix(i, depth)
        if base is None:
            return None, i
        j = self.skip(i)
        if s.startswith("^", j):
            exp, k = self.chain(self.skip(j + 1), depth + 1)
            if exp is None or base == -math.inf:  # not numeric, or 0^x: left to sympy
                return None, k
            return _pow(base, exp), k
        arrows = 0
        while s.startswith("\\uparrow", j):
            arrows, j = arrows + 1, self.skip(j + len("\\uparrow"))
        if arrows:
            right, k = self.postfix(j, depth + 1)
            if right is None or base == -math.inf:
                return None, k
            return _arrows(base, arrows, right), k
        return base, i

    def postfix(self, i: int, depth: int) -> tuple[float | None, int]:
        value, i = self.atom(i, depth)
        while value is not None and i < len(self.s) and self.s[i] == "!":
            value, i = (_factorial(value) if value != -math.inf else 0.0), i + 1
        return value, i

    def group(self, i: int, depth: int, close: str) -> tuple[float | None, int]:
        value, j = self.chain(i + 1, depth + 1)
        return (value, j + 1) if value is not None and self.s.startswith(close, j) else (None, j)

    def atom(self, i: int, depth: int) -> tuple[float | None, int]:
        s = self.s
        if i >= len(s):
            return None, i
        if s[i] == "{":
            return self.group(i, depth, "}")
        if s[i] == "(":
            return self.group(i, depth, ")")
        if s.startswith("\\pi", i):
            return math.log10(math.pi), i + 3
        if s[i] == "e" and not s[i + 1:i + 2].isalpha():
            return math.log10(math.e), i + 1
        if s.startswith("\\sqrt{", i):
            value, j = self.group(i + 5, depth, "}")
            return (None if value is None else value / 2), j
        m = _BINOM.match(s, i)
        if m:
            n, j = self.group(m.end() - 1, depth, "}")
            if n is None or not s.startswith("{", j):
                return None, j
            k, j = self.group(j, depth, "}")
            return (None if k is None else _binomial(n, k)), j
        m = _NUM.match(s, i)
        if not m:
            return None, i
        x = float(m.group()) if len(m.group()) < 300 else math.inf
        return (math.log10(x) if x > 0 else -math.inf), m.end()


def digits(normalised: str) -> float:
    """The largest |log10| of any numeric chain in a normalised answer (`9^{9^{9^{9}}}` ->
    inf, `2^{100}` -> 30.1), 0 when there is none."""
    s = normalised[:2000]
    best = 0.0
    if not _TRIGGER.search(s):
        return best
    reader = _Reader(s)
    for m in _START.finditer(s):
        value, _ = reader.chain(m.start())
        if value is not None and abs(value) > best:
            best = abs(value)
            if best == math.inf:
                break
    return best


def is_huge(normalised: str) -> bool:
    """Whether the answer holds a number (or a reciprocal) of more than HUGE_DIGITS digits."""
    return digits(normalised) > HUGE_DIGITS

"""Exact rational arithmetic on both sides of a MATH check, in the parent, no sympy.

`cheap_equal` decides plain numbers; what it leaves open and math-verify then parses
includes many answers that are still only rational arithmetic: `33+1`, `2\\cdot0.4`,
`\\frac{360}7`, `-\\frac{3}{4}-1`, `2.5+1`. When gold and answer both read in the
strict grammar below, the verdict math-verify (with gvgap's size-relative guard,
`mathworker.agree`) gives is known without parsing:

    expr   := term (('+' | '-') term)*
    term   := factor (('\\cdot' | '\\times' | '/') factor)*
    factor := ('+' | '-') factor | number | '\\frac' arg arg | '(' expr ')' | '{' expr '}'
    arg    := '{' expr '}' | one digit
    number := digits ['.' digits] | '.' digits          (at most MAX_DIGITS digits)

No juxtaposition (`3\\frac{3}{8}` is a mixed number to some readers), no powers, no
commas (lists, thousands), no percent, no units: those go to math-verify.

* Neither side holds a decimal point: both are exact rationals; math-verify's parse is
  the same rational and its verdict is exact equality (a difference that sympy's
  `chop` would hide is caught by `agree`, when it is more than 1e-45 of the values'
  size, which a bound on the denominators and sizes ensures), so the result is `a == b`.
* A decimal on either side: math-verify compares floats rounded to 6 places (then
  6 significant digits). Only a difference far beyond both roundings is decided here
  (not equal); anything close, including exactly equal, goes to math-verify.

Identity with math-verify was checked on all MATH test golds with equivalent and wrong
variants (`benchmarks/grading_identity.py`) and on edge cases (tests).
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_CHARS = 120  # longer strings go to math-verify
MAX_DIGITS = 15  # per number literal: within a double's exact range
ABS_GAP = 1.5e-6  # a decimal answer further than this (plus REL_GAP of its size) is wrong
REL_GAP = 1e-12
EXACT_BOUND = 10 ** 40
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\frac|\\cdot|\\times|[-+/(){}]")


class _NotInGrammar(Exception):
    pass


class _Reader:
    """Recursive descent over the tokens of one string; raises _NotInGrammar."""

    def __init__(self, s: str):
        self.tokens, pos = [], 0
        for m in _TOKEN.finditer(s):
            if m.start() != pos:
                raise _NotInGrammar
            self.tokens.append(m.group())
            pos = m.end()
        if pos != len(s) or not self.tokens:
            raise _NotInGrammar
        self.i, self.approx, self.depth = 0, False, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise _NotInGrammar
        self.i += 1
        return tok

    def whole(self) -> Fraction:
        value = self.expr()
        if self.peek() is not None:
            raise _NotInGrammar  # juxtaposition or a stray token
        return value

    def expr(self) -> Fraction:
        self.depth += 1
        if self.depth > 20:
            raise _NotInGrammar
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        self.depth -= 1
        return value

    def term(self) -> Fraction:
        value = self.factor()
        while self.peek() in ("\\cdot", "\\times", "/"):
            op, right = self.take(), self.factor()
            if op == "/":
                if right == 0:
                    raise _NotInGrammar
                value = value / right
            else:
                value = value * right
        return value

    def factor(self) -> Fraction:
        tok = self.take()
        if tok in ("+", "-"):
            value = self.factor()
            return -value if tok == "-" else value
        if tok in ("(", "{"):
            value = self.expr()
            self.take(")" if tok == "(" else "}")
            return value
        if tok == "\\frac":
            num, den = self.arg(), self.arg()
            if den == 0:
                raise _NotInGrammar
            return num / den
        return self.number(tok)

    def arg(self) -> Fraction:
        tok = self.take()
        if tok == "{":
            value = self.expr()
            self.take("}")
            return value
        if len(tok) == 1 and tok.isdigit():
            return Fraction(int(tok))
        if tok[:1].isdigit() and "." not in tok:  # `\frac12`: the tokenizer read "12"
            head, rest = tok[0], tok[1:]
            if len(rest) == 1:
                self.tokens[self.i - 1:self.i] = [head, rest]
                return Fraction(int(head))
        raise _NotInGrammar

    def number(self, tok: str) -> Fraction:
        if not (tok[:1].isdigit() or tok.startswith(".")) or sum(c.isdigit() for c in tok) > MAX_DIGITS:
            raise _NotInGrammar
        self.approx = self.approx or "." in tok
        return Fraction(tok)


def read(s: str) -> tuple[Fraction, bool] | None:
    """(exact value, whether a decimal point appears) of a normalised answer in the
    grammar, else None."""
    if not s or len(s) > MAX_CHARS:
        return None
    try:
        reader = _Reader(s)
        return reader.whole(), reader.approx
    except (_NotInGrammar, ZeroDivisionError, RecursionError):
        return None


def rational_equal(gold: str, pred: str) -> bool | None:
    """math-verify's verdict for two normalised answers in the grammar; None when either
    is outside it or a decimal side is too close to call."""
    g, p = read(gold), read(pred)
    if g is None or p is None:
        return None
    (a, ga), (b, pa) = g, p
    if not (ga or pa):
        if a == b:
            return True
        # unequal rationals differ by >= 1/(qa qb): relative to their size more than the
        # 1e-45 below which `mathworker.agree` calls exact values equal
        return False if a.denominator * b.denominator * max(abs(a), abs(b), 1) < EXACT_BOUND else None
    if abs(a - b) > Fraction(ABS_GAP) + Fraction(REL_GAP) * max(abs(a), abs(b)):
        return False
    return None

"""The sympy side of the MATH checker; imported only inside worker processes.

`serve` answers one request per stdin line. Each check runs under a wall-clock alarm
(SIGALRM, the worker's main thread): a check that outlives its budget is interrupted and
answered "timeout", and the worker keeps its warm imports and math-verify's parse cache
(a restart costs ~2 s). Only a check stuck where signals are not delivered (inside one C
call) is left to the parent, which kills the worker a grace period later.

`compare(gold, pred)` is math-verify's `parse` + `verify`, with two guards around it:
- a parse must cover the whole answer. math-verify falls back to the first expression it
  can read (`2 + \\mathrm{e}` -> `2`); such a partial parse is replaced by the whole
  string, which then only equals an identical string;
- numbers must agree relative to their size. math-verify rounds floats to 6 decimal
  places and chops tiny differences (1/30! = 1/31!); so after it says "equal", numeric
  values are compared again: exactly when neither side is a decimal approximation, else
  to 6 significant digits. This can only turn "equal" into "not equal".
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys

_CONFIG = None
_PARSE = None  # `parsed`, or a memo of it (set up by `setup`)
SIGNIFICANT = 6  # digits a decimal approximation must agree to


class CheckTimeout(BaseException):
    """Raised by the alarm inside a check; a BaseException so that no `except Exception`
    in math-verify or sympy swallows it."""


_ARMED = False


def _alarm(signum, frame) -> None:
    if _ARMED:
        raise CheckTimeout


def timed_compare(gold: str, pred: str, seconds: float | None) -> tuple[bool, str]:
    """`compare` under a `seconds` wall-clock alarm (None: no alarm): (False, "timeout")
    when it fires."""
    global _ARMED
    try:
        try:
            if seconds:
                _ARMED = True
                signal.setitimer(signal.ITIMER_REAL, seconds)
            return compare(gold, pred)
        finally:
            _ARMED = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except CheckTimeout:
        return False, "timeout"


def serve(memory_mb: int = 4096, shortcuts: bool = True) -> None:
    """Worker loop: one JSON request `{"g": gold, "p": pred, "t": seconds}` per stdin line,
    one `{"r": bool, "how": str}` reply per line; "ready" once set up."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    signal.signal(signal.SIGALRM, _alarm)
    setup(memory_mb, shortcuts)
    out.write("ready\n")
    for line in sys.stdin:
        req = json.loads(line)
        try:
            ok, how = timed_compare(req["g"], req["p"], req.get("t"))
        except BaseException:  # noqa: BLE001 - MemoryError, RecursionError
            ok, how = False, "error"
        out.write(json.dumps({"r": bool(ok), "how": how}) + "\n")


def setup(memory_mb: int = 4096, shortcuts: bool = True) -> None:
    """Cap the address space, silence logging, import math-verify (with `mathfast`'s
    verdict-preserving speed-ups unless `shortcuts` is False) and warm it up."""
    global _CONFIG, _PARSE
    import resource

    if memory_mb > 0:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    logging.disable(logging.CRITICAL)
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    _CONFIG = (LatexExtractionConfig(), ExprExtractionConfig())
    _PARSE = parsed
    if shortcuts:  # the parse of a string never changes: keep the last 4096 (math-verify keeps 20)
        from functools import lru_cache

        from gvgap.tasks import mathfast

        mathfast.install()
        _PARSE = lru_cache(maxsize=4096)(parsed)
    for warm in ("\\frac{1}{2}", "0.5", "(x+1)^2", "x^2+2x+1", "[2,5)", "\\text{(C)}"):
        compare(warm, "\\sqrt{2}")  # lazy set-up, off the clock


def _squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


def parsed(ans: str) -> list:
    """math-verify's parse of the whole answer: LaTeX first, then plain expression syntax
    if that reads every character; else `[ans]` (compared as a string only)."""
    from math_verify import parse

    latex, expr = _CONFIG
    out = parse(f"${ans}$", extraction_config=[latex], parsing_timeout=None)
    if len(out) == 2 and not isinstance(out[0], str):
        return out  # the LaTeX pattern spans the whole $...$: a full parse
    out = parse(ans, extraction_config=[expr], parsing_timeout=None)
    if len(out) == 2 and _squash(out[1]) == _squash(ans):
        return out
    return [ans]


def compare(gold: str, pred: str) -> tuple[bool, str]:
    """(equal, how): how is "math_verify", "numeric" (vetoed by the size-relative check)
    or "unparsed" (one side has no full parse and the strings differ)."""
    from math_verify import verify

    try:
        parse = _PARSE or parsed
        g, p = parse(gold), parse(pred)
        if len(g) == 1 or len(p) == 1:
            return _squash(gold) == _squash(pred), "unparsed"
        if not verify(g, p, timeout_seconds=None):
            return False, "math_verify"
        if not agree(g[0], p[0]):
            return False, "numeric"
        return True, "math_verify"
    except Exception:  # noqa: BLE001 - sympy bugs, RecursionError: not equal
        return False, "error"


def agree(a, b) -> bool:
    """False when a and b hold numbers that differ relative to their size; True otherwise
    (including anything that is not a plain number, which math-verify has judged)."""
    import sympy

    if isinstance(a, sympy.Tuple) and isinstance(b, sympy.Tuple):
        return len(a) == len(b) and all(agree(x, y) for x, y in zip(a, b))
    if isinstance(a, sympy.FiniteSet) and isinstance(b, sympy.FiniteSet):
        return (all(any(agree(x, y) for y in b.args) for x in a.args)
                and all(any(agree(x, y) for x in a.args) for y in b.args))
    if isinstance(a, sympy.Interval) and isinstance(b, sympy.Interval):
        return agree(a.start, b.start) and agree(a.end, b.end)
    if isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase):
        return a.shape == b.shape and all(agree(x, y) for x, y in zip(a, b))
    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return True
    if a.free_symbols or b.free_symbols or not (a.is_number and b.is_number):
        return True
    if a.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) or b.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return True
    approx = a.has(sympy.Float) or b.has(sympy.Float)
    try:
        va, vb = complex(a.evalf(50)), complex(b.evalf(50))  # exponent range of a double
    except (TypeError, ValueError, OverflowError):
        return True
    if approx:
        return all(_round(x) == _round(y) for x, y in ((va.real, vb.real), (va.imag, vb.imag)))
    return _exactly_equal(a, b)


def _round(x: float) -> str:
    return f"{x:.{SIGNIFICANT - 1}e}" if x else "0"


def _exactly_equal(a, b) -> bool:
    """Exact values: equal when their difference vanishes at 60 digits relative to size."""
    import sympy

    scale = max(abs(sympy.N(a, 60)), abs(sympy.N(b, 60)))
    if scale == 0:
        return True
    return abs(sympy.N(a - b, 60)) <= scale * sympy.Float("1e-45", 60)

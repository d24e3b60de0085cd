"""Two speed-ups inside the math-verify worker that leave every verdict as it was.

Measured on MATH-like answers, a symbolic check spends its time in two places: the
LaTeX parser (ANTLR's adaptive prediction in pure Python) and, for answers that are
wrong, `simplify(gold - answer)` before math-verify gives up. `install()` patches both:

* two-stage parsing: latex2sympy's parser first runs in ANTLR's SLL prediction mode and
  only on a syntax error again in the default LL mode. ANTLR documents that an SLL parse
  that succeeds gives the same tree as LL; a failed one is redone in LL, so errors are
  the ones LL gives. About 1.5x on parsing.
* a numeric "clearly different" test before math-verify's symbolic comparison: when
  gold - answer is a number (free symbols set to fixed values in (0.5, 1.5), only for
  symbols that may take such values) that is far from zero relative to both sides,
  `simplify(gold - answer)` cannot be zero, so the result False is returned without
  simplifying. Anything else (sets, matrices, relations, undefined functions, values
  within 1e-12 of each other, non-finite values) goes to math-verify as before.

Only called in worker processes (`mathworker.setup`); `MathChecker(shortcuts=False)` runs
without them, the reference the benchmark compares verdicts against.
"""

from __future__ import annotations

RELATIVE = 1e-12  # below this relative difference, math-verify decides as before
DIGITS = 30
_POINTS = ("0.7316", "1.2189", "0.9137", "1.4423", "0.6151", "1.1097", "0.8353", "1.3301")


def install() -> None:
    """Patch latex2sympy's parser creation and math-verify's symbolic comparison."""
    from antlr4.atn.PredictionMode import PredictionMode
    from latex2sympy2_extended import latex2sympy2
    from math_verify import grader

    create = latex2sympy2._Latex2Sympy.create_parser
    if getattr(create, "two_stage", False):
        return

    class TwoStage:
        def __init__(self, owner, text):
            self.owner, self.text = owner, text

        def math(self):
            parser = create(self.owner, self.text)
            parser._interp.predictionMode = PredictionMode.SLL
            try:
                return parser.math()
            except Exception:  # noqa: BLE001 - a syntax error, real or SLL's: redo in LL
                return create(self.owner, self.text).math()

    def two_stage(owner, text):
        return TwoStage(owner, text)

    two_stage.two_stage = True
    latex2sympy2._Latex2Sympy.create_parser = two_stage
    symbolic_eq = grader.sympy_symbolic_eq

    def sympy_symbolic_eq(a, b) -> bool:
        if clearly_different(a, b):
            return False
        return symbolic_eq(a, b)

    grader.sympy_symbolic_eq = sympy_symbolic_eq


def _may_take_points(symbol) -> bool:
    """Whether values in (0.5, 1.5) are in the symbol's declared domain."""
    return not (symbol.is_integer or symbol.is_rational or symbol.is_nonpositive or symbol.is_extended_real is False)


def clearly_different(a, b) -> bool:
    """True when a - b is a finite number (after fixing its free symbols) whose size is
    more than RELATIVE times that of a and b: then no simplification makes it zero."""
    import sympy

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    symbols = a.free_symbols | b.free_symbols
    if len(symbols) > len(_POINTS) or not all(isinstance(s, sympy.Symbol) and _may_take_points(s) for s in symbols):
        return False
    point = {s: sympy.Float(v, DIGITS) for s, v in zip(sorted(symbols, key=str), _POINTS)}
    values = []
    for e in (a, b, a - b):
        v = e.evalf(DIGITS, subs=point) if point else e.evalf(DIGITS)
        re, im = v.as_real_imag()
        if not (isinstance(re, sympy.Float) or re == 0) or not (isinstance(im, sympy.Float) or im == 0):
            return False  # not a number: an undefined function, a leftover symbol, ...
        if not all(x.is_finite for x in (re, im)):
            return False
        values.append(abs(complex(re, im)) if abs(re) < 1e300 and abs(im) < 1e300 else None)
    if None in values:
        return False
    va, vb, vd = values
    return vd > RELATIVE * max(va, vb)

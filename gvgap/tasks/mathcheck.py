"""MATH answers: extraction, and an equivalence check that is exact, cached and time-bounded.

`math-verify` (sympy) decides equivalence, but it can hang on adversarial input
(`9^{9^{9^9}}`) and its own SIGALRM time-out only works on the main thread. So every
math-verify call runs in a persistent worker subprocess that is killed and restarted
when a check exceeds its time budget; the parent never imports sympy. Cheap, provably
safe shortcuts (same normalised string, same plain number) skip the worker, and
verdicts are cached by (gold, pred).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

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


def _strip_math(ans: str) -> str:
    ans = ans.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
        if ans.startswith(left) and ans.endswith(right) and len(ans) >= len(left) + len(right):
            ans = ans[len(left):len(ans) - len(right)].strip()
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
        ans = _strip_math(rest.strip().rstrip("*").rstrip(".").rstrip("*").rstrip())
        boxed = last_boxed(ans)
        ans = _strip_math(boxed) if boxed is not None else ans
        if ans:
            return ans
    boxed = last_boxed(completion)
    return _strip_math(boxed) if boxed else None


# -- cheap checks ---------------------------------------------------------------------------
_SPACING = re.compile(r"\\left|\\right|\\!|\\,|\\;|\\:|\\ |\\displaystyle|\s+")
_DEGREE = re.compile(r"\^\s*\{?\\circ\}?")
_PLAIN_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_FRACTION = re.compile(r"(-?)(?:\\frac\{(\d{1,100})\}\{(\d{1,100})\}|\\frac(\d)(\d)|(\d{1,100})/(\d{1,100}))")


def _rational(s: str) -> Fraction | None:
    """Exact value of an integer or a simple fraction (\\frac{a}{b}, \\frac ab, a/b)."""
    if re.fullmatch(r"-?\d{1,1000}", s):
        return Fraction(int(s))
    m = _FRACTION.fullmatch(s)
    if not m:
        return None
    num, den = [int(x) for x in m.groups()[1:] if x is not None]
    if den == 0:
        return None
    return Fraction(-num if m.group(1) else num, den)


def normalise(ans: str) -> str:
    """Purely notational clean-up: two answers equal after this are equal."""
    s = _strip_math(clean_text(ans))
    s = _SPACING.sub("", s)
    s = _DEGREE.sub("", s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = s.replace("\\$", "").replace("$", "")
    return s.rstrip(".")


def cheap_equal(gold: str, pred: str) -> bool | None:
    """True/False when decidable without sympy, else None.

    True: same normalised string, or the same plain decimal number. False: both plain
    integers and different (exact, any size). Integers and simple fractions compare
    exactly. Anything else (decimals against fractions, expressions) goes to math-verify.
    """
    g, p = normalise(gold), normalise(pred)
    if not g or not p:
        return None if g else False
    if g == p:
        return True
    if _PLAIN_NUMBER.fullmatch(g) and _PLAIN_NUMBER.fullmatch(p):
        cg, cp = canonical(g), canonical(p)
        if cg == cp:
            return True
        if "." not in cg and "." not in cp:
            return False
    rg, rp = _rational(g.replace(",", "") if _PLAIN_NUMBER.fullmatch(g) else g), \
        _rational(p.replace(",", "") if _PLAIN_NUMBER.fullmatch(p) else p)
    if rg is not None and rp is not None:
        return rg == rp
    return None


# -- the time-bounded checker ---------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    equal: bool
    how: str  # "string", "number", "math_verify", "timeout", "error", "too_long", "none"

    @property
    def timed_out(self) -> bool:
        return self.how == "timeout"


_ROOT = str(Path(__file__).resolve().parents[2])
_WORKER = ("import sys; sys.path.insert(0, {root!r}); "
           "from gvgap.tasks.mathcheck import serve; serve({mem})")


class MathChecker:
    """Equivalence of MATH answers with a hard wall-clock bound per math-verify call.

    Counters: `n_timeouts` (checks killed at `timeout` s), `n_errors` (worker died),
    `n_verify` (math-verify calls), `n_cached`. Call `close()` (or rely on exit) to
    stop the worker.
    """

    def __init__(self, timeout: float = 5.0, max_answer_chars: int = 1000,
                 memory_mb: int = 4096, cache_size: int = 500_000):
        self.timeout = float(timeout)
        self.max_answer_chars = int(max_answer_chars)
        self.memory_mb = int(memory_mb)
        self.cache_size = int(cache_size)
        self.cache: OrderedDict[tuple[str, str], Verdict] = OrderedDict()
        self.n_timeouts = self.n_errors = self.n_verify = self.n_cached = 0
        self._proc: subprocess.Popen | None = None
        self._owner = os.getpid()
        self._buf = b""
        self._lock = threading.Lock()
        self._helpers: list[MathChecker] = []  # extra workers for check_many
        atexit.register(_close_ref, weakref.ref(self))

    # public ---------------------------------------------------------------------------
    def check(self, gold: str, pred: str | None) -> Verdict:
        if pred is None:
            return Verdict(False, "none")
        key = (gold, pred)
        with self._lock:
            if key in self.cache:
                self.n_cached += 1
                self.cache.move_to_end(key)
                return self.cache[key]
            verdict = self._decide(gold, pred)
            self.cache[key] = verdict
            if len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
            return verdict

    def equivalent(self, gold: str, pred: str | None) -> bool:
        return self.check(gold, pred).equal

    def check_many(self, pairs: list[tuple[str, str | None]], workers: int = 1) -> list[Verdict]:
        """`check` for many pairs, the math-verify ones spread over `workers` processes.

        Fills the cache, so later `check` calls on the same pairs are free.
        """
        hard = list(dict.fromkeys(
            (g, p) for g, p in pairs
            if p is not None and (g, p) not in self.cache and normalise(p)
            and cheap_equal(g, p) is None and len(p) <= self.max_answer_chars))
        workers = max(1, min(int(workers), len(hard)))
        if workers > 1:
            while len(self._helpers) < workers - 1:
                self._helpers.append(MathChecker(self.timeout, self.max_answer_chars, self.memory_mb, 1))
            team = [self] + self._helpers[: workers - 1]
            chunks = [hard[i::workers] for i in range(workers)]
            results: list[list[Verdict]] = [[] for _ in team]

            def run(k: int) -> None:
                for g, p in chunks[k]:
                    team[k].n_verify += 1
                    results[k].append(team[k]._ask(clean_text(g), clean_text(p)))

            threads = [threading.Thread(target=run, args=(k,)) for k in range(1, workers)]
            for t in threads:
                t.start()
            with self._lock:
                run(0)
            for t in threads:
                t.join()
            with self._lock:
                for k, helper in enumerate(team):
                    for pair, verdict in zip(chunks[k], results[k]):
                        self.cache[pair] = verdict
                    if helper is not self:
                        self.n_timeouts += helper.n_timeouts
                        self.n_errors += helper.n_errors
                        self.n_verify += helper.n_verify
                        helper.n_timeouts = helper.n_errors = helper.n_verify = 0
        return [self.check(g, p) for g, p in pairs]

    def close(self) -> None:
        for helper in self._helpers:
            helper.close()
        proc, self._proc = self._proc, None
        if proc is not None and self._owner != os.getpid():
            return  # a forked child must not kill its parent's worker
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None:
            for f in (proc.stdin, proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass

    def __enter__(self) -> "MathChecker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # internals ------------------------------------------------------------------------
    def _decide(self, gold: str, pred: str) -> Verdict:
        if not normalise(pred):
            return Verdict(False, "none")
        quick = cheap_equal(gold, pred)
        if quick is not None:
            same_string = normalise(gold) == normalise(pred)
            return Verdict(quick, "string" if same_string else "number")
        if len(pred) > self.max_answer_chars:
            return Verdict(False, "too_long")
        self.n_verify += 1
        return self._ask(clean_text(gold), clean_text(pred))

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER.format(root=_ROOT, mem=self.memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        self._buf, self._owner = b"", os.getpid()
        if self._readline(deadline=time.monotonic() + 120) != b"ready":
            self.close()
            raise RuntimeError("math-verify worker failed to start (is math-verify installed?)")

    def _readline(self, deadline: float) -> bytes | None:
        """One line from the worker, or None on time-out / worker death."""
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def _ask(self, gold: str, pred: str) -> Verdict:
        if self._proc is not None and self._owner != os.getpid():
            self._proc = None  # we are a forked child: that worker belongs to the parent
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        deadline = time.monotonic() + self.timeout
        try:
            self._proc.stdin.write(json.dumps({"g": gold, "p": pred}).encode() + b"\n")
            self._proc.stdin.flush()
            line = self._readline(deadline)
        except (BrokenPipeError, OSError):
            line = None
        if line is None:
            timed_out = self._proc.poll() is None  # still running: it is stuck
            self.close()
            if timed_out:
                self.n_timeouts += 1
                return Verdict(False, "timeout")
            self.n_errors += 1
            return Verdict(False, "error")
        return Verdict(bool(json.loads(line)["r"]), "math_verify")


def _close_ref(ref: weakref.ref) -> None:
    obj = ref()
    if obj is not None:
        obj.close()


# -- worker side ------------------------------------------------------------------------------
def serve(memory_mb: int = 4096) -> None:
    """Worker loop: one JSON request per stdin line, one `{"r": bool}` reply per line."""
    import logging
    import resource
    from functools import lru_cache

    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    if memory_mb > 0:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    logging.disable(logging.CRITICAL)
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig(), ExprExtractionConfig()]

    @lru_cache(maxsize=100_000)
    def parsed(ans: str):
        return parse(f"${ans}$", extraction_config=config, parsing_timeout=None)

    for warm in ("\\frac{1}{2}", "0.5", "(x+1)^2", "x^2+2x+1", "[2,5)", "\\text{(C)}"):
        verify(parsed(warm), parsed("\\sqrt{2}"), timeout_seconds=None)  # lazy set-up, off the clock
    out.write("ready\n")
    for line in sys.stdin:
        req = json.loads(line)
        try:
            ok = bool(verify(parsed(req["g"]), parsed(req["p"]), timeout_seconds=None))
        except BaseException:  # noqa: BLE001 - MemoryError, RecursionError, sympy bugs
            ok = False
        out.write(json.dumps({"r": ok}) + "\n")

"""MATH answer equivalence: exact, cached, time-bounded and spread over cores.

`math-verify` (sympy) decides what `mathanswer`'s string checks and `mathrational`'s exact
arithmetic leave open, but it can hang, and its SIGALRM time-out works only on the main
thread. So every call runs in a persistent worker subprocess (`python -c` serving
`mathworker.serve` over a pipe) whose own alarm cuts a check at its budget ("timeout":
not equal, logged; the worker stays warm); a worker deaf to it is killed a grace period
later. The parent never imports sympy. (A process pool was tried: spawn re-runs a user's
unguarded main script, fork copies a parent that may hold torch threads.)
Verdicts are cached by (prepared gold, prepared answer, list mode), a key the verdict is
a function of: each distinct normalised answer of a prompt is graded once.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from gvgap.tasks.mathanswer import (cheap_equal, final_answer, for_verify, is_huge, last_boxed, list_mode,
                                    normalise, prepare)
from gvgap.tasks.mathrational import rational_equal

__all__ = ["MathChecker", "Verdict", "cheap_equal", "final_answer", "last_boxed", "list_mode", "normalise"]
log = logging.getLogger(__name__)
GRACE = 2.0  # s a worker may take beyond the budget to answer "timeout" before it is killed


# -- the time-bounded checker ---------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    equal: bool
    how: str  # "string", "number", "tower", "rational", "math_verify", "numeric", "unparsed", "timeout", "error", "too_long", "none"

    @property
    def timed_out(self) -> bool:
        return self.how == "timeout"


Key = tuple  # (prepared gold, prepared answer, list mode)

_ROOT = str(Path(__file__).resolve().parents[2])
_WORKER = ("import sys; sys.path.insert(0, {root!r}); "
           "from gvgap.tasks.mathworker import serve; serve({mem}, {shortcuts})")


class MathChecker:
    """Equivalence of MATH answers with a hard wall-clock bound per math-verify call.

    Counters: `n_timeouts` (checks cut at `timeout` s), `n_errors` (worker died),
    `n_verify` (math-verify calls), `n_cached`. `cache_size` distinct keys are kept
    (least recently used out first), and never fewer than the last batch's, so that a
    batch graded by `check_many` is still there for per-sample look-ups; 0 turns the
    cache off (every call grades afresh). `shortcuts=False` runs the workers without
    `mathfast`'s speed-ups and without the `mathrational` fast path (same verdicts,
    slower: the reference for the benchmark).
    Call `close()` (or rely on exit) to stop the workers.
    """

    def __init__(self, timeout: float = 5.0, max_answer_chars: int = 1000,
                 memory_mb: int = 4096, cache_size: int = 500_000, shortcuts: bool = True):
        self.timeout = float(timeout)
        self.max_answer_chars = int(max_answer_chars)
        self.memory_mb = int(memory_mb)
        self.cache_size = int(cache_size)
        self.shortcuts = bool(shortcuts)
        self.cache: OrderedDict[Key, Verdict] = OrderedDict()
        self.n_timeouts = self.n_errors = self.n_verify = self.n_cached = 0
        self._proc: subprocess.Popen | None = None
        self._owner = os.getpid()
        self._buf = b""
        self._lock = threading.RLock()
        self._helpers: list[MathChecker] = []  # extra workers for check_many
        atexit.register(_close_ref, weakref.ref(self))

    # public ---------------------------------------------------------------------------
    @staticmethod
    def key(gold: str, pred: str | None, question: str | None = None) -> Key | None:
        """The cache key: prepared gold, prepared answer, list mode; None: no answer."""
        return None if pred is None else (prepare(gold), prepare(pred), list_mode(question))

    def check(self, gold: str, pred: str | None, question: str | None = None) -> Verdict:
        """Whether `pred` is equivalent to `gold`; `question` (the problem text) decides
        whether `30,150` is a list or one number (see `mathanswer.list_mode`)."""
        key = self.key(gold, pred, question)
        with self._lock:  # a cache hit (the look-ups after a prefetch): the batch path's result, cheaper
            if key is not None and (hit := self.cache.get(key)) is not None:
                self.n_cached += 1
                self.cache.move_to_end(key)
                return hit
        return self.check_many([(gold, pred)], [question])[0]

    def equivalent(self, gold: str, pred: str | None, question: str | None = None) -> bool:
        return self.check(gold, pred, question).equal

    def check_many(self, pairs: list[tuple[str, str | None]], questions: list[str | None] | None = None,
                   workers: int = 1) -> list[Verdict]:
        """`check` for many pairs: each distinct key once (cached, or by the fast paths,
        or by math-verify: those spread over `workers` processes). Fills the cache."""
        keys = [self.key(g, p, q) for (g, p), q in zip(pairs, questions or [None] * len(pairs))]
        with self._lock:
            found: dict[Key, Verdict] = {}
            hard = []
            for k in dict.fromkeys(k for k in keys if k is not None):
                if k in self.cache:
                    self.n_cached += 1
                    found[k] = self.cache[k]
                elif (quick := self._quick(k)) is not None:
                    found[k] = quick
                else:
                    hard.append(k)
            found.update(zip(hard, self._verify_all(hard, workers)))
            self._keep(found)
            return [found[k] if k is not None else Verdict(False, "none") for k in keys]

    def start(self, workers: int = 1) -> None:
        """Start `workers` worker processes now, side by side, instead of at their first
        check (each takes ~2 s to import sympy)."""
        team = self._team(workers)
        threads = [threading.Thread(target=c._ensure) for c in team]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

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
                with contextlib.suppress(OSError):
                    f.close()

    def __enter__(self) -> "MathChecker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self.close()

    # internals ------------------------------------------------------------------------
    def _keep(self, found: dict[Key, Verdict]) -> None:
        """Cache a batch's verdicts as the most recent; when it added keys, evict the
        least recent down to max(cache_size, batch size) (look-ups alone evict nothing)."""
        if not self.cache_size:
            return
        added = False
        for k, v in found.items():
            added = added or k not in self.cache
            self.cache[k] = v
            self.cache.move_to_end(k)
        while added and len(self.cache) > max(self.cache_size, len(found)):
            self.cache.popitem(last=False)

    def _quick(self, key: Key) -> Verdict | None:
        """The verdict without sympy, or None."""
        gold, pred, mode = key
        if not normalise(pred):
            return Verdict(False, "none")
        quick = cheap_equal(gold, pred, mode)
        if quick is not None:
            if normalise(gold) == normalise(pred):
                return Verdict(True, "string")
            return Verdict(quick, "tower" if is_huge(gold) or is_huge(pred) else "number")
        if len(pred) > self.max_answer_chars:
            return Verdict(False, "too_long")
        if self.shortcuts and (exact := rational_equal(normalise(gold), normalise(pred))) is not None:
            return Verdict(exact, "rational")  # math-verify's verdict, known without parsing
        return None

    def _verify_all(self, keys: list[Key], workers: int) -> list[Verdict]:
        """math-verify on each key over min(workers, len(keys)) workers. A gold's keys go to
        one worker (its parse cache holds the gold), biggest groups first; then a free worker
        takes keys from the far end of the longest group in progress rather than idle."""
        if not keys:
            return []
        groups: dict[tuple, deque[int]] = {}
        for i, (gold, _, mode) in enumerate(keys):
            groups.setdefault((gold, mode), deque()).append(i)
        todo, busy = sorted(groups.values(), key=len), []  # todo popped from the end: biggest first
        out: list[Verdict] = [None] * len(keys)  # type: ignore[list-item]
        take = threading.Lock()

        def run(checker: MathChecker) -> None:
            mine: deque[int] = deque()
            while True:
                with take:
                    if not mine and todo:
                        mine = todo.pop()
                        busy.append(mine)
                    longest = mine or max(busy, key=len, default=deque())
                    if not longest:
                        return
                    i = longest.popleft() if longest is mine else longest.pop()
                gold, pred, mode = keys[i]
                out[i] = checker._ask(for_verify(gold, mode), for_verify(pred, mode))

        team = self._team(max(1, min(int(workers), len(keys))))
        threads = [threading.Thread(target=run, args=(c,)) for c in team[1:]]
        for t in threads:
            t.start()
        run(self)
        for t in threads:
            t.join()
        for helper in team[1:]:
            for name in ("n_timeouts", "n_errors", "n_verify"):
                setattr(self, name, getattr(self, name) + getattr(helper, name))
                setattr(helper, name, 0)
        return out

    def _team(self, workers: int) -> list["MathChecker"]:
        """This checker and workers - 1 helpers (created once, kept)."""
        while len(self._helpers) < workers - 1:
            self._helpers.append(MathChecker(self.timeout, self.max_answer_chars, self.memory_mb, 0, self.shortcuts))
        return [self] + self._helpers[: max(0, workers - 1)]

    def _ensure(self) -> None:
        """A running worker of our own (a forked child never uses its parent's)."""
        if self._proc is not None and self._owner != os.getpid():
            self._proc = None
        if self._proc is None or self._proc.poll() is not None:
            self._start()

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER.format(root=_ROOT, mem=self.memory_mb, shortcuts=self.shortcuts)],
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
        """One math-verify check in this checker's worker, cut after `timeout` s."""
        self.n_verify += 1
        self._ensure()
        deadline = time.monotonic() + self.timeout + GRACE
        try:
            self._proc.stdin.write(json.dumps({"g": gold, "p": pred, "t": self.timeout}).encode() + b"\n")
            self._proc.stdin.flush()
            line = self._readline(deadline)
        except (BrokenPipeError, OSError):
            line = None
        if line is None:
            stuck = self._proc.poll() is None  # still running: deaf to its alarm
            self.close()
            if not stuck:
                self.n_errors += 1
                return Verdict(False, "error")
            reply = {"r": False, "how": "timeout"}
        else:
            reply = json.loads(line)
        if reply["how"] == "timeout":
            self.n_timeouts += 1
            log.warning("math-verify check cut at %.1f s (graded not equal): gold %.80r, answer %.80r",
                        self.timeout, gold, pred)
            return Verdict(False, "timeout")
        return Verdict(bool(reply["r"]), reply["how"])


def _close_ref(ref: weakref.ref) -> None:
    obj = ref()
    if obj is not None:
        obj.close()

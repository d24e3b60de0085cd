"""MATH answer equivalence: exact, cached and time-bounded.

`math-verify` (sympy) decides what the string-level checks in `mathanswer` leave open,
but it can hang on adversarial input and its own SIGALRM time-out only works on the main
thread. So every math-verify call runs in a persistent worker subprocess (`python -c`,
serving `mathworker.compare` over a pipe) that is killed and restarted when a check
exceeds its time budget; a batch is spread over several such workers. The parent never
imports sympy. (A process-pool library was tried: its spawn start method re-runs a user's
unguarded main script, and fork copies a parent that may hold torch threads; a `python -c`
worker has neither problem.) Verdicts are cached by (prepared gold, prepared answer,
list mode), so each distinct normalised answer of a prompt is graded once.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from gvgap.tasks.mathanswer import (cheap_equal, final_answer, for_verify, is_huge, last_boxed, list_mode,
                                    normalise, prepare)

__all__ = ["MathChecker", "Verdict", "cheap_equal", "final_answer", "last_boxed", "list_mode", "normalise"]


# -- the time-bounded checker ---------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    equal: bool
    how: str  # "string", "number", "tower", "math_verify", "numeric", "unparsed", "timeout", "error", "too_long", "none"

    @property
    def timed_out(self) -> bool:
        return self.how == "timeout"


Key = tuple  # (prepared gold, prepared answer, list mode)

_ROOT = str(Path(__file__).resolve().parents[2])
_WORKER = ("import sys; sys.path.insert(0, {root!r}); "
           "from gvgap.tasks.mathcheck import serve; serve({mem})")


class MathChecker:
    """Equivalence of MATH answers with a hard wall-clock bound per math-verify call.

    Counters: `n_timeouts` (checks killed at `timeout` s), `n_errors` (worker died),
    `n_verify` (math-verify calls), `n_cached`. Call `close()` (or rely on exit) to
    stop the workers.
    """

    def __init__(self, timeout: float = 5.0, max_answer_chars: int = 1000,
                 memory_mb: int = 4096, cache_size: int = 500_000):
        self.timeout = float(timeout)
        self.max_answer_chars = int(max_answer_chars)
        self.memory_mb = int(memory_mb)
        self.cache_size = int(cache_size)
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
        return self.check_many([(gold, pred)], [question])[0]

    def equivalent(self, gold: str, pred: str | None, question: str | None = None) -> bool:
        return self.check(gold, pred, question).equal

    def check_many(self, pairs: list[tuple[str, str | None]], questions: list[str | None] | None = None,
                   workers: int = 1) -> list[Verdict]:
        """`check` for many pairs: each distinct key once, the math-verify ones spread over
        `workers` processes. Fills the cache."""
        keys = [self.key(g, p, q) for (g, p), q in zip(pairs, questions or [None] * len(pairs))]
        with self._lock:
            hard = []
            for k in dict.fromkeys(k for k in keys if k is not None):
                if k in self.cache:
                    self.n_cached += 1
                    self.cache.move_to_end(k)
                elif (quick := self._quick(k)) is not None:
                    self._store(k, quick)
                else:
                    hard.append(k)
            for k, verdict in zip(hard, self._verify_all(hard, workers)):
                self._store(k, verdict)
            return [self.cache[k] if k is not None else Verdict(False, "none") for k in keys]

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
    def _store(self, key: Key, verdict: Verdict) -> None:
        self.cache[key] = verdict
        if len(self.cache) > self.cache_size:
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
        return None

    def _verify_all(self, keys: list[Key], workers: int) -> list[Verdict]:
        """math-verify on each key, over min(workers, len(keys)) worker processes."""
        workers = max(1, min(int(workers), len(keys)))
        while len(self._helpers) < workers - 1:
            self._helpers.append(MathChecker(self.timeout, self.max_answer_chars, self.memory_mb, 1))
        team = [self] + self._helpers[: workers - 1]
        results: list[list[Verdict]] = [[] for _ in team]

        def run(k: int) -> None:
            for gold, pred, mode in keys[k::workers]:
                results[k].append(team[k]._ask(for_verify(gold, mode), for_verify(pred, mode)))

        threads = [threading.Thread(target=run, args=(k,)) for k in range(1, workers)]
        for t in threads:
            t.start()
        run(0)
        for t in threads:
            t.join()
        for helper in team[1:]:
            self.n_timeouts += helper.n_timeouts
            self.n_errors += helper.n_errors
            self.n_verify += helper.n_verify
            helper.n_timeouts = helper.n_errors = helper.n_verify = 0
        out: list[Verdict] = [None] * len(keys)  # type: ignore[list-item]
        for k in range(workers):
            out[k::workers] = results[k]
        return out

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
        """One math-verify check in this checker's worker, killed after `timeout` s."""
        self.n_verify += 1
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
        reply = json.loads(line)
        return Verdict(bool(reply["r"]), reply["how"])


def _close_ref(ref: weakref.ref) -> None:
    obj = ref()
    if obj is not None:
        obj.close()


# -- worker side ------------------------------------------------------------------------------
def serve(memory_mb: int = 4096) -> None:
    """Worker loop: one JSON request per stdin line, one `{"r": bool, "how": str}` reply."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    from gvgap.tasks import mathworker

    mathworker.setup(memory_mb)
    out.write("ready\n")
    for line in sys.stdin:
        req = json.loads(line)
        try:
            ok, how = mathworker.compare(req["g"], req["p"])
        except BaseException:  # noqa: BLE001 - MemoryError, RecursionError
            ok, how = False, "error"
        out.write(json.dumps({"r": bool(ok), "how": how}) + "\n")

"""MATH (Hendrycks et al.) and its 500-problem subset MATH-500, Minerva-style.

Gold is the last \\boxed{} of the reference solution. A completion's answer is the X of
"Final Answer: The final answer is X. I hope it is correct." (the format the exemplars
teach), else its last \\boxed{}. Equivalence: string-level checks (`mathanswer`), then
`math-verify`, time-bounded and in parallel (`mathcheck`). The problem text reaches the
checker: it decides whether `30,150` is a list of two answers or one number.
"""

from __future__ import annotations

import os

from gvgap.data import load_rows
from gvgap.tasks.base import Problem, Task
from gvgap.engines.base import cut_at_stop
from gvgap.tasks.common import choice, take_options, text_id
from gvgap.tasks.mathanswer import final_answer, last_boxed
from gvgap.tasks.mathcheck import MathChecker

# MATH *train* rows (0-based line numbers of math/train.jsonl) used as the fixed
# exemplars, in order: Algebra 48, Precalculus 1/57, Geometry 256pi, Number Theory 57,
# then Intermediate Algebra, Counting & Probability, Prealgebra, Algebra.
EXEMPLAR_LINES = (520, 6875, 2808, 5364, 4447, 2496, 6675, 1206)


def unbox(solution: str) -> str:
    """The solution with every \\boxed{X} replaced by X."""
    out, i = [], 0
    while (j := solution.find("\\boxed{", i)) >= 0:
        k = _closing(solution, j + 6)
        out.append(solution[i:j] + solution[j + 7:k])
        i = k + 1
    return "".join(out) + solution[i:]


def _closing(text: str, open_at: int) -> int:
    """Index of the brace closing the one at `open_at` (end of text if unbalanced)."""
    depth = 0
    for k in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            return k
    return len(text)


def worked_solution(solution: str) -> str:
    ans = last_boxed(solution)
    return f"{unbox(solution).strip()}\nFinal Answer: The final answer is ${ans}$. I hope it is correct."


class MATHTask(Task):
    name = "math"
    dataset = "math"
    splits = ("test", "train")  # train: 7500 rows, minus the exemplars (task.train_split=train)
    stop = ("\n\nProblem:", "\nProblem:")
    DEFAULTS = {"source": "auto", "data_dir": None, "timeout": 5.0, "max_answer_chars": 1000}

    def __init__(self, num_shots: int = 4, limit: int | None = None, seed: int = 0,
                 train_limit: int | None = None, **options):
        super().__init__(num_shots=num_shots, limit=limit, seed=seed, train_limit=train_limit, **options)
        opts = take_options(self.name, options, self.DEFAULTS)
        self.source = choice("source", opts["source"], ("auto", "local", "hub"))
        self.data_dir = opts["data_dir"]
        if not float(opts["timeout"]) > 0:
            raise ValueError(f"task.timeout must be > 0 seconds, got {opts['timeout']!r}")
        if not 0 <= num_shots <= len(EXEMPLAR_LINES):
            raise ValueError(f"generation.num_shots must be in 0..{len(EXEMPLAR_LINES)} for {self.name}, got {num_shots}")
        self.checker = MathChecker(timeout=float(opts["timeout"]), max_answer_chars=int(opts["max_answer_chars"]))
        self._problems: dict[str, list[Problem]] = {}
        self._prefix: str | None = None

    @property
    def n_timeouts(self) -> int:
        return self.checker.n_timeouts

    def close(self) -> None:
        """Stop the math-verify worker process (also done at exit)."""
        self.checker.close()

    def load(self, split: str = "test") -> list[Problem]:
        if split not in self._problems:
            rows = load_rows(self.dataset, split, self.source, self.data_dir)
            self._problems[split] = [
                Problem(id=text_id(self.name, r["problem"]),
                        question=r["problem"], gold=last_boxed(r["solution"]),
                        meta={"split": split, "index": i, "level": r.get("level"), "type": r.get("type", r.get("subject")),
                              "solution": r["solution"]})
                for i, r in enumerate(rows)
            ]
        return self._problems[split]

    def exemplar_questions(self) -> set[str]:
        """All EXEMPLAR_LINES rows, whatever num_shots: the train prompts do not move with it."""
        train = load_rows("math", "train", self.source, self.data_dir)
        return {train[i]["problem"] for i in EXEMPLAR_LINES}

    def build_prompt(self, problem: Problem) -> str:
        if self._prefix is None:
            train = load_rows("math", "train", self.source, self.data_dir)
            self._prefix = "".join(
                f"Problem:\n{train[i]['problem']}\n\nSolution:\n{worked_solution(train[i]['solution'])}\n\n"
                for i in EXEMPLAR_LINES[: self.num_shots]
            )
        return f"{self._prefix}Problem:\n{problem.question}\n\nSolution:"

    def extract_answer(self, completion: str) -> str | None:
        return final_answer(cut_at_stop(completion, self.stop))

    def utility(self, problem: Problem, completion: str) -> float:
        return float(self.checker.check(problem.gold, self.extract_answer(completion), problem.question).equal)

    def prefetch(self, problems: list[Problem], completions: list[list[str]], workers: int | None = None) -> None:
        """Grade all samples at once: each prompt's distinct normalised answers once, the
        math-verify checks spread over `workers` processes (default: the CPU count), so
        that the per-sample `utility` calls that follow are cache hits."""
        pairs, questions = [], []
        for p, cs in zip(problems, completions):
            for c in cs:
                pairs.append((p.gold, self.extract_answer(c)))
                questions.append(p.question)
        self.checker.check_many(pairs, questions, workers=workers or os.cpu_count() or 1)

    def extra_utilities(self, problem: Problem, completion: str) -> dict[str, float]:
        """Whether this check hit the time bound (sum over samples = time-outs)."""
        verdict = self.checker.check(problem.gold, self.extract_answer(completion), problem.question)
        return {"math_verify_timeout": float(verdict.timed_out)}


class MATH500Task(MATHTask):
    name = "math500"
    dataset = "math500"
    splits = ("test",)  # MATH-500 is a test subset; train on MATH with task=math

    def load(self, split: str = "test") -> list[Problem]:
        if split != "test":  # exemplars still come from MATH train (disjoint from MATH-500)
            raise ValueError(f"math500 has only a test split, not {split!r}")
        return super().load(split)

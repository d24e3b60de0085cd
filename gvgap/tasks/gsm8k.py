"""GSM8K: grade-school word problems, graded on the final number.

Two gradings, both always logged: *strict* reads the number after the last "The answer
is" (the format the exemplars teach; the paper's default), *flexible* reads the last
number anywhere. The paper attributes part of round-1 gains to format, which is exactly
the difference between the two.
"""

from __future__ import annotations

import re

from gvgap.data import load_rows
from gvgap.tasks.base import Problem, Task
from gvgap.tasks.numbers import NUMBER, canonical, clean_text, last_number
from gvgap.engines.base import cut_at_stop
from gvgap.tasks.common import choice, take_options, text_id

# Train-split rows (0-based line = `idx`) used as the fixed few-shot exemplars, in order.
EXEMPLAR_IDX = (0, 1, 2, 3, 4, 5, 6, 7)

# "The answer is", an optional ":" / markdown bold / "$" / "\(" / "\boxed{", then the number.
STRICT = re.compile(r"the answer is\s*:?\s*(?:\*\*)?\s*(?:\\?\$|\\\()?\s*(?:\\boxed\s*\{)?\s*(" + NUMBER.pattern + ")",
                    re.IGNORECASE)


def gold_number(answer: str) -> str:
    """The canonical number after '####' in a GSM8K solution."""
    num = canonical(answer.split("####")[-1])
    if num is None:
        raise ValueError(f"GSM8K solution without a number after ####: {answer[-80:]!r}")
    return num


def worked_answer(solution: str) -> str:
    """A train solution as a natural answer: no <<calc>> notes, one paragraph, format line."""
    body, _, final = solution.rpartition("####")
    body = re.sub(r"<<[^>]*>>", "", body)
    sentences = []
    for line in body.splitlines():
        line = line.strip()
        if line:
            sentences.append(line if line[-1] in ".!?" else line + ".")
    return " ".join(sentences + [f"The answer is {final.strip()}."])


def strict_answer(completion: str) -> str | None:
    found = STRICT.findall(clean_text(completion))
    return canonical(found[-1]) if found else None


def flexible_answer(completion: str) -> str | None:
    return last_number(completion)


class GSM8KTask(Task):
    name = "gsm8k"
    splits = ("test", "train")  # train: 7473 rows, minus the exemplars (task.train_split=train)
    stop = ("\n\nQuestion:", "\nQuestion:")
    DEFAULTS = {"source": "auto", "data_dir": None, "utility": "strict"}

    def __init__(self, num_shots: int = 4, limit: int | None = None, seed: int = 0,
                 train_limit: int | None = None, **options):
        super().__init__(num_shots=num_shots, limit=limit, seed=seed, train_limit=train_limit, **options)
        opts = take_options(self.name, options, self.DEFAULTS)
        self.source = choice("source", opts["source"], ("auto", "local", "hub"))
        self.data_dir = opts["data_dir"]
        self.mode = choice("utility", opts["utility"], ("strict", "flexible"))
        if not 0 <= num_shots <= len(EXEMPLAR_IDX):
            raise ValueError(f"generation.num_shots must be in 0..{len(EXEMPLAR_IDX)} for gsm8k, got {num_shots}")
        self._problems: dict[str, list[Problem]] = {}
        self._prefix: str | None = None

    def load(self, split: str = "test") -> list[Problem]:
        if split not in self._problems:
            rows = load_rows("gsm8k", split, self.source, self.data_dir)
            self._problems[split] = [
                Problem(id=text_id("gsm8k", r["question"]),
                        question=r["question"], gold=gold_number(r["answer"]),
                        meta={"split": split, "index": i, "solution": r["answer"]})
                for i, r in enumerate(rows)
            ]
        return self._problems[split]

    def exemplar_questions(self) -> set[str]:
        """All EXEMPLAR_IDX rows, whatever num_shots: the train prompts do not move with it."""
        train = self.load("train")
        return {train[i].question for i in EXEMPLAR_IDX}

    def exemplars(self) -> list[tuple[str, str]]:
        train = self.load("train")
        return [(train[i].question, worked_answer(train[i].meta["solution"]))
                for i in EXEMPLAR_IDX[: self.num_shots]]

    def build_prompt(self, problem: Problem) -> str:
        if self._prefix is None:
            self._prefix = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in self.exemplars())
        return f"{self._prefix}Question: {problem.question}\nAnswer:"

    def extract_answer(self, completion: str) -> str | None:
        completion = cut_at_stop(completion, self.stop)
        return strict_answer(completion) if self.mode == "strict" else flexible_answer(completion)

    def utility(self, problem: Problem, completion: str) -> float:
        return float(self.extract_answer(completion) == problem.gold)

    def extra_utilities(self, problem: Problem, completion: str) -> dict[str, float]:
        completion = cut_at_stop(completion, self.stop)
        return {"utility_strict": float(strict_answer(completion) == problem.gold),
                "utility_flexible": float(flexible_answer(completion) == problem.gold)}

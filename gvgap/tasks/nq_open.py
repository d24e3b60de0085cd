"""Natural Questions (open): short factual answers, graded by normalised exact match.

Normalisation is SQuAD's (lower-case, drop punctuation and the articles a/an/the,
collapse spaces) plus two unicode fixes: NFKC first, and *all* unicode punctuation is
dropped, so "2001–2002" (en dash, as in the gold data) matches a model's "2001-2002".
Accents are kept ("Röntgen" != "Rontgen"), as in the standard metric.
A candidate that this normalisation empties (`A`, `O`, `The The`, `A+`, `*`) is compared
after a lighter one instead (NFKC, case and spaces only), so it can still be matched.
"""

from __future__ import annotations

import re
import string
import unicodedata

from gvgap.data import load_rows
from gvgap.tasks.base import Problem, Task
from gvgap.tasks.common import choice, take_options, text_id

# NQ ships no train split offline, so the exemplars are written for this project:
# ordinary trivia questions in NQ's style (lower case, no "?"), checked in the tests
# to be absent from the test set.
EXEMPLARS = (
    ("who wrote the novel pride and prejudice", "Jane Austen"),
    ("how many bones are in the adult human body", "206"),
    ("what is the chemical symbol for gold", "Au"),
    ("when did apollo 11 land on the moon", "July 20, 1969"),
    ("where is the headquarters of the united nations", "New York City"),
    ("who discovered penicillin", "Alexander Fleming"),
    ("what is the longest river in south america", "the Amazon"),
    ("which planet is known as the red planet", "Mars"),
)

_ASCII_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in _ASCII_PUNCT and not unicodedata.category(ch).startswith("P"))
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def light_normalize(text: str) -> str:
    """NFKC, lower case, single spaces: for candidates that `normalize` empties."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def matches(pred: str, candidates) -> bool:
    """Whether `pred` equals one candidate: normalised, or lightly normalised when the
    candidate normalises to nothing."""
    full, light = normalize(pred), light_normalize(pred)
    for cand in candidates:
        target = normalize(cand)
        if (full == target) if target else (light and light == light_normalize(cand)):
            return True
    return False


_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])")
_WRAPPERS = (("**", "**"), ("__", "__"), ("*", "*"), ("_", "_"), ("`", "`"), ('"', '"'), ("'", "'"),
             ("“", "”"))


def unwrap(text: str) -> str:
    """Remove markdown emphasis / quotes that wrap something (`**Paris**` -> `Paris`); a
    symbol answer (`*`, `**`, `+`) is left as it is."""
    text = text.strip()
    while True:
        for left, right in _WRAPPERS:
            if len(text) > len(left) + len(right) and text.startswith(left) and text.endswith(right):
                inner = text[len(left):-len(right)].strip()
                if inner:
                    text = inner
                    break
        else:
            return text


def first_line_answer(completion: str) -> str | None:
    """The answer is the first non-empty line, minus a leading 'A:', a final '.' and
    wrapping quotes / markdown emphasis."""
    for line in completion.splitlines():
        line = line.strip()
        if line.lower().startswith("a:"):
            line = line[2:].strip()
        line = _MD_ESCAPE.sub(r"\1", unwrap(line))  # `\*` -> `*`
        if line.endswith(".") and len(line) > 1:
            line = unwrap(line[:-1])
        if line:
            return line
    return None


class NQOpenTask(Task):
    name = "nq_open"
    stop = ("\n",)
    DEFAULTS = {"source": "auto", "data_dir": None}

    def __init__(self, num_shots: int = 4, limit: int | None = None, seed: int = 0, **options):
        super().__init__(num_shots=num_shots, limit=limit, seed=seed, **options)
        opts = take_options(self.name, options, self.DEFAULTS)
        self.source = choice("source", opts["source"], ("auto", "local", "hub"))
        self.data_dir = opts["data_dir"]
        if not 0 <= num_shots <= len(EXEMPLARS):
            raise ValueError(f"generation.num_shots must be in 0..{len(EXEMPLARS)} for nq_open, got {num_shots}")
        self._problems: list[Problem] | None = None
        self._prefix = "".join(f"Q: {q}?\nA: {a}\n\n" for q, a in EXEMPLARS[:num_shots])

    def load(self, split: str = "test") -> list[Problem]:
        if split != "test":
            raise ValueError(f"nq_open has only a test split offline, not {split!r}")
        if self._problems is None:
            rows = load_rows("nq_open", "test", self.source, self.data_dir)
            self._problems = [
                Problem(id=text_id("nq_open", r["question"]),
                        question=r["question"], gold=tuple(r["answers"]), meta={"index": i})
                for i, r in enumerate(rows)
            ]
        return self._problems

    def build_prompt(self, problem: Problem) -> str:
        return f"{self._prefix}Q: {problem.question}?\nA:"

    def describe(self, problem: Problem) -> str:
        return problem.question + "?"

    def extract_answer(self, completion: str) -> str | None:
        return first_line_answer(completion)

    def utility(self, problem: Problem, completion: str) -> float:
        pred = self.extract_answer(completion)
        return float(pred is not None and matches(pred, problem.gold))

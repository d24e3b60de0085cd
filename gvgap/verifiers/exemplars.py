"""The worked judgements shown to a verifier before the sample it judges (few-shot).

Each task family has MAX_SHOTS or more cases; a case is one problem with a right and a
wrong attempt and, for each, why it is right or wrong. A prompt with k shots shows the
first k cases (gvgap.verifiers.prompts decides which attempt of each). All text is ours.

Math attempts end in the answer line of the task being verified (answer_line), so an
exemplar never contradicts the grading rule the prompt states. Sudoku reasons are written
by `sudoku_reasons` from the grids, so they are right by construction; sudoku exemplar
puzzles use the task's own clue rule and number of givens, with another hash salt.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

MAX_SHOTS = 4  # every family has at least this many cases (a test checks)


@dataclass(frozen=True)
class Case:
    problem: str
    good: str
    bad: str
    why_good: str
    why_bad: str


# (problem, right working, right answer, wrong working, wrong answer, why right, why wrong)
_MATH = (
    ("A shelf has 4 rows of 6 cups. How many cups are on the shelf?",
     "4 rows of 6 cups is 4 x 6 = 24 cups.", "24", "4 rows of 6 cups is 4 + 6 = 10 cups.", "10",
     "4 x 6 = 24, the same as the final answer.", "The rows must be multiplied: 4 x 6 = 24, not 10."),
    ("Mia had 30 stickers and gave 12 to her brother. Then she bought 5 more. How many stickers does she have now?",
     "After giving 12 away she has 30 - 12 = 18. Buying 5 more gives 18 + 5 = 23.", "23",
     "After giving 12 away she has 30 - 12 = 18. Buying 5 more gives 18 - 5 = 13.", "13",
     "30 - 12 = 18 and 18 + 5 = 23; every step and the final answer are right.",
     "Buying stickers adds to her total: 18 + 5 = 23, not 13."),
    ("A train runs at 60 km per hour for 2.5 hours. How many kilometres does it travel?",
     "Distance is speed times time: 60 x 2.5 = 150 km.", "150",
     "Distance is speed times time: 60 x 2.5 = 120 km.", "120",
     "60 x 2.5 = 150, so 150 km is right.", "60 x 2.5 is 150; 120 would be 60 x 2."),
    ("Tickets cost $8 for an adult and $5 for a child. What do 2 adults and 3 children pay in total?",
     "The adults pay 2 x 8 = 16 dollars and the children 3 x 5 = 15 dollars, so together 16 + 15 = 31 dollars.",
     "31",
     "The adults pay 2 x 8 = 16 dollars and the children 3 x 5 = 15 dollars, so together 16 x 15 = 240 dollars.",
     "240",
     "Both costs are right and adding them gives 31.", "The two costs must be added, 16 + 15 = 31, not multiplied."),
)

_QA = (
    Case("which planet is closest to the sun", "Mercury", "Venus",
         "Mercury orbits closest to the sun.", "Venus is second; Mercury is closest."),
    Case("who wrote the novel pride and prejudice", "Jane Austen", "Charlotte Bronte",
         "Jane Austen wrote it (1813).", "Charlotte Bronte wrote Jane Eyre; Pride and Prejudice is Jane Austen's."),
    Case("what is the capital city of australia", "Canberra", "Sydney",
         "Canberra is the capital.", "Sydney is the largest city, but the capital is Canberra."),
    Case("how many legs does a spider have", "eight", "six",
         "Spiders have eight legs.", "Six legs is an insect; a spider has eight."),
)

# Sudoku: a solution grid and a wrong grid for it, one mistake of a different kind each.
# One more case than MAX_SHOTS, so a prompt can leave out the case whose solution is the
# solution of the puzzle being judged.
_SUDOKU = (
    ("2143341212344321", "2143341212434321"),  # two digits swapped in row 3: columns 3, 4 repeat
    ("3412214343211234", "3412211343211234"),  # a digit written twice in row 2
    ("4321123434122143", "4321123430122143"),  # a cell left empty
    ("1342243131244213", "2431134231244213"),  # rows 1 and 2 swapped: a valid grid, givens lost
    ("2413314242311324", "2413314242311124"),  # a digit written twice in row 4
)
SUDOKU_SOLUTIONS = frozenset(good for good, _ in _SUDOKU)

_UNIT_NAMES = [f"row {k + 1}" for k in range(4)] + [f"column {k + 1}" for k in range(4)] + \
    ["the top-left box", "the top-right box", "the bottom-left box", "the bottom-right box"]


def math_cases(answer_line) -> list[Case]:
    """The math cases, each attempt ending with answer_line(value)."""
    return [Case(q, f"{good} {answer_line(a)}", f"{bad} {answer_line(b)}", why_good, why_bad)
            for q, good, a, bad, b, why_good, why_bad in _MATH]


def qa_cases() -> list[Case]:
    return list(_QA)


def sudoku_reasons(puzzle: str, grid: str) -> tuple[str, bool]:
    """A short check of `grid` against `puzzle` (16 digits each, 0 = empty), and whether
    the grid is a valid solution: givens kept, no empty cell, no repeat in any unit."""
    from gvgap.tasks.sudoku import UNITS

    changed = [f"row {i // 4 + 1}, column {i % 4 + 1}" for i, (p, g) in enumerate(zip(puzzle, grid))
               if p != "0" and p != g]
    empty = grid.count("0")
    givens = 16 - puzzle.count("0")
    parts = [f"Givens: all {givens} kept." if not changed else f"Givens: changed at {'; '.join(changed)}."]
    if empty:
        parts.append(f"Empty cells: {empty}.")
    repeats = False
    for label, units in (("Rows", range(0, 4)), ("Columns", range(4, 8)), ("Boxes", range(8, 12))):
        bad = []
        for u in units:
            digits = [grid[i] for i in UNITS[u] if grid[i] != "0"]
            twice = sorted({d for d in digits if digits.count(d) > 1})
            if twice:
                bad.append(f"{_UNIT_NAMES[u]} repeats {' and '.join(twice)}")
        parts.append(f"{label}: " + ("; ".join(bad) + "." if bad else "no repeats."))
        repeats = repeats or bool(bad)
    return " ".join(parts), not (changed or empty or repeats)


@lru_cache(maxsize=None)
def sudoku_cases(givens: int | None, leave_out: str | None = None) -> tuple[Case, ...]:
    """The sudoku cases for puzzles with `givens` givens, without the one whose solution
    is `leave_out` (the solution of the puzzle being judged: never shown as an example)."""
    from gvgap.tasks.sudoku import make_puzzle, show

    cases = []
    for good, bad in _SUDOKU:
        if good == leave_out:
            continue
        puzzle = make_puzzle(good, givens, salt="verifier exemplar:")
        (why_good, ok_good), (why_bad, ok_bad) = sudoku_reasons(puzzle, good), sudoku_reasons(puzzle, bad)
        assert ok_good and not ok_bad, (good, bad)
        cases.append(Case(show(puzzle), show(good), show(bad), why_good, why_bad))
    return tuple(cases[:MAX_SHOTS])

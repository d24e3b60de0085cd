"""4x4 Sudoku: one puzzle per valid completed grid (288), each with a unique solution.

Clue rule (deterministic, no RNG): grids are taken in lexicographic order of their
16-digit strings. For each grid, visit the 16 cells in the order of
sha256(f"{grid}:{cell}") and blank a cell whenever the puzzle still has exactly one
solution afterwards, stopping as soon as `givens` digits are left (task.givens; default
7, the shape of the paper's App. G examples). With givens = null it never stops early
and gives *minimal* puzzles (no given can be removed): 4 to 6 givens. Every removal
leaves one given fewer and the walk ends at <= 6, so any target in 6..16 is reached.

A completion earns utility 1 iff the grid read from it is a valid Sudoku (every row,
column and 2x2 box holds 1-4 once) that keeps every given of the puzzle.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from functools import lru_cache

from gvgap.tasks.base import Problem, Task
from gvgap.engines.base import cut_at_stop
from gvgap.tasks.common import take_options

UNITS = tuple(
    [tuple(range(r * 4, r * 4 + 4)) for r in range(4)]
    + [tuple(range(c, 16, 4)) for c in range(4)]
    + [tuple(r * 4 + c for r in (br, br + 1) for c in (bc, bc + 1)) for br in (0, 2) for bc in (0, 2)]
)
PEERS = tuple(tuple(sorted({j for u in UNITS if i in u for j in u} - {i})) for i in range(16))


def is_valid_grid(grid: str) -> bool:
    """16 digits 1-4 with every row, column and box a permutation of 1234."""
    return (len(grid) == 16 and set(grid) <= set("1234")
            and all(len({grid[i] for i in u}) == 4 for u in UNITS))


def keeps_givens(puzzle: str, grid: str) -> bool:
    return len(grid) == 16 and all(p == "0" or p == g for p, g in zip(puzzle, grid))


def count_solutions(puzzle: str, stop_at: int = 2) -> int:
    """Number of completions of `puzzle` (0 = empty), counting no further than `stop_at`."""
    cells = [int(ch) for ch in puzzle]

    def go() -> int:
        best, best_free = -1, 0
        for i in range(16):  # branch on the most constrained empty cell
            if cells[i] == 0:
                used = 0
                for j in PEERS[i]:
                    used |= 1 << cells[j]
                free = [d for d in (1, 2, 3, 4) if not used >> d & 1]
                if best < 0 or len(free) < len(best_free):
                    best, best_free = i, free
                    if len(free) <= 1:
                        break
        if best < 0:
            return 1
        n = 0
        for d in best_free:
            cells[best] = d
            n += go()
            if n >= stop_at:
                break
        cells[best] = 0
        return n

    return go()


@lru_cache(maxsize=1)
def all_grids() -> tuple[str, ...]:
    """The 288 valid completed 4x4 grids, in lexicographic order."""
    rows = ["".join(p) for p in itertools.permutations("1234")]
    grids = [""]
    for _ in range(4):  # extend row by row, keeping only column/box-consistent prefixes
        grids = [g + r for g in grids for r in rows if _consistent(g + r)]
    return tuple(sorted(grids))


def _consistent(prefix: str) -> bool:
    return all(len({prefix[i] for i in u if i < len(prefix)}) == sum(i < len(prefix) for i in u) for u in UNITS)


GIVENS = 7  # the paper's example puzzles (App. G) show 7 givens
MIN_GIVENS = 6  # the largest minimal puzzle the clue rule makes: every target from here up is reached


def make_puzzle(grid: str, givens: int | None = GIVENS, salt: str = "") -> str:
    """The clue rule of the module docstring: `givens` digits left (None: a minimal
    puzzle); `salt` only for the prompt exemplars."""
    order = sorted(range(16), key=lambda c: hashlib.sha256(f"{salt}{grid}:{c}".encode()).hexdigest())
    cells = list(grid)
    for c in order:
        if givens is not None and 16 - cells.count("0") <= givens:
            break
        keep, cells[c] = cells[c], "0"
        if count_solutions("".join(cells)) != 1:
            cells[c] = keep
    if givens is not None and 16 - cells.count("0") != givens:
        raise ValueError(f"task.givens={givens}: grid {grid} has no such puzzle under the clue rule")
    return "".join(cells)


def check_givens(givens) -> None:
    """null, or a whole number the clue rule always reaches (MIN_GIVENS..16)."""
    if givens is not None and (isinstance(givens, bool) or not isinstance(givens, int)
                               or not MIN_GIVENS <= givens <= 16):
        raise ValueError(f"task.givens must be null (minimal puzzles, 4-6 givens) or a whole number "
                         f"in {MIN_GIVENS}..16, got {givens!r}")


@lru_cache(maxsize=None)
def all_puzzles(givens: int | None = GIVENS) -> tuple[tuple[str, str], ...]:
    """(puzzle, solution) for each of the 288 grids."""
    return tuple((make_puzzle(g, givens), g) for g in all_grids())


def show(grid: str) -> str:
    """'0321003004002100' -> '03 21\\n00 30\\n04 00\\n21 00' (the paper's format)."""
    return "\n".join(f"{grid[r:r + 2]} {grid[r + 2:r + 4]}" for r in range(0, 16, 4))


# -- reading a grid out of free text --------------------------------------------------------
_LABEL = re.compile(r"^\s*(?:row\s*\d\s*[:.)-]|r\d\s*[:.)-]|[A-Da-d]\s*[:.)]|\d\s*[:.)])", re.IGNORECASE)
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_SEP = re.compile(r"[\s|,;&\\\[\](){}+\-*.]")


def _row_digits(line: str) -> str | None:
    """The 4 digits of a line that is a grid row ('43 21', '|4|3|2|1|', 'Row 1: 4 3 2 1')."""
    for candidate in (line, _LABEL.sub("", line, count=1)):  # "4.3.2.1" has no label
        body = _SEP.sub("", candidate)
        if len(body) == 4 and body.isascii() and body.isdigit():
            return body
    return None


def read_grid(text: str) -> str | None:
    """The last 4x4 grid written in `text`, as 16 digits, or None.

    First choice: the last four consecutive row lines (blank or rule lines between rows
    are allowed, as in the paper's format). Fallback: the last run of 16 digits separated
    only by spaces/punctuation (e.g. '4321 1234 3412 2143' or '[[4,3,2,1],...]').
    """
    text = text.translate(_FULL_WIDTH)
    best, run = None, []
    for line in text.splitlines():
        if not any(ch.isalnum() for ch in line):  # blank or a rule line like "--+--"
            continue
        digits = _row_digits(line)
        if digits is None:
            run = []
            continue
        run.append(digits)
        if len(run) >= 4:
            best = "".join(run[-4:])
    if best is not None:
        return best
    runs = re.findall(r"(?<!\d)(?:\d[\s|,;&\\\[\]()]*){15}\d(?!\d)", text)
    return re.sub(r"\D", "", runs[-1]) if runs else None


# Prompt exemplars: the same clue rule with another hash salt, so no exemplar puzzle is
# a test puzzle (checked in the tests); an exemplar whose solution is the test puzzle's
# solution is skipped when building that prompt.
EXEMPLAR_GRIDS = ("1234341221434321", "2143341212344321", "3412214343211234", "4321123434122143",
                  "1342243131244213", "2413314242311324")
_UNIT_NAMES = [f"row {k + 1}" for k in range(4)] + [f"column {k + 1}" for k in range(4)] + \
    ["the top-left box", "the top-right box", "the bottom-left box", "the bottom-right box"]


def exemplar_puzzle(grid: str, givens: int | None = GIVENS) -> str:
    return make_puzzle(grid, givens, salt="exemplar:")


def explain(puzzle: str) -> str:
    """A short worked answer that fills one forced cell at a time and says why.

    Uses naked singles (one digit fits the cell) and hidden singles (one cell in a row,
    column or box can take the digit); the exemplars are chosen to need nothing else.
    """
    cells, steps = list(puzzle), []

    def fits(i: int) -> set[str]:
        return set("1234") - {cells[j] for j in PEERS[i]} if cells[i] == "0" else set()

    while "0" in cells:
        for i in range(16):
            if len(fits(i)) == 1:
                d = fits(i).pop()
                steps.append(f"row {i // 4 + 1}, column {i % 4 + 1} can only be {d}")
                break
        else:
            for u, unit in enumerate(UNITS):
                places = [(i, d) for d in "1234" for i in unit if d in fits(i)]
                for d in "1234":
                    spots = [i for i, e in places if e == d]
                    if len(spots) == 1 and d not in {cells[j] for j in unit}:
                        i = spots[0]
                        steps.append(f"{d} fits in only one cell of {_UNIT_NAMES[u]}: row {i // 4 + 1}, column {i % 4 + 1}")
                        break
                else:
                    continue
                break
            else:
                raise ValueError(f"exemplar {puzzle} needs more than singles")
        cells[i] = d
    return "; ".join(steps) + "."


@lru_cache(maxsize=None)
def _shot(grid: str, givens: int | None) -> str:
    puzzle = exemplar_puzzle(grid, givens)
    return f"Puzzle:\n{show(puzzle)}\nAnswer: {explain(puzzle)}\nSolution:\n{show(grid)}\n\n"


class Sudoku4Task(Task):
    name = "sudoku4"
    stop = ("\n\nPuzzle:", "\nPuzzle:")
    DEFAULTS: dict = {"givens": GIVENS}

    INSTRUCTIONS = (
        "Solve 4x4 Sudoku puzzles. A puzzle is four lines of digits, written as two pairs "
        "per line, with 0 for an empty cell. Fill every 0 with a digit from 1 to 4 so that "
        "each row, each column and each of the four 2x2 boxes contains 1, 2, 3 and 4 once, "
        "and keep every given digit where it is. Explain briefly, then write the finished "
        "grid after \"Solution:\" in the same four-line format.\n\n"
    )

    def __init__(self, num_shots: int = 4, limit: int | None = None, seed: int = 0, **options):
        super().__init__(num_shots=num_shots, limit=limit, seed=seed, **options)
        self.givens = take_options(self.name, options, self.DEFAULTS)["givens"]
        check_givens(self.givens)
        if not 0 <= num_shots <= len(EXEMPLAR_GRIDS) - 1:
            raise ValueError(f"generation.num_shots must be in 0..{len(EXEMPLAR_GRIDS) - 1} for sudoku4, got {num_shots}")
        self._problems: list[Problem] | None = None

    def load(self, split: str = "test") -> list[Problem]:
        if split != "test":
            raise ValueError(f"sudoku4 has only a test split, not {split!r}")
        if self._problems is None:
            self._problems = [
                Problem(id=f"sudoku4-{i:03d}", question=show(puzzle), gold=solution,
                        meta={"puzzle": puzzle, "givens": 16 - puzzle.count("0")})
                for i, (puzzle, solution) in enumerate(all_puzzles(self.givens))
            ]
        return self._problems

    def build_prompt(self, problem: Problem) -> str:
        grids = [g for g in EXEMPLAR_GRIDS if g != problem.gold][: self.num_shots]
        return f"{self.INSTRUCTIONS}{''.join(_shot(g, self.givens) for g in grids)}Puzzle:\n{problem.question}\nAnswer:"

    def describe(self, problem: Problem) -> str:
        return problem.question  # the verifier templates label it "Puzzle:" themselves

    def extract_answer(self, completion: str) -> str | None:
        return read_grid(cut_at_stop(completion, self.stop))

    def utility(self, problem: Problem, completion: str) -> float:
        grid = self.extract_answer(completion)
        return float(grid is not None and is_valid_grid(grid) and keeps_givens(problem.meta["puzzle"], grid))

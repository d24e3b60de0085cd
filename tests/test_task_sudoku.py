"""4x4 Sudoku: the 288 puzzles, the clue rule, the grid reader and the checker."""

import hashlib
import itertools
import random

import pytest

from gvgap.tasks import get_task
from gvgap.tasks.base import Problem
from gvgap.tasks.sudoku import (EXEMPLAR_GRIDS, all_puzzles, count_solutions, exemplar_puzzle,
                                explain, keeps_givens, read_grid, show)


# -- an independent brute-force reference (shares no code with the module) ------------------
def brute_valid(grid: str) -> bool:
    if len(grid) != 16 or any(ch not in "1234" for ch in grid):
        return False
    rows = [grid[4 * r:4 * r + 4] for r in range(4)]
    cols = ["".join(rows[r][c] for r in range(4)) for c in range(4)]
    boxes = ["".join(rows[r][c] for r in (br, br + 1) for c in (bc, bc + 1)) for br in (0, 2) for bc in (0, 2)]
    return all(sorted(u) == list("1234") for u in rows + cols + boxes)


def _brute_grids() -> list[str]:
    """All 4-row stacks of permutations with distinct columns, filtered by brute_valid."""
    perms = ["".join(p) for p in itertools.permutations("1234")]
    stacks = [""]
    for _ in range(4):
        stacks = [s + r for s in stacks for r in perms
                  if all(r[c] not in s[c::4] for c in range(4))]
    return [g for g in stacks if brute_valid(g)]


BRUTE_GRIDS = _brute_grids()


def brute_solutions(puzzle: str) -> list[str]:
    return [g for g in BRUTE_GRIDS if all(p in ("0", x) for p, x in zip(puzzle, g))]


@pytest.fixture(scope="module")
def task():
    return get_task("sudoku4")


@pytest.fixture(scope="module")
def problems(task):
    return task.load()


# -- the puzzle set ---------------------------------------------------------------------------
def test_288_puzzles_one_per_grid(problems):
    assert len(BRUTE_GRIDS) == 288
    assert len(problems) == 288
    assert sorted(p.gold for p in problems) == sorted(BRUTE_GRIDS)
    assert len({p.id for p in problems}) == 288


def test_every_puzzle_has_exactly_one_solution_the_gold(problems):
    for p in problems:
        assert brute_solutions(p.meta["puzzle"]) == [p.gold]


@pytest.mark.parametrize("givens", [7, None, 6, 11, 16])
def test_every_puzzle_has_the_requested_givens_and_a_unique_solution(givens):
    """task.givens: the count is exact (null: minimal, 4-6), and brute force finds one
    solution, the gold, for every puzzle; the default is the paper's 7."""
    problems = get_task("sudoku4", givens=givens).load()
    assert len(problems) == 288 and sorted(p.gold for p in problems) == sorted(BRUTE_GRIDS)
    counts = {16 - p.meta["puzzle"].count("0") for p in problems}
    assert counts == ({4, 5, 6} if givens is None else {givens})
    for p in problems:
        assert p.meta["givens"] == 16 - p.meta["puzzle"].count("0")
        assert brute_solutions(p.meta["puzzle"]) == [p.gold]
    assert get_task("sudoku4").givens == 7


def test_minimal_puzzles_are_minimal():
    """givens=null removes givens greedily, so no single given can be dropped."""
    for p in get_task("sudoku4", givens=None).load():
        puzzle = p.meta["puzzle"]
        for i, ch in enumerate(puzzle):
            if ch != "0":
                assert len(brute_solutions(puzzle[:i] + "0" + puzzle[i + 1:])) > 1


def test_generation_is_deterministic_and_pinned(problems):
    digest = hashlib.sha256("".join(p.meta["puzzle"] for p in problems).encode()).hexdigest()
    assert problems[0].meta["puzzle"] == "0004341220000300"  # 7 givens, from grid 1234341221434321
    assert all_puzzles(None)[0][0] == "0004300220000300"  # the same walk, run to a minimal puzzle
    assert problems[0].id == "sudoku4-000"
    assert digest == hashlib.sha256("".join(pz for pz, _ in all_puzzles()).encode()).hexdigest()
    # the 7-given puzzle is the minimal one's walk stopped early: it holds every minimal given
    assert all(keeps_givens(m, s) for (m, _), (s, _) in zip(all_puzzles(None), all_puzzles()))


def test_count_solutions_matches_brute_force():
    rng = random.Random(0)
    for _ in range(200):
        grid = rng.choice(BRUTE_GRIDS)
        puzzle = "".join(ch if rng.random() < 0.3 else "0" for ch in grid)
        assert count_solutions(puzzle, stop_at=10**6) == len(brute_solutions(puzzle))


def test_checker_agrees_with_brute_force_on_all_288_puzzles(task, problems):
    """For every puzzle and every valid grid, utility is 1 iff brute force calls it a solution."""
    for p in problems:
        sols = set(brute_solutions(p.meta["puzzle"]))
        for g in BRUTE_GRIDS:
            assert task.utility(p, "Solution:\n" + show(g)) == float(g in sols), (p.id, g)


def test_checker_agrees_with_brute_force_on_random_grids(task, problems):
    rng = random.Random(1)
    for _ in range(3000):
        p = rng.choice(problems)
        g = list(p.gold)
        for _ in range(rng.randint(0, 3)):  # corrupt 0-3 cells
            g[rng.randrange(16)] = rng.choice("012345")
        g = "".join(g)
        expect = brute_valid(g) and all(c in ("0", x) for c, x in zip(p.meta["puzzle"], g))
        assert task.utility(p, show(g)) == float(expect)


# -- the prompt -------------------------------------------------------------------------------
def test_prompt_format_and_no_leak(task, problems):
    for givens in (7, None, 6):  # exemplars follow task.givens; none is a test puzzle
        test_puzzles = {pz for pz, _ in all_puzzles(givens)}
        for g in EXEMPLAR_GRIDS:
            assert brute_valid(g)
            assert exemplar_puzzle(g, givens) not in test_puzzles
            assert brute_solutions(exemplar_puzzle(g, givens)) == [g]
            assert explain(exemplar_puzzle(g, givens)).endswith(".")
    assert all(16 - exemplar_puzzle(g).count("0") == 7 for g in EXEMPLAR_GRIDS)
    for p in problems:
        prompt = task.build_prompt(p)
        assert prompt.endswith(f"Puzzle:\n{show(p.meta['puzzle'])}\nAnswer:")
        assert prompt.count("Puzzle:\n") == 5  # 4 shots + the test puzzle
        assert show(p.gold) not in prompt  # its own solution is never an exemplar
    assert show("0321003004002100") == "03 21\n00 30\n04 00\n21 00"


def test_options_are_checked():
    with pytest.raises(ValueError, match="task.source"):
        get_task("sudoku4", source="local")
    with pytest.raises(ValueError, match="num_shots"):
        get_task("sudoku4", num_shots=9)
    for bad in (5, 17, 7.5, "7", True):
        with pytest.raises(ValueError, match="task.givens"):
            get_task("sudoku4", givens=bad)
    assert len(get_task("sudoku4", limit=10, seed=3).problems()) == 10


# -- grading realistic completions ------------------------------------------------------------
P = "0321003004002100"  # the paper's example puzzle (App. G); its solution:
S = "4321123434122143"
PROB = Problem(id="paper", question=show(P), gold=S, meta={"puzzle": P})
GOOD = show(S)

CASES = [
    ("paper format", "I filled A1 with 4.\nSolution:\n43 21\n12 34\n34 12\n21 43", 1),
    ("paper format with blank lines", "Solution:\n\n43 21\n\n12 34\n\n34 12\n\n21 43\n", 1),
    ("no spaces", "4321\n1234\n3412\n2143", 1),
    ("spaced digits", "4 3 2 1\n1 2 3 4\n3 4 1 2\n2 1 4 3", 1),
    ("markdown table", "| 4 | 3 | 2 | 1 |\n| 1 | 2 | 3 | 4 |\n| 3 | 4 | 1 | 2 |\n| 2 | 1 | 4 | 3 |", 1),
    ("python list", "The grid is [[4,3,2,1],[1,2,3,4],[3,4,1,2],[2,1,4,3]].", 1),
    ("one line", "Solution: 4321123434122143", 1),
    ("one line grouped", "Solution: 43 21 12 34 34 12 21 43", 1),
    ("row labels", "Row 1: 4 3 2 1\nRow 2: 1 2 3 4\nRow 3: 3 4 1 2\nRow 4: 2 1 4 3", 1),
    ("numbered rows", "1) 43 21\n2) 12 34\n3) 34 12\n4) 21 43", 1),
    ("comma rows", "4,3,2,1\n1,2,3,4\n3,4,1,2\n2,1,4,3", 1),
    ("box bars", "43|21\n12|34\n-----\n34|12\n21|43", 1),
    ("ascii art", "+--+--+\n|43|21|\n|12|34|\n+--+--+\n|34|12|\n|21|43|\n+--+--+", 1),
    ("latex matrix", "\\begin{pmatrix}\n4 & 3 & 2 & 1 \\\\\n1 & 2 & 3 & 4 \\\\\n3 & 4 & 1 & 2 \\\\\n2 & 1 & 4 & 3\n\\end{pmatrix}", 1),
    ("crlf", "Solution:\r\n43 21\r\n12 34\r\n34 12\r\n21 43\r\n", 1),
    ("tabs and spaces", "  43\t21  \n 12 34\n34  12\n\t21 43", 1),
    ("full-width digits", "４３ ２１\n１２ ３４\n３４ １２\n２１ ４３", 1),
    ("echo puzzle then solve", "Puzzle:\n03 21\n00 30\n04 00\n21 00\nSolution:\n" + GOOD, 1),
    ("reasoning with numbers first", "Row 1 misses 4, so A1 = 4. Column 1 has 4 and 2.\n" + GOOD, 1),
    ("wrong given", "Solution:\n34 21\n12 34\n43 12\n21 43", 0),
    ("valid grid ignoring givens", show("1234341221434321"), 0),
    ("duplicate in a row", "43 21\n12 34\n34 12\n21 44", 0),
    ("repeated row", "43 21\n12 34\n34 12\n43 21", 0),
    ("latin square, bad boxes", show("4321" "3214" "2143" "1432"), 0),
    ("text line splits the grid", "43 21\n12 34\nthen\n34 12\n21 43", 0),
    ("unfilled zero", "43 21\n12 34\n34 12\n21 40", 0),
    ("digit 5", "43 21\n12 35\n34 12\n21 43", 0),
    ("truncated after three rows", "Solution:\n43 21\n12 34\n34 1", 0),
    ("no grid at all", "This puzzle has no solution.", 0),
    ("empty", "", 0),
    ("last grid wins", GOOD + "\nWait, let me redo it:\n" + show("4321123434122134"), 0),
    ("a correction wins", show("4321123434122134") + "\nOops, fixed:\n" + GOOD, 1),
    ("invented next puzzle is cut off", GOOD + "\n\nPuzzle:\n00 12\n00 00\n30 00\n00 04\nAnswer: ...", 1),
    ("five-digit lines are not rows", "43 215\n12 34\n34 12\n21 43", 0),
    ("3x3 sudoku", "123\n231\n312", 0),
]


@pytest.mark.parametrize("label,completion,expected", CASES, ids=[c[0] for c in CASES])
def test_grading(task, label, completion, expected):
    assert task.utility(PROB, completion) == expected


def test_extract_answer_values(task):
    assert task.extract_answer("Solution:\n" + GOOD) == S
    assert task.extract_answer("no grid") is None
    assert task.extract_answer("Solution:\n43 21\n12 34\n34 1") is None
    assert task.extract_answer("Puzzle:\n03 21\n00 30\n04 00\n21 00") == P


def test_adversarial_long_text_is_fast(task):
    import time
    junk = ("1 2 3 " * 50_000) + "\n" + ("12\n" * 20_000) + "x" * 100_000
    t = time.perf_counter()
    assert task.utility(PROB, junk) == 0.0
    assert time.perf_counter() - t < 2.0
    assert read_grid("9" * 100_000) is None

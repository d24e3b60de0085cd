"""Verdict parsers on realistic and malformed verifier outputs: a verdict is read only
when it is there and unambiguous; everything else is None (stored as NaN, counted)."""

import pytest

from gvgap.verifiers.parsing import MAX_CHARS, parse_binary, parse_preference, parse_score

BINARY = [
    # realistic
    ("The sum 23 + 45 = 68 matches the stated answer.\nCorrectness: <correct>", 1.0),
    ("They subtracted instead of adding, so 12 is wrong.\nCorrectness: <incorrect>", 0.0),
    ("Correctness: <Correct>", 1.0),
    ("**Correctness:** <incorrect>", 0.0),
    ("**Correctness**: correct", 1.0),
    ("Justification: fine.\ncorrectness = incorrect.", 0.0),
    ("Correctness:\n<incorrect>", 0.0),
    ("Correctness: 'correct'", 1.0),
    # first verdict wins; later text is the model inventing a new problem
    ("Correctness: <incorrect>\n\nProblem: 2+2\nCorrectness: <correct>", 0.0),
    # the template echoed back is skipped, a real verdict after it is read
    ("Correctness: <correct> or <incorrect>\nThe answer 7 is right.\nCorrectness: <correct>", 1.0),
    # malformed / ambiguous
    ("Correctness: <correct> or <incorrect>", None),
    ("Correctness: <correct>/<incorrect>", None),
    ("Correctness: <correct>` or `Correctness: <incorrect>`", None),
    ("Correctness: correctly computed but", None),
    ("Correctness: not correct", None),
    ("The solution is correct.", None),
    ("Correctness: <", None),
    ("", None),
    (None, None),
    ("Score: 9", None),
]

SCORE = [
    ("The steps are right and the answer 68 is correct.\nScore: <10>", 10.0),
    ("Wrong final answer.\nScore: <1>", 1.0),
    ("Score: 8", 8.0),
    ("Score: 7/10", 7.0),
    ("**Score:** 9", 9.0),
    ("**Score**: 6.", 6.0),
    ("score = 4", 4.0),
    ("Score: 7.5", 7.5),
    ("Score: 9 - the working is clear", 9.0),
    ("Score: <3>\n\nProblem: next\nScore: <10>", 3.0),
    ("Score: 1 to 10\nThe answer is right.\nScore: 8", 8.0),
    # malformed / out of range / ambiguous
    ("Score: <score>", None),
    ("Score: 11", None),
    ("Score: 0", None),
    ("Score: 100", None),
    ("Score: 1234", None),
    ("Score: 1-10", None),
    ("Score: <8> or <9>", None),
    ("I would give it a nine.", None),
    ("Correctness: <correct>", None),
    ("", None),
    # another scale (issue 12, kind 6): an explicit denominator is rescaled to 1..10
    ("Score: 4/5", 8.0),
    ("Score: 3 out of 5", 6.0),
    ("Score: 45/100", 4.5),
    ("Score: 8 out of 10", 8.0),
    ("**Score:** 2 / 4", 5.0),
    ("Score: <4>/<5>", 8.0),
    ("Score: 4 (out of 5)", 8.0),
    ("Score: 3 on a scale of 1 to 5", 6.0),
    ("Score: 90/100 - nearly perfect", 9.0),
    ("Score: 10/10", 10.0),
    ("Score: 6/5", None),
    ("Score: 0/5", None),
    ("Score: 5/0", None),
    ("Score: 5 out of 100", None),
]

PREFERENCE = [
    ("A states the answer 42 and B does not.\nPreferred solution: <A>", "A"),
    ("B computes 3 x 4 = 12 correctly.\nPreferred solution: <B>", "B"),
    ("Preferred solution: A", "A"),
    ("Preferred Solution: **B**.", "B"),
    ("Preferred solution: Solution B", "B"),
    ("preferred solution = <A>", "A"),
    ("Preferred solution: 'B'", "B"),
    ("Preferred solution:\n<A>", "A"),
    ("Preferred solution: <B>\nProblem: another\nPreferred solution: <A>", "B"),
    ("Preferred solution: <A> or <B>\nA is right.\nPreferred solution: <A>", "A"),
    # malformed / ambiguous
    ("Preferred solution: <A> or <B>", None),
    ("Preferred solution: <A>/<B>", None),
    ("Preferred solution: <A>` or `Preferred solution: <B>", None),
    ("Preferred solution: AB", None),
    ("Preferred solution: a better one is hard to pick", None),
    ("Preferred solution: C", None),
    ("I prefer A.", None),
    ("Both are wrong.", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize("text, want", BINARY)
def test_binary(text, want):
    assert parse_binary(text) == want


@pytest.mark.parametrize("text, want", SCORE)
def test_score(text, want):
    assert parse_score(text) == want


@pytest.mark.parametrize("text, want", PREFERENCE)
def test_preference(text, want):
    assert parse_preference(text) == want


def test_at_least_fifteen_cases_each():
    assert min(len(BINARY), len(SCORE), len(PREFERENCE)) >= 15


def test_verdict_past_the_length_cap_is_not_read():
    assert parse_binary("x" * MAX_CHARS + "Correctness: <correct>") is None
    assert parse_binary("x" * (MAX_CHARS - 40) + "Correctness: <correct>") == 1.0


def test_hostile_input_has_no_verdict():
    # long runs of characters that a careless pattern would backtrack over for minutes
    texts = ["Score:" + " " * 50_000 + "x", "Correctness: " + "<" * 50_000, "preferred solution: " * 5_000,
             ("Score: " + "9" * 40 + " ") * 500, "correctness" + "*" * 50_000]
    for t in texts:
        assert (parse_binary(t), parse_score(t), parse_preference(t)) == (None, None, None)

"""Natural Questions (open): loading, prompts and normalised exact-match grading."""

import os
import time
from pathlib import Path

import pytest

from gvgap.data import DataError, parse_nq_line
from gvgap.tasks import get_task
from gvgap.tasks.nq_open import EXEMPLARS, normalize

DATA = Path(os.environ["GVGAP_DATA_DIR"])  # set by conftest; filled by its benchmark_data fixture


@pytest.fixture(scope="module")
def task():
    return get_task("nq_open", data_dir=str(DATA))


@pytest.fixture(scope="module")
def by_question(task):
    return {p.question: p for p in task.load()}


def test_load(task):
    problems = task.load()
    assert len(problems) == 3610
    assert len({p.id for p in problems}) == 3610
    assert problems[0].question == "who got the first nobel prize in physics"
    assert problems[0].gold == ("Wilhelm Conrad Röntgen",)
    assert all(isinstance(p.gold, tuple) and p.gold and all(isinstance(a, str) for a in p.gold) for p in problems)
    assert task.load() is problems
    with pytest.raises(ValueError, match="only a test split"):
        task.load("train")


def test_answer_lists_are_literals_never_code():
    assert parse_nq_line("q\t['a', \"b's\"]\n") == {"question": "q", "answers": ["a", "b's"]}
    with pytest.raises(ValueError):  # ast.literal_eval refuses calls: nothing is executed
        parse_nq_line("q\t__import__('os').system('touch /tmp/pwned')")
    with pytest.raises(DataError):
        parse_nq_line("q\t{'a': 1}")


def test_prompt(task):
    p = task.load()[0]
    prompt = task.build_prompt(p)
    assert prompt.endswith("Q: who got the first nobel prize in physics?\nA:")
    assert prompt.count("\nA: ") == 4 and prompt.startswith("Q: who wrote the novel pride and prejudice?\nA: Jane Austen\n\n")
    assert task.describe(p) == "who got the first nobel prize in physics?"
    assert "\n" in task.stop


def test_exemplars_are_not_test_questions(task):
    test_questions = {normalize(p.question) for p in task.load()}
    assert not {normalize(q) for q, _ in EXEMPLARS} & test_questions


def test_normalize():
    assert normalize("The  Amazon River!") == "amazon river"
    assert normalize("An apple a day") == "apple day"
    assert normalize("Monk’s Café") == normalize("Monk's Café") == "monks café"
    assert normalize("2001–2002") == normalize("2001-2002") == "20012002"
    assert normalize("Theodore") == "theodore"  # articles only as whole words


def test_options():
    with pytest.raises(ValueError, match="task.source"):
        get_task("nq_open", source="s3")
    with pytest.raises(ValueError, match="task.utility"):
        get_task("nq_open", utility="strict")


# (label, question, completion, expected utility)
Q1 = "who got the first nobel prize in physics"
Q2 = "when is the next deadpool movie being released"
Q3 = "which mode is used for short wave broadcast service"
Q4 = "what is the largest bill in american money"
Q5 = "when was the defensive 3 second rule implemented"
Q6 = "what is the largest magnitude earthquake that has occurred in the pacific northwest"
Q7 = "what is the name of the restaurant in seinfeld"
Q8 = "which episode does gideon die in criminal minds"
Q9 = "who sings gimme some lovin in days of thunder"
CASES = [
    ("exact", Q1, " Wilhelm Conrad Röntgen", 1),
    ("case and period", Q1, " wilhelm conrad röntgen.", 1),
    ("decomposed accent", Q1, " Wilhelm Conrad Ro\u0308ntgen", 1),
    ("accent dropped", Q1, " Wilhelm Conrad Rontgen", 0),
    ("partial name", Q1, " Wilhelm Röntgen", 0),
    ("extra words", Q1, " Wilhelm Conrad Röntgen in 1901", 0),
    ("sentence answer", Q1, " The first prize went to Wilhelm Conrad Röntgen.", 0),
    ("leading A:", Q1, "A: Wilhelm Conrad Röntgen", 1),
    ("quoted", Q1, ' "Wilhelm Conrad Röntgen"', 1),
    ("markdown bold", Q1, " **Wilhelm Conrad Röntgen**", 1),
    ("extra spaces", Q1, "  Wilhelm   Conrad  Röntgen ", 1),
    ("first line only", Q1, " Wilhelm Conrad Röntgen\nQ: who was second?\nA: Lorentz", 1),
    ("answer on the second line", Q1, "\n\nWilhelm Conrad Röntgen", 1),
    ("wrong first line", Q1, " Albert Einstein\nWilhelm Conrad Röntgen", 0),
    ("empty", Q1, "", 0),
    ("blank lines only", Q1, "\n \n", 0),
    ("punctuation only", Q1, " ...", 0),
    ("article only", Q1, " The", 0),
    ("date punctuation", Q2, " May 18 2018", 1),
    ("date other order", Q2, " 18 May 2018", 0),
    ("second candidate", Q3, " MFSK", 1),
    ("first candidate", Q3, " olivia", 1),
    ("both candidates", Q3, " Olivia and MFSK", 0),
    ("dollar sign dropped", Q4, " 100", 1),
    ("dollar sign kept", Q4, " $100", 1),
    ("full-width digits", Q4, " $１００", 1),
    ("unit words", Q4, " 100 dollars", 0),
    ("en dash vs hyphen", Q5, " 2001-2002 season", 1),
    ("article and dash", Q5, " The 2001–2002 Season", 1),
    ("year only", Q5, " 2001", 0),
    ("article dropped", Q6, " 1700 Cascadia earthquake", 1),
    ("curly apostrophe", Q7, " Monk’s", 1),
    ("straight apostrophe", Q7, " Monk's", 1),
    ("accent kept", Q7, " Monks Café", 1),
    ("doubled quotes in gold", Q8, " Nelson's Sparrow", 1),
    ("article candidate", Q9, " Spencer Davis Group", 1),
]


@pytest.mark.parametrize("label,question,completion,expected", CASES, ids=[c[0] for c in CASES])
def test_grading(task, by_question, label, question, completion, expected):
    assert task.utility(by_question[question], completion) == expected


def test_extract_answer(task):
    assert task.extract_answer(" Jane Austen.\nQ: next") == "Jane Austen"
    assert task.extract_answer("") is None
    assert task.extract_answer("\n\n") is None


def test_long_adversarial_text_is_fast(task, by_question):
    t = time.perf_counter()
    assert task.utility(by_question[Q1], "the " * 100_000) == 0.0
    assert task.utility(by_question[Q1], "x" * 1_000_000) == 0.0
    assert time.perf_counter() - t < 3.0


# Candidates that SQuAD normalisation empties (issue 12, kinds 4 and 5): compared after a
# lighter normalisation (case and spaces), and symbol answers are not eaten as markdown.
# (label, candidates, completion, expected)
SYMBOL_CASES = [
    ("letter A", ("A",), " A", 1),
    ("letter O", ("O",), " O", 1),
    ("doubled article", ("The The",), " The The", 1),
    ("grade A+", ("A+",), " A+", 1),
    ("letter in lower case with period", ("A",), " a.", 1),
    ("doubled article, case and spaces", ("The The",), "  the   THE ", 1),
    ("grade A+, bold", ("A+",), " **A+**", 1),
    ("article alone as a candidate", ("An",), " an", 1),
    ("plus is not A+", ("A+",), " A", 0),
    ("O is not zero", ("O",), " 0", 0),
    ("letter with an article is not the letter", ("A",), " The A", 0),
    ("empty answer never matches an empty candidate", ("...",), " ", 0),
    ("asterisk", ("*",), " *", 1),
    ("plus", ("+",), " +", 1),
    ("hash", ("#",), " #", 1),
    ("asterisk in backticks", ("*",), " `*`", 1),
    ("asterisk in quotes", ("*",), ' "*"', 1),
    ("plus in bold", ("+",), " **+**", 1),
    ("minus is not plus", ("+",), " -", 0),
    ("two asterisks are not one", ("*",), " **", 0),
    ("markdown-escaped asterisk", ("*",), " \\*", 1),
    ("markdown-escaped hash", ("#",), " \\#", 1),
    ("other candidates still normal", ("C#", "C sharp"), " c sharp", 1),
]


@pytest.mark.parametrize("label,candidates,completion,expected", SYMBOL_CASES, ids=[c[0] for c in SYMBOL_CASES])
def test_candidates_that_normalise_to_nothing(task, label, candidates, completion, expected):
    from gvgap.tasks.base import Problem

    assert task.utility(Problem(id="t", question="q", gold=candidates), completion) == expected

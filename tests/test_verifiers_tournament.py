"""Tournament verification with deterministic fake judges: known winners and survivors,
position-bias counting, coin flips for unreadable judgements, and the engine judge."""

import json
import math
import re

import numpy as np
import pytest

from gvgap.measure import measure
from gvgap.verifiers.base import score_matrix
from gvgap.verifiers.tournament import NOT_ENTERED, TournamentVerifier, first_position_stats
from gvgap.weight_fn.tournament import Tournament
from tests.test_verifiers_cot import ScriptedEngine, make_input


def value(text):
    return int(re.search(r"v(\d+)", text).group(1))


def better_judge(requests):
    """Prefers the solution with the larger number, whichever position it is shown in."""
    return [f"Preferred solution: <{'A' if value(a) > value(b) else 'B'}>" for _, a, b in requests]


def always_first(requests):
    return ["Both fine.\nPreferred solution: <A>" for _ in requests]


def run(solutions, judge, rounds=2, m=1, seed=3):
    data = make_input(solutions)
    data.seed = seed
    return TournamentVerifier(rounds=rounds, num_verifications=m, judge=judge).verify(None, data)


def test_known_winners_and_survivors():
    df = run([["v3", "v7", "v1", "v5"], ["v8", "v2", "v4", "v6"]], better_judge)
    s = score_matrix(df, ["p0", "p1"], 4)
    # round 1: (v3, v7) -> v7, (v1, v5) -> v5; round 2: v7 beats v5
    assert s[0].tolist() == [0, 2, 0, 1]
    # round 1: (v8, v2) -> v8, (v4, v6) -> v6; round 2: v8 beats v6
    assert s[1].tolist() == [2, 0, 0, 1]
    for k, kept in [(0, [1, 1, 1, 1]), (1, [0, 1, 0, 1]), (2, [0, 1, 0, 0])]:
        assert Tournament(round=k)(s)[0].tolist() == kept  # 2^(r-k) survivors of round k


def test_match_records_name_opponents_and_positions():
    df = run([["v3", "v7", "v1", "v5"]], better_judge)
    champion = json.loads(df.loc[df["sample_id"] == 1, "raw"].iloc[0])
    assert [(m["round"], m["opponent"], m["won"]) for m in champion] == [(1, 0, True), (2, 3, True)]
    assert all(m["shown"] in "AB" and not m["coin"] for m in champion)


def test_first_position_bias_is_counted():
    df = run([["v1", "v2", "v3", "v4"]] * 5, always_first)
    stats = first_position_stats(df)
    assert stats == {"first_position_win_rate": 1.0, "judged_matches": 15, "coin_flip_matches": 0}
    # a judge that follows quality wins in position A about half of the time, because A/B is randomised
    df = run([[f"v{i}", f"v{i + 1}", f"v{i + 3}", f"v{i + 2}"] for i in range(0, 400, 4)], better_judge)
    stats = first_position_stats(df)
    assert stats["judged_matches"] == 300
    assert 0.4 < stats["first_position_win_rate"] < 0.6


def test_unreadable_judgements_are_settled_by_counted_coin_flips():
    df = run([["v1", "v2", "v3", "v4"]] * 3, lambda reqs: ["no idea"] * len(reqs))
    stats = first_position_stats(df)
    assert stats["coin_flip_matches"] == 9 and stats["judged_matches"] == 0
    assert math.isnan(stats["first_position_win_rate"])
    for row in score_matrix(df, ["p0", "p1", "p2"], 4):
        assert sorted(row) == [0, 0, 1, 2]  # still a proper bracket: one champion, one finalist


def test_samples_past_two_to_the_r_do_not_enter():
    df = run([["v1", "v2", "v3", "v4", "v9", "v8"]], better_judge)
    s = score_matrix(df, ["p0"], 6)[0]
    assert s.tolist() == [0, 1, 0, 2, NOT_ENTERED, NOT_ENTERED]
    assert Tournament(round=0)(s[None])[0].tolist() == [1, 1, 1, 1, 0, 0]


def test_too_few_samples_names_the_config_fields():
    with pytest.raises(ValueError, match=r"verifier.rounds=3 .*generation.n_samples=4"):
        run([["v1", "v2", "v3", "v4"]], better_judge, rounds=3)


def test_seeded_and_repeated_tournaments():
    sols = [[f"v{i}" for i in range(8)]] * 4
    a, b = run(sols, always_first, rounds=3), run(sols, always_first, rounds=3)
    assert a.equals(b)  # same seed, same brackets
    c = run(sols, always_first, rounds=3, seed=4)
    assert not np.array_equal(a["score"], c["score"])
    two = run(sols, always_first, rounds=3, m=2)
    assert len(two) == 2 * len(a)
    s = score_matrix(two, ["p0", "p1", "p2", "p3"], 8)
    per_v = [score_matrix(two[two.verification_id == v], ["p0", "p1", "p2", "p3"], 8) for v in (0, 1)]
    assert np.allclose(s, (per_v[0] + per_v[1]) / 2)


def test_engine_judge_shows_both_solutions_in_the_shown_order():
    def judge_text(prompt, index, j):
        # the pair under judgement comes after the template's worked examples
        a, b = prompt.rsplit("Solution A:", 1)[1], prompt.rsplit("Solution B:", 1)[1]
        return f"Preferred solution: <{'A' if value(a) > value(b) else 'B'}>"

    engine = ScriptedEngine(judge_text)
    data = make_input([["v3", "v7", "v1", "v5"]])
    df = TournamentVerifier(rounds=2).verify(engine, data)
    assert score_matrix(df, ["p0"], 4)[0].tolist() == [0, 2, 0, 1]
    assert [len(c[0]) for c in engine.calls] == [2, 1]  # one generate call per round
    assert [c[2] for c in engine.calls] == [[0, 1], [2]]  # every judgement its own seed stream
    assert all(c[1].n == 1 for c in engine.calls)


def test_measure_reports_position_stats_for_tournament_runs():
    import pandas as pd

    sols = [["v3", "v7", "v1", "v5"], ["v8", "v2", "v4", "v6"]]
    ver = run(sols, always_first)
    gens = pd.DataFrame([{"prompt_id": f"p{i}", "sample_id": s, "completion": t, "answer": t,
                          "utility": float(t in ("v7", "v8")), "weight": np.nan}
                         for i, row in enumerate(sols) for s, t in enumerate(row)])
    m, _ = measure(gens, ver, Tournament(round=2))
    assert m["tournament"]["first_position_win_rate"] == 1.0 and m["tournament"]["judged_matches"] == 6
    assert m["score_histogram"]["values"] == [0.0, 1.0, 2.0] and m["score_histogram"]["counts"] == [4, 2, 2]

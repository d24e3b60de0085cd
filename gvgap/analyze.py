"""`python -m gvgap.analyze`: re-analyse finished runs from their artifacts.

  python -m gvgap.analyze RUN
      re-measure every round with the run's own config; check it reproduces metrics.json
  python -m gvgap.analyze RUN weight_fn=quantile weight_fn.q=0.5,0.6,0.7,0.8,0.9 [rounds=0] [out=DIR]
      gap vs threshold: every comma-separated value (Cartesian product over keys) is
      measured on the stored scores, no model loaded; writes gap_vs_threshold.{csv,md,png}
  python -m gvgap.analyze reverify RUN verifier=cot_score [verifier.model=smollm2_135m] [weight_fn=...] [out=DIR]
      verify the stored generations again with another verifier / verifier model; writes
      a new run directory (default RUN-reverify-<verifier>) with metrics and report
  python -m gvgap.analyze correlate RUN_A RUN_B ... [round=0] [out=DIR]
      Pearson correlation of the runs' verifier scores and per-prompt gaps (same generations)
  python -m gvgap.analyze report RUN
      (re)write RUN/report.md
  python -m gvgap.analyze results ROOT [out=docs/results.md] [notes=FILE]
      docs/results.md (tables, 95% intervals, CPU times, commands) and its figures in
      docs/results/ from the run folders of the CPU studies below ROOT (docs/results/run.sh)

Outputs go to RUN/analysis/ unless out=DIR is given. key=value arguments follow Hydra's
override grammar (e.g. weight_fn.round=range(0,6)); group options are composed by Hydra
(gvgap/analysis/overrides.py). A Hydra job folder (its name holds "=") is a run, not an
override.
"""

from __future__ import annotations

import sys
from pathlib import Path

COMMANDS = ("sweep", "reverify", "correlate", "report", "check", "results")


def _rounds_opt(options) -> list[int] | None:
    text = options.pop("rounds", None) or options.pop("round", None)
    if text is None:
        return None
    return [int(x) for x in str(text).split(",")]


def _no_more(options):
    if options:
        raise ValueError(f"unknown option {sorted(options)[0]}= (known: out, rounds)")


def cmd_check(run: str, options) -> int:
    from gvgap.analysis.remeasure import reproduce

    out = options.pop("out", None)
    _no_more(options)
    ok = True
    for r in reproduce(run, out):
        if not r["has_metrics"]:
            print(f"round {r['round']}: no metrics.json to compare; re-measured metrics written")
        elif r["equal"]:
            print(f"round {r['round']}: re-measured metrics reproduce metrics.json exactly")
        else:
            ok = False
            print(f"round {r['round']}: re-measured metrics DIFFER from metrics.json in: {', '.join(r['differs'])}")
    return 0 if ok else 1


def cmd_sweep(run: str, options, overrides) -> int:
    from gvgap.analysis.overrides import apply
    from gvgap.analysis.remeasure import sweep, write_sweep
    from gvgap.analysis.runs import load_config
    from gvgap.analysis.tables import markdown

    only = _rounds_opt(options)
    out = Path(options.pop("out", None) or Path(run) / "analysis")
    name = options.pop("name", "gap_vs_threshold")
    _no_more(options)
    if any(o.key_or_group != "weight_fn" and not o.key_or_group.startswith("weight_fn.") for o in overrides):
        raise ValueError("a sweep changes only weight_fn (use `reverify` to change the verifier)")
    combos = apply(load_config(run), overrides)
    df = sweep(run, combos, only)
    paths = write_sweep(df, out, name)
    print(markdown(df), end="")
    print(f"[gvgap.analyze] wrote {paths['csv']}, {paths['md']} and {paths['png']}")
    return 0


def cmd_reverify(run: str, options, overrides) -> int:
    from gvgap.analysis.overrides import apply
    from gvgap.analysis.reverify import reverify
    from gvgap.analysis.runs import load_config
    from gvgap.pipeline import summary_line

    only = _rounds_opt(options)
    out = options.pop("out", None)
    _no_more(options)
    if any(o.is_sweep_override() for o in overrides):
        raise ValueError("reverify takes one value per key (run it once per setting)")
    if not overrides:
        raise ValueError("reverify needs a change, e.g. verifier=cot_score or verifier.model=<model>")
    (_, cfg), = apply(load_config(run), overrides)
    chosen = [o.value() for o in overrides if o.key_or_group == "verifier"]
    vname = chosen[0] if chosen else str(cfg.verifier._target_).rsplit(".", 1)[-1].lower()
    out = out or f"{str(run).rstrip('/')}-reverify-{vname}"
    for m in reverify(run, cfg, out, only):
        print(f"[gvgap.analyze] round {m['round']}: {summary_line(m)}")
    print(f"[gvgap.analyze] artifacts: {out}")
    return 0


def cmd_correlate(runs: list[str], options) -> int:
    from gvgap.analysis.correlate import write

    t = int(options.pop("round", 0))
    out = Path(options.pop("out", None) or Path(runs[0]) / "analysis")
    _no_more(options)
    paths = write(runs, out, t)
    for p in paths.values():
        print(f"[gvgap.analyze] wrote {p}")
    return 0


def cmd_results(root: str, options) -> int:
    from gvgap.analysis.results import write

    out = options.pop("out", "docs/results.md")
    notes = options.pop("notes", None)
    if options:
        raise ValueError(f"unknown option {sorted(options)[0]}= (known: out, notes)")
    for p in write(root, out, notes):
        print(f"[gvgap.analyze] wrote {p}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from gvgap.analysis.overrides import split
    from gvgap.config import ConfigError

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command = argv.pop(0) if argv[0] in COMMANDS else None
    is_path = [("=" not in a) or Path(a).is_dir() for a in argv]  # Hydra job folders contain "="
    paths = [a for a, p in zip(argv, is_path) if p]
    try:
        options, overrides = split([a for a, p in zip(argv, is_path) if not p])
        if not paths:
            raise ValueError("name a run directory")
        if command == "correlate":
            return cmd_correlate(paths, options)
        if len(paths) > 1:
            raise ValueError(f"one run directory expected, got {len(paths)}: {' '.join(paths)}")
        run = paths[0]
        if command == "results":
            return cmd_results(run, options)
        if command == "report":
            from gvgap.report import write_report

            _no_more(options)
            print(f"[gvgap.analyze] wrote {write_report(run)}")
            return 0
        if command == "reverify":
            return cmd_reverify(run, options, overrides)
        if command == "sweep" or overrides:
            return cmd_sweep(run, options, overrides)
        return cmd_check(run, options)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"gvgap.analyze: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

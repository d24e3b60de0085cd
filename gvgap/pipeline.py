"""The self-improvement loop: for each round, generate -> verify -> measure -> update.

Stages talk only through files in the run directory. A stage whose output exists is
skipped, so a killed run resumes from its last finished stage. Generations and
verifications are also kept in a content-addressed cache, so a sweep that changes only
the verifier or the weight function never samples again.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gvgap import artifacts as A
from gvgap.config import validate
from gvgap.engines.base import SamplingParams
from gvgap.model.sources import cache_dir, model_fingerprint, resolve_model
from gvgap.measure import measure_round
from gvgap.report import write_report
from gvgap.tasks import get_task
from gvgap.verifiers.base import VerifyInput

log = logging.getLogger("gvgap")


def build_task(cfg: DictConfig):
    options = {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k not in ("name", "limit")}
    return get_task(cfg.task.name, num_shots=cfg.generation.num_shots, limit=cfg.task.limit, seed=cfg.seed, **options)


class EnginePool:
    """Keeps at most one model in memory: generator and verifier models load in turn."""

    def __init__(self, engine_cfg: DictConfig):
        self.engine_cfg = engine_cfg
        self.path, self.engine = None, None

    def get(self, model_path: str):
        if self.path != model_path:
            self.release()
            log.info("loading model %s", model_path)
            self.engine = instantiate(self.engine_cfg, model_path=model_path)
            self.path = model_path
        return self.engine

    def release(self):
        if self.engine is not None and hasattr(self.engine, "close"):
            self.engine.close()  # vLLM frees its workers only when asked
        self.engine, self.path = None, None
        gc.collect()


def _engine_identity(engine_cfg) -> dict:
    """Engine settings that change outputs (not progress bars or thread counts)."""
    d = OmegaConf.to_container(engine_cfg, resolve=True)
    return {k: v for k, v in d.items() if k not in ("progress", "threads")}


def generate_stage(cfg, task, problems, model_path, pool, rd: Path) -> tuple[pd.DataFrame, str]:
    path = rd / "generations.parquet"
    g = cfg.generation
    key = A.content_key("generations", model_fingerprint(model_path), _engine_identity(cfg.engine),
                        OmegaConf.to_container(cfg.task, resolve=True), OmegaConf.to_container(g),
                        cfg.seed, [p.id for p in problems])
    if path.exists():
        return A.read_parquet(path), key
    cached = cache_dir() / "generations" / f"{key}.parquet"
    if cached.exists():
        log.info("generations: cache hit %s", cached.name)
        df = A.read_parquet(cached)
    else:
        prompts = [task.build_prompt(p) for p in problems]
        params = SamplingParams(n=g.n_samples, temperature=g.temperature, top_p=g.top_p,
                                max_new_tokens=g.max_new_tokens, stop=tuple(task.stop), seed=cfg.seed)
        texts = pool.get(model_path).generate(prompts, params, indices=list(range(len(problems))))
        df = grade(task, problems, texts)
        A.write_parquet(df, cached)
    A.write_parquet(df, path)
    return df, key


def grade(task, problems, texts: list[list[str]]) -> pd.DataFrame:
    """One row per sample with its extracted answer and true utility."""
    task.prefetch(problems, texts)
    rows = []
    for problem, samples in zip(problems, texts):
        for sid, text in enumerate(samples):
            row = {"prompt_id": problem.id, "sample_id": sid, "completion": text,
                   "answer": task.extract_answer(text), "utility": float(task.utility(problem, text)),
                   "weight": float("nan")}
            row.update(task.extra_utilities(problem, text))
            rows.append(row)
    df = pd.DataFrame(rows)
    return df.astype({"prompt_id": str, "sample_id": int, "completion": str, "utility": float, "weight": float})


def verify_stage(cfg, task, problems, gens, gen_key, model_path, pool, rd: Path) -> pd.DataFrame:
    path = rd / "verifications.parquet"
    if path.exists():
        return A.read_parquet(path)
    verifier = instantiate(cfg.verifier, _convert_="all")
    vmodel = resolve_model(cfg.verifier.model) if cfg.verifier.get("model") else model_path
    key = A.content_key("verifications", gen_key, OmegaConf.to_container(cfg.verifier, resolve=True),
                        model_fingerprint(vmodel) if verifier.needs_model else None, _engine_identity(cfg.engine),
                        cfg.seed)
    cached = cache_dir() / "verifications" / f"{key}.parquet"
    if cached.exists():
        log.info("verifications: cache hit %s", cached.name)
        df = A.read_parquet(cached)
    else:
        n = int(gens["sample_id"].max()) + 1
        by_prompt = {pid: grp.sort_values("sample_id")["completion"].tolist() for pid, grp in gens.groupby("prompt_id")}
        completions = [by_prompt[p.id] + [""] * (n - len(by_prompt[p.id])) for p in problems]
        engine = pool.get(vmodel) if verifier.needs_model else None
        df = verifier.verify(engine, VerifyInput(task=task, problems=problems, completions=completions, seed=cfg.seed))
        A.write_parquet(df, cached)
    A.write_parquet(df, path)
    return df


def measure_stage(cfg, task, gens, ver, rd: Path, t: int) -> dict:
    path = rd / "metrics.json"
    if path.exists():
        return A.read_json(path)
    metrics, weights = measure_round(cfg, gens, ver, t, u_max=task.u_max)
    order = {pid: i for i, pid in enumerate(dict.fromkeys(gens["prompt_id"]))}
    gens = gens.copy()
    gens["weight"] = weights[gens["prompt_id"].map(order).to_numpy(), gens["sample_id"].to_numpy()]
    A.write_parquet(gens, rd / "generations.parquet")
    A.write_json(metrics, path)
    return metrics


def update_stage(cfg, task, problems, gens, model_path, pool, rd: Path) -> str:
    out = rd / "model"
    if (out / "config.json").exists():
        return str(out)
    pool.release()  # free the inference model before training
    updater = instantiate(cfg.updater, _convert_="all")
    prompts = {p.id: task.build_prompt(p) for p in problems}
    records = gens.assign(prompt=gens["prompt_id"].map(prompts))
    return updater.update(model_path, records, str(out), seed=cfg.seed)


def run(cfg: DictConfig, run_dir: str | None = None) -> list[dict]:
    """Run every round; return the metrics of each. Resumes whatever is already on disk."""
    validate(cfg)
    run_dir = Path(run_dir or cfg.run_dir or "outputs/run")
    run_dir.mkdir(parents=True, exist_ok=True)
    A.write_text(OmegaConf.to_yaml(cfg, resolve=True), run_dir / "config.yaml")
    task = build_task(cfg)
    problems = task.problems()
    if not problems:
        raise ValueError(f"task {cfg.task.name!r} has no problems")
    logger = instantiate(cfg.logger)
    logger.start(OmegaConf.to_container(cfg, resolve=True), str(run_dir))
    pool = EnginePool(cfg.engine)
    model_path = resolve_model(cfg.model)
    rounds = []
    try:
        for t in range(cfg.iterations + 1):
            rd = A.round_dir(run_dir, t)
            gens, gen_key = generate_stage(cfg, task, problems, model_path, pool, rd)
            ver = verify_stage(cfg, task, problems, gens, gen_key, model_path, pool, rd)
            metrics = measure_stage(cfg, task, gens, ver, rd, t)
            rounds.append(metrics)
            A.write_metrics_jsonl(run_dir, rounds)
            logger.log_round(t, metrics)
            log.info("round %d: %s", t, summary_line(metrics))
            if t < cfg.iterations:
                model_path = update_stage(cfg, task, problems, A.read_parquet(rd / "generations.parquet"),
                                          model_path, pool, rd)
    finally:
        pool.release()
        task.close()
        logger.finish()
    write_report(run_dir)
    return rounds


def summary_line(m: dict) -> str:
    pk = " ".join(f"pass@{k}={v:.3f}" for k, v in (m.get("pass_at_k") or {}).items())
    rel = m.get("gap_rel")
    rel_s = "nan" if rel is None or rel != rel else f"{rel:+.4f}"
    return (f"accuracy={m['accuracy']:.4f} weighted_accuracy={m['weighted_accuracy']:.4f} "
            f"gap={m['gap']:+.4f} gap_rel={rel_s} {pk}")

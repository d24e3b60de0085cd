"""The self-improvement loop: for each round, generate -> verify -> measure -> update.

Stages talk only through files in the run directory. Each output has a key file beside
it (gvgap.rundir_guard); a stage is skipped when its output exists under the key the
current config gives, so a killed run resumes from its last finished stage and a changed
config never reuses a stale output. Generations and verifications are also kept in a
content-addressed cache, so a sweep that changes only the verifier or the weight function
never samples again. With stage_processes on (gvgap.stage_process), generate, verify and
update each run in a child process; the parent only measures.

With task.train_split set, each round also generates, verifies and measures the train
prompts in round_NN/train/ (same stages, keys and caches); the update trains on those
only, and the round's metrics.json carries their metrics under `train`.
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gvgap import artifacts as A
from gvgap import rundir_guard as G
from gvgap.config import ConfigError, validate
from gvgap.engines.base import SamplingParams
from gvgap.model.sources import cache_dir, resolve_model
from gvgap.measure import measure_round
from gvgap.report import write_report
from gvgap.stage_keys import PROMPT_SET_KEYS, generations_key, metrics_key, model_key, verifications_key
from gvgap.stage_process import run_child, use_children
from gvgap.tasks import get_task
from gvgap.verifiers.base import VerifyInput

log = logging.getLogger("gvgap")


TRAIN_DIR = "train"  # round_NN/train/: the train prompts' stages when task.train_split is set


def build_task(cfg: DictConfig):
    skip = ("name", "limit", *PROMPT_SET_KEYS)
    options = {k: v for k, v in OmegaConf.to_container(cfg.task, resolve=True).items() if k not in skip}
    if cfg.task.get("train_limit") is not None:
        options["train_limit"] = cfg.task.train_limit
    return get_task(cfg.task.name, num_shots=cfg.generation.num_shots, limit=cfg.task.limit, seed=cfg.seed, **options)


def train_problems(cfg, task) -> list | None:
    """The prompts D_t is built from when task.train_split is set; None: the evaluation
    prompts themselves (the paper's Algorithm 1, one prompt set X)."""
    split = cfg.task.get("train_split")
    return task.problems(split) if split else None


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
        if self.engine is not None:
            self.engine.close()  # vLLM frees its workers only when asked
        self.engine, self.path = None, None
        gc.collect()


def generate_stage(cfg, task, problems, model_path, pool, rd: Path) -> tuple[pd.DataFrame, str]:
    path = rd / "generations.parquet"
    g = cfg.generation
    key = generations_key(cfg, problems, model_path)
    if G.reusable(rd, "generations", key):
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
    G.record(rd, "generations", key)
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
    verifier = instantiate(cfg.verifier, _convert_="all")
    vmodel = resolve_model(cfg.verifier.model) if cfg.verifier.get("model") else model_path
    key = verifications_key(cfg, gen_key, model_path, verifier)
    if G.reusable(rd, "verifications", key):
        return A.read_parquet(path)
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
    G.record(rd, "verifications", key)
    return df


def measure_stage(cfg, task, gens, ver, rd: Path, t: int) -> dict:
    path = rd / "metrics.json"
    key = metrics_key(cfg, rd, t)
    if G.reusable(rd, "metrics", key):
        return A.read_json(path)
    metrics, weights = measure_round(cfg, gens, ver, t, u_max=task.u_max)
    order = {pid: i for i, pid in enumerate(dict.fromkeys(gens["prompt_id"]))}
    gens = gens.copy()
    gens["weight"] = weights[gens["prompt_id"].map(order).to_numpy(), gens["sample_id"].to_numpy()]
    A.write_parquet(gens, rd / "generations.parquet")
    A.write_json(metrics, path)
    G.record(rd, "metrics", key)
    return metrics


def update_stage(cfg, task, problems, model_path, pool, rd: Path, src: Path | None = None) -> str:
    """Train on the weighted samples in `src` (default: `rd`; the train prompts' folder
    when task.train_split is set); write the model to rd/model."""
    out, src = rd / "model", src or rd
    key = model_key(cfg, src)
    if G.reusable(rd, "model", key):
        return str(out)
    pool.release()  # free the inference model before training
    updater = instantiate(cfg.updater, _convert_="all")
    prompts = {p.id: task.build_prompt(p) for p in problems}
    gens = A.read_parquet(src / "generations.parquet")
    records = gens.assign(prompt=gens["prompt_id"].map(prompts))
    path = updater.update(model_path, records, str(out), seed=cfg.seed)
    G.record(rd, "model", key)
    return path


def _stage_here(stage: str, cfg, task, problems, model_path, pool, rd: Path) -> None:
    """One model-loading stage in this process (the child's body, or the in-process run).
    `train_generate` / `train_verify` are the same stages on the train prompts, in rd/train."""
    if stage.startswith("train_"):
        stage, rd = stage[len("train_"):], rd / TRAIN_DIR
    if stage == "generate":
        generate_stage(cfg, task, problems, model_path, pool, rd)
    elif stage == "verify":
        gens = A.read_parquet(rd / "generations.parquet")
        verify_stage(cfg, task, problems, gens, G.stored_key(rd, "generations"), model_path, pool, rd)
    elif stage == "update":
        update_stage(cfg, task, problems, model_path, pool, rd, rd / TRAIN_DIR if cfg.task.get("train_split") else rd)
    else:
        raise ValueError(f"unknown stage {stage!r}")


def run_stage(stage: str, cfg, t: int, model_path: str, run_dir: Path) -> None:
    """A stage of round t on its own, from the config alone (the child process's entry)."""
    task = build_task(cfg)
    pool = EnginePool(cfg.engine)
    try:
        train = stage.startswith("train_") or (stage == "update" and cfg.task.get("train_split"))
        problems = train_problems(cfg, task) if train else task.problems()
        _stage_here(stage, cfg, task, problems, model_path, pool, A.round_dir(run_dir, t))
    finally:
        pool.release()
        task.close()


def run(cfg: DictConfig, run_dir: str | Path | None = None) -> list[dict]:
    """Run every round; return the metrics of each. Resumes whatever is already on disk
    under the same config; refuses (RunFolderConflict) a folder holding another config."""
    validate(cfg)
    overwrite = cfg.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ConfigError(f"overwrite must be true or false (got {overwrite!r})")
    run_dir = Path(run_dir or cfg.run_dir or "outputs/run")
    G.check_folder(run_dir, cfg, overwrite=overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    A.write_text(OmegaConf.to_yaml(cfg, resolve=True), run_dir / "config.yaml")
    # the config exactly as a child process reads it back, so parent and child keys agree
    cfg = OmegaConf.load(run_dir / "config.yaml")
    task = build_task(cfg)
    problems, train = task.problems(), train_problems(cfg, task)
    for name, probs in (("evaluation", problems), (f"train ({cfg.task.get('train_split')})", train)):
        if probs is not None and not probs:
            raise ValueError(f"task {cfg.task.name!r} has no {name} problems")
    children = use_children(cfg)
    if not children and cfg.iterations > 0 and str(cfg.engine._target_).endswith("VLLMEngine"):
        log.warning("stage_processes=never with engine=vllm: vLLM may not free GPU memory before the update")
    logger = instantiate(cfg.logger)
    logger.start(OmegaConf.to_container(cfg, resolve=True), str(run_dir))
    pool = EnginePool(cfg.engine)
    model_path = resolve_model(cfg.model)
    rounds = []

    def stage(name: str, t: int, probs, done) -> None:
        if done():
            return
        if children:
            run_child(name, t, model_path, run_dir)
            if not done():
                raise RuntimeError(f"{name} stage of round {t}: the child process exited 0 without its output")
        else:
            _stage_here(name, cfg, task, probs, model_path, pool, A.round_dir(run_dir, t))

    try:
        for t in range(cfg.iterations + 1):
            rd = A.round_dir(run_dir, t)
            # (stage prefix, folder, prompts): the evaluation prompts, then the train prompts if split
            sides = [("", rd, problems)] + ([("train_", rd / TRAIN_DIR, train)] if train else [])
            for prefix, d, probs in sides:
                key = generations_key(cfg, probs, model_path)
                stage(prefix + "generate", t, probs, lambda d=d, key=key: G.reusable(d, "generations", key))
            measured = []
            for prefix, d, probs in sides:
                key = verifications_key(cfg, G.stored_key(d, "generations"), model_path)
                stage(prefix + "verify", t, probs, lambda d=d, key=key: G.reusable(d, "verifications", key))
                gens, ver = A.read_parquet(d / "generations.parquet"), A.read_parquet(d / "verifications.parquet")
                measured.append(measure_stage(cfg, task, gens, ver, d, t))
            metrics = with_train(rd, *measured)
            rounds.append(metrics)
            A.write_metrics_jsonl(run_dir, rounds)
            logger.log_round(t, metrics)
            log.info("round %d: %s", t, summary_line(metrics))
            if t < cfg.iterations:
                src = sides[-1][1]  # the train prompts' folder if split, else the round's own
                stage("update", t, sides[-1][2], lambda: G.reusable(rd, "model", model_key(cfg, src)))
                model_path = str(rd / "model")
    finally:
        pool.release()
        task.close()
        logger.finish()
    write_report(run_dir)
    return rounds


def with_train(rd: Path, metrics: dict, train: dict | None = None) -> dict:
    """The round's metrics.json: the evaluation prompts' metrics, plus the train prompts'
    under `train` when the run has a train split (rewritten only when that changes)."""
    if train is None or metrics.get("train") == train:
        return metrics
    metrics = {**metrics, "train": train}
    A.write_json(metrics, rd / "metrics.json")
    return metrics


def summary_line(m: dict) -> str:
    pk = " ".join(f"pass@{k}={v:.3f}" for k, v in (m.get("pass_at_k") or {}).items())
    rel = m.get("gap_rel")
    rel_s = "nan" if rel is None or rel != rel else f"{rel:+.4f}"
    line = (f"accuracy={m['accuracy']:.4f} weighted_accuracy={m['weighted_accuracy']:.4f} "
            f"gap={m['gap']:+.4f} gap_rel={rel_s} {pk}")
    tr = m.get("train")
    return line if not tr else f"{line} | train: accuracy={tr['accuracy']:.4f} gap={tr['gap']:+.4f}"

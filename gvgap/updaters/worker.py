"""Entry point of every rank of a launched update: `python -m gvgap.updaters.worker JOB_DIR`.

JOB_DIR (written by distributed.launch) holds job.json (the updater class, its settings, the
input model, the seed, the temp output folder) and records.parquet (the round's records).
Every rank selects the same data (selection is seeded), builds the same TRL trainer and
trains; Accelerate splits the batches. Only rank 0 writes: the model into the temp folder
and result.json (the stats) into JOB_DIR. A skip (no data) is written as a result, exit 0.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def main(job_dir: str) -> int:
    from gvgap import artifacts as A
    from gvgap.updaters.common import Skip

    job_dir = Path(job_dir)
    job = json.loads((job_dir / "job.json").read_text())
    module, name = job["target"].rsplit(".", 1)
    updater = getattr(importlib.import_module(module), name)(**job["settings"])
    records = A.read_parquet(job_dir / "records.parquet")
    stats: dict = {}
    try:
        stats.update(updater.select(records, job["seed"]))
        updater.train_here(job["model_path"], Path(job["out"]), job["seed"], stats)
        result = {"stats": stats}
    except Skip as why:  # every rank sees the same data, so every rank skips
        result = {"skip": str(why)}
    if rank() == 0:
        A.write_json(result, job_dir / "result.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

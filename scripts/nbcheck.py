#!/usr/bin/env python
"""Notebook tooling for the course: the jupytext contract, nbval with recorded numbers, the book.

The ``notebooks/NN_topic.py`` jupytext percent files are the source of truth;
the paired ``NN_topic.ipynb`` (what Colab opens) is generated from them and
committed WITHOUT outputs. Output checking still works: cells marked
``# NBVAL_CHECK_OUTPUT`` (deterministic, rounded numbers only; never figures
or audio) get their expected text from ``notebooks/expected/NN_topic.json``,
recorded in fast mode by ``update`` and injected into temporary copies that
``pytest --nbval-lax`` runs. Every other cell is only executed.

Commands (run from anywhere; paths are relative to the repository):

    python scripts/nbcheck.py check                 # pairs in sync, no outputs, expected files fresh
    python scripts/nbcheck.py sync [--only 03]      # regenerate .ipynb from .py
    python scripts/nbcheck.py update [--only 03]    # execute (fast mode), record expected numbers
    python scripts/nbcheck.py test [--only 03 04]   # nbval-lax on injected copies (fast mode)
    python scripts/nbcheck.py book                  # the Jupyter Book, offline, warnings as errors

``book`` executes every chapter at the *book* size (``UDIFFSE_SIZE=book``: the
real settings on short audio, feasible on a 2-core CPU) into ``book/chapters/``
(git-ignored) and builds from there. Executions are cached in
``~/.cache/udiffse_lite/book`` (``UDIFFSE_BOOK_CACHE``), keyed on the chapter's
source, the package version and a digest of its code and checkpoint registry,
and the size: an unchanged chapter is not re-run. Stale chapters run side by side,
one per core (``--jobs``), each kernel with its share of the torch threads. On
the 2-core CPU a chapter takes 1.5-1.9x longer on one thread, but two at a time
finish the book about 1.3x sooner: the kernels' Python, plotting and start-up do
not use a second core. After the build the numbers
the text relies on are checked (:data:`CLAIMS`): chapter 11 must show both
priors improving SI-SDR, 12 its two-prior example enhancing and the lips deciding the order, 13
re-synthesis beating the input on LSD and PER, or the build fails. ``test`` (nbval) runs in fast mode.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = NOTEBOOKS / "expected"
BOOK = ROOT / "book"
CHAPTERS = BOOK / "chapters"  # executed copies the book is built from (git-ignored)
MARKER = "NBVAL_CHECK_OUTPUT"
PATTERN = re.compile(r"^\d\d_[a-z0-9_]+\.py$")
CELL_TIMEOUT = 300  # seconds per cell; fast-mode chapters take well under a minute in total
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
# the book does not show these: a widget without a live kernel is an empty box
DROP_MIME = ("application/vnd.jupyter.widget-view+json",)


# ----------------------------------------------------------------------------- helpers
def sources(only: list[str] | None = None) -> list[Path]:
    """The chapters' ``.py`` files, ``--only 03 07`` selects by number (or by name prefix)."""
    files = sorted(p for p in NOTEBOOKS.glob("*.py") if PATTERN.match(p.name))
    if only:
        files = [p for p in files if any(p.stem.startswith(o) for o in only)]
        if not files:
            sys.exit(f"nbcheck: no notebook matches {only}")
    return files


def rel(p: Path) -> str:
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return str(p)


def sha(text: str | bytes) -> str:
    if isinstance(text, str):
        text = text.encode()
    return hashlib.sha256(text).hexdigest()[:16]


def is_marked(cell) -> bool:
    return cell.cell_type == "code" and any(
        line.strip().lstrip("#").strip() == MARKER for line in cell.source.splitlines())


def read_py(py: Path):
    """The notebook a ``.py`` percent file describes, normalised for committing."""
    import jupytext

    nb = jupytext.read(py, fmt="py:percent")
    nb.nbformat, nb.nbformat_minor = 4, 5
    meta = nb.metadata
    meta["kernelspec"] = dict(KERNELSPEC)
    meta["language_info"] = {"name": "python"}
    # Colab: open on a GPU runtime (a Colab notebook's own metadata decides this)
    meta["accelerator"] = "GPU"
    meta["colab"] = {"provenance": [], "gpuType": "T4"}
    meta.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    meta["jupytext"].pop("text_representation", None)
    seen: dict[str, int] = {}
    for cell in nb.cells:
        # deterministic ids: a re-sync of an unchanged file changes nothing
        h = sha(cell.cell_type + cell.source)[:8]
        seen[h] = seen.get(h, 0) + 1
        cell["id"] = f"{h}-{seen[h]}"
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("lines_to_next_cell", None)
    return nb


def cell_signature(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def expected_path(py: Path) -> Path:
    return EXPECTED / f"{py.stem}.json"


def marked_cells(nb) -> list:
    return [c for c in nb.cells if is_marked(c)]


def load_expected(py: Path) -> dict | None:
    p = expected_path(py)
    return json.loads(p.read_text()) if p.exists() else None


def clean_output(out: dict) -> dict:
    """What a checked cell's output is compared on: text only (images are never checked)."""
    out = {k: v for k, v in dict(out).items() if k not in ("metadata", "transient", "execution_count")}
    if "data" in out:
        out["data"] = {k: v for k, v in out["data"].items() if k.startswith("text/")}
    if out.get("output_type") in ("execute_result", "display_data"):
        out["metadata"] = {}
    if out.get("output_type") == "execute_result":
        out["execution_count"] = 1
    return out


def expected_problems(py: Path, nb) -> list[str]:
    """Why ``notebooks/expected/NN.json`` does not fit the marked cells (empty: it fits)."""
    marked = marked_cells(nb)
    exp = load_expected(py)
    if not marked:
        return [] if exp is None or not exp["cells"] else [f"{expected_path(py).name} has entries "
                                                              "but the notebook marks no cell"]
    if exp is None:
        return [f"{expected_path(py).name} is missing: run `python scripts/nbcheck.py update --only "
                f"{py.stem[:2]}`"]
    if [e["source_sha"] for e in exp["cells"]] != [sha(c.source) for c in marked]:
        return [f"{expected_path(py).name} is stale (a checked cell changed): run "
                f"`python scripts/nbcheck.py update --only {py.stem[:2]}`"]
    return []


def fast_env(size: str = "fast") -> dict:
    """The kernels' environment: ``UDIFFSE_SIZE`` selects the chapters' knobs (fast / book / full)."""
    env = dict(os.environ, UDIFFSE_SIZE=size, PYDEVD_DISABLE_FILE_VALIDATION="1")
    env["UDIFFSE_FAST"] = "1" if size == "fast" else "0"
    env.pop("MPLBACKEND", None)  # the kernel must use its inline backend to capture figures
    return env


def package_digest() -> str:
    """Version and a hash of the package's code and shipped-checkpoint registry: what a chapter's
    outputs depend on besides its own source. Part of the book cache key."""
    h = hashlib.sha256()
    pkg = ROOT / "udiffse_lite"
    for f in sorted(pkg.rglob("*.py")) + sorted(pkg.rglob("registry.json")):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    version = re.search(r'__version__ = "([^"]+)"', (pkg / "__init__.py").read_text())
    return f"{version.group(1) if version else '?'}-{h.hexdigest()[:12]}"


def cache_key(py: Path, size: str) -> str:
    """Book cache key: the chapter's source, the package (version + code digest), the size."""
    return sha(py.read_bytes() + package_digest().encode() + size.encode())


BOOK_CACHE = Path(os.environ.get("UDIFFSE_BOOK_CACHE", Path.home() / ".cache" / "udiffse_lite" / "book"))


# ----------------------------------------------------------------------------- commands
def cmd_check(args) -> int:
    """Every .py has an in-sync, output-free .ipynb; every .ipynb has a .py; expected files fresh."""
    import nbformat

    problems = []
    pys = sources(args.only)
    for py in pys:
        ipynb = py.with_suffix(".ipynb")
        want = read_py(py)
        if not ipynb.exists():
            problems.append(f"{ipynb.name}: missing (run `python scripts/nbcheck.py sync`)")
            continue
        have = nbformat.read(ipynb, as_version=4)
        if cell_signature(have) != cell_signature(want):
            a, b = cell_signature(have), cell_signature(want)
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(f"{ipynb.name}: out of sync with {py.name} from cell {first} "
                            f"(run `python scripts/nbcheck.py sync --only {py.stem[:2]}`)")
        for i, c in enumerate(have.cells):
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None):
                problems.append(f"{ipynb.name}: cell {i} has outputs or an execution count "
                                "(commit notebooks without outputs: run sync)")
                break
        problems += [f"{py.name}: {p}" for p in expected_problems(py, want)]
    if not args.only:
        for ipynb in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
            if not ipynb.with_suffix(".py").exists():
                problems.append(f"{ipynb.name}: has no paired .py percent file (the source of truth)")
        problems += url_problems()
        problems += citation_problems()
    for p in problems:
        print("nbcheck:", p)
    print(f"nbcheck: checked {len(pys)} notebook pair(s): "
          + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


def repository_url() -> str:
    """The repository URL from pyproject.toml ``[project.urls] Repository``: its one home."""
    m = re.search(r'(?m)^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text())
    if not m:
        raise SystemExit("nbcheck: pyproject.toml has no [project.urls] Repository")
    return m.group(1).rstrip("/")


def url_problems() -> list[str]:
    """GitHub repository URLs in the chapters, the book config and the README that are not the
    one of pyproject.toml (so that moving the repository is a one-line change plus ``sync``)."""
    want = repository_url().split("github.com/")[-1]
    probs = []
    files = sorted(NOTEBOOKS.glob("*.py")) + [BOOK / "_config.yml", ROOT / "README.md"]
    for f in files:
        for m in re.finditer(r"(?:github\.com|colab\.research\.google\.com/github)/([\w.-]+/[\w.-]+)", f.read_text()):
            if m.group(1) != want:
                probs.append(f"{rel(f)}: {m.group(0)} is not the repository of pyproject.toml ({want})")
    return probs


# "Vincent (2011)", "Song et al. (2021)", "(Févotte & Idier, 2011)", "(Le Roux et al., 2019)"
_NAME = r"[^\W\d_][\w'-]+"
CITATION = re.compile(rf"({_NAME})(?: et al\.| (?:&|and) {_NAME})?(?:,? \(|, )((?:19|20)\d\d)[a-z]?\b")


def bib_entries(bib: Path | None = None) -> list[tuple[str, str]]:
    """(author field, year) of every entry of book/references.bib."""
    text = (bib or BOOK / "references.bib").read_text()
    out = []
    for entry in re.split(r"\n@", text)[1:]:
        a = re.search(r"author\s*=\s*\{(.+?)\},\s*\n", entry, re.S)
        y = re.search(r"year\s*=\s*\{(\d{4})\}", entry)
        if a and y:
            out.append((a.group(1), y.group(1)))
    return out


def citation_problems(files: list[Path] | None = None, bib: Path | None = None) -> list[str]:
    """Author-year citations in the chapters and the book pages with no entry in references.bib
    (same year, the cited name among the authors): every cited work resolves in the bibliography."""
    entries = bib_entries(bib)
    files = files if files is not None else sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py")) + sorted(BOOK.glob("*.md"))
    probs = []
    for f in files:
        for m in CITATION.finditer(f.read_text()):
            name, year = m.group(1), m.group(2)
            if name[0].islower() or name in {"In", "From", "Since", "ICASSP", "ICLR", "Interspeech", "TASLP"}:
                continue
            if not any(year == y and re.search(rf"\b{re.escape(name)}\b", a) for a, y in entries):
                probs.append(f"{rel(f)}: '{m.group(0)}' has no entry in book/references.bib")
    return probs


def cmd_sync(args) -> int:
    import nbformat

    for py in sources(args.only):
        ipynb = py.with_suffix(".ipynb")
        nb = read_py(py)
        text = nbformat.writes(nb) + "\n"
        if not ipynb.exists() or ipynb.read_text() != text:
            ipynb.write_text(text)
            print(f"nbcheck: wrote {rel(ipynb)}")
    return 0


def execute(nb, cwd: Path, timeout: int = CELL_TIMEOUT, allow_errors: bool = False, size: str = "fast"):
    """Run a notebook at ``size`` (fast for ``update``, book for ``book``) with nbclient."""
    from nbclient import NotebookClient

    env_backup = dict(os.environ)
    os.environ.update(fast_env(size))
    os.environ.pop("MPLBACKEND", None)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": str(cwd)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
    return nb


def cmd_update(args) -> int:
    EXPECTED.mkdir(parents=True, exist_ok=True)
    for py in sources(args.only):
        nb = read_py(py)
        marked = marked_cells(nb)
        if not marked:
            print(f"nbcheck: {py.name}: no {MARKER} cell; nothing recorded")
            continue
        t0 = time.perf_counter()
        execute(nb, NOTEBOOKS, args.timeout, allow_errors=args.allow_errors)
        dt = time.perf_counter() - t0
        errors = [c for c in nb.cells if c.cell_type == "code"
                  and any(o.get("output_type") == "error" for o in c.outputs)]
        if errors:
            print(f"nbcheck: {py.name}: WARNING {len(errors)} cell(s) raised (--allow-errors); "
                  "re-record without it once they run")
        if any(c in errors for c in marked):
            print(f"nbcheck: {py.name}: a checked cell raised; nothing recorded")
            continue
        cells = [dict(source_sha=sha(c.source), source_head=next((l for l in c.source.splitlines() if MARKER not in l), "")[:80],
                      outputs=[clean_output(o) for o in c.outputs]) for c in marked]
        expected_path(py).write_text(json.dumps(dict(notebook=py.stem, fast=True, cells=cells),
                                                indent=1) + "\n")
        if not errors:
            save_executed(nb, py)
        print(f"nbcheck: {py.name}: recorded {len(cells)} checked cell(s) in {dt:.1f} s")
    return 0


def prepare_copy(py: Path, dest: Path) -> Path:
    """A temporary copy of the notebook with the expected outputs injected into marked cells."""
    import nbformat

    nb = read_py(py)
    probs = expected_problems(py, nb)
    if probs:
        raise SystemExit(f"nbcheck: {py.name}: " + "; ".join(probs))
    exp = load_expected(py)
    for cell, entry in zip(marked_cells(nb), exp["cells"] if exp else []):
        cell.outputs = [nbformat.from_dict(o) for o in entry["outputs"]]
        cell.execution_count = 1  # nbval compares only cells that look executed
    nb.metadata["udiffse"] = {"source_sha": sha(py.read_bytes())}
    out = dest / f"{py.stem}.ipynb"
    nbformat.write(nb, out)
    return out


def save_executed(nb, py: Path, size: str = "fast") -> Path:
    """Store an executed notebook for the book, stamped with its cache key and size."""
    import nbformat

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        keep = []
        for o in cell.get("outputs", []):
            data = o.get("data")
            if data is not None:
                for mime in DROP_MIME:
                    data.pop(mime, None)
                if set(data) <= {"text/plain"} and "Slider(" in str(data.get("text/plain", "")):
                    continue  # the text stand-in of a widget: meaningless on a static page
                o.get("metadata", {}).pop("transient", None)
                o.pop("transient", None)
            keep.append(o)
        cell.outputs = keep
    nb.metadata["udiffse"] = {"source_sha": cache_key(py, size), "size": size}
    nb.metadata.pop("widgets", None)
    CHAPTERS.mkdir(parents=True, exist_ok=True)
    out = CHAPTERS / f"{py.stem}.ipynb"
    nbformat.write(nb, out)
    return out


# written next to the temporary copies: saves what nbval executed, and times each notebook
PLUGIN = r'''
import json, time
from pathlib import Path

_T = {}
_FAILED = set()


def pytest_runtest_logreport(report):
    f = report.nodeid.split("::")[0]
    _T[f] = _T.get(f, 0.0) + report.duration
    if report.failed:
        _FAILED.add(f)


def pytest_sessionfinish(session, exitstatus):
    import nbformat
    files = {}
    for item in session.items:
        if hasattr(item, "test_outputs") and hasattr(item, "cell"):
            files.setdefault(item.parent, []).append(item)
    saved = {}
    for parent, items in files.items():
        name = Path(str(parent.fspath)).name
        ok = not any(n.endswith(name) for n in _FAILED) and all(
            i.test_outputs is not None for i in items)
        if ok:
            for i in items:
                i.cell.outputs = [nbformat.from_dict(o) for o in i.test_outputs]
                i.cell.execution_count = None
            nbformat.write(parent.nb, str(Path(__file__).parent / "executed" / name))
        saved[name] = ok
    times = {Path(k).name: v for k, v in _T.items()}
    (Path(__file__).parent / "report.json").write_text(json.dumps(dict(times=times, saved=saved)))
'''


# Seconds each chapter took under nbval in fast mode, one torch thread, in CI (session 16; chapter
# 12 as changed in session 17). Only the balance of `nbcheck test`'s side-by-side runs depends
# on them, never a result; a chapter not listed counts as FAST_COST_DEFAULT.
FAST_COST = {"00": 7, "01": 10, "02": 6, "03": 10, "04": 14, "05": 9, "06": 9, "07": 9, "08": 13,
             "09": 15, "10": 22, "11": 19, "12": 84, "13": 41}
FAST_COST_DEFAULT = 15


def deal(pys: list, jobs: int) -> list[list]:
    """Notebooks dealt to ``jobs`` groups, longest first, each to the group with the least work so
    far (the greedy longest-processing-time rule), with :data:`FAST_COST` as the work. Dealing by
    name alone left one run 60 s longer than the other (chapter 12 is a third of the total)."""
    groups: list[list] = [[] for _ in range(jobs)]
    load = [0.0] * jobs
    cost = lambda p: FAST_COST.get(Path(p).name[:2], FAST_COST_DEFAULT)  # noqa: E731
    for p in sorted(pys, key=lambda p: (-cost(p), Path(p).name)):
        j = min(range(jobs), key=lambda k: (load[k], k))
        groups[j].append(p)
        load[j] += cost(p)
    return groups


def cmd_test(args) -> int:
    import nbformat

    pys = sources(args.only)
    tmp = Path(tempfile.mkdtemp(prefix="nbcheck-"))
    jobs = min(args.jobs, len(pys))
    try:
        # the notebooks dealt out to `jobs` pytest runs side by side, each in its own folder with its
        # own report, so that the runs finish together (see deal)
        groups = deal(pys, jobs)
        procs, dirs = [], []
        env = fast_env()
        if jobs > 1:
            env["OMP_NUM_THREADS"] = str(threads_per_job(jobs))
        t0 = time.perf_counter()
        for j, group in enumerate(groups):
            d = tmp / f"run{j}"
            (d / "executed").mkdir(parents=True)
            (d / "conftest.py").write_text(PLUGIN)
            (d / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
            copies = [prepare_copy(py, d) for py in sorted(group)]
            cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
                   f"--nbval-cell-timeout={args.timeout}", "-c", str(d / "pytest.ini"),
                   "--rootdir", str(d), "-q", *map(str, copies), *args.pytest_args]
            print("nbcheck:", " ".join(cmd[2:5]), f"... on {len(copies)} notebook(s), UDIFFSE_FAST=1"
                  + (f", run {j + 1} of {jobs} side by side, {env['OMP_NUM_THREADS']} torch thread(s)"
                     if jobs > 1 else ""), flush=True)
            procs.append(subprocess.Popen(cmd, cwd=d, env=env))
            dirs.append(d)
        rc = 0
        for proc in procs:
            rc = proc.wait() or rc
        total = time.perf_counter() - t0
        times, saved = {}, {}
        for d in dirs:
            report = json.loads((d / "report.json").read_text()) if (d / "report.json").exists() else {}
            times.update(report.get("times", {}))
            saved.update({name: d if ok else None for name, ok in report.get("saved", {}).items()})
        by_name = {py.stem + ".ipynb": py for py in pys}
        print(f"\nnbcheck: fast-mode execution time per notebook (nbval, {jobs} run(s) side by side):")
        for name, secs in sorted(times.items()):
            d = saved.get(name)
            print(f"  {name:36s} {secs:6.1f} s  {'ok' if d else 'FAILED'}")
            if d and not args.no_save and name in by_name:
                nb = nbformat.read(d / "executed" / name, as_version=4)
                save_executed(nb, by_name[name])
        print(f"nbcheck: total {total:.1f} s (kernel start-ups included)")
        return rc
    finally:
        if args.keep:
            print(f"nbcheck: kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def stub_chapter(name: str) -> None:
    """A placeholder page for a chapter listed in the toc whose notebook does not exist yet."""
    import nbformat

    title = name[3:].replace("_", " ").capitalize()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(
        f"# {name[:2]}. {title}\n\nThis chapter is being written; its notebook "
        f"`notebooks/{name}.py` is not in the repository yet.")]
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["udiffse"] = {"stub": True}
    CHAPTERS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, CHAPTERS / f"{name}.ipynb")


def toc_chapters() -> list[str]:
    """Chapter names listed in book/_toc.yml (``chapters/NN_topic``)."""
    text = (BOOK / "_toc.yml").read_text()
    return re.findall(r"file:\s*chapters/(\d\d_[a-z0-9_]+)", text)


# Claims the executed book must support: chapter -> [(regex over its printed outputs, what it says,
# a test of the captured numbers)]. Chapter 11 prints "mean SI-SDR gain over the input: tiny-ao +X dB,
# tiny-av +Y dB"; 12 the pink and babble lines of its two-prior enhancement and the true / swapped lips;
# 13 its table (SI-SDR, ESTOI, LSD, PER per row).
_NUM = r"([-+0-9.]+)"
CLAIMS = {
    "11_av_udiffse_plus": [
        (rf"mean SI-SDR gain over the input: tiny-ao {_NUM} dB, tiny-av {_NUM} dB",
         "both priors improve SI-SDR on average", lambda g: all(x > 0 for x in g))],
    "12_two_priors": [
        (rf"pink\s+{_NUM} dB \(seen\): SI-SDR input {_NUM} dB, NMF noise {_NUM} dB, diffusion noise prior {_NUM} dB",
         "both noise models enhance the pink-noise example", lambda g: g[2] > g[1] and g[3] > g[1]),
        (rf"babble\s+{_NUM} dB \(never heard\): SI-SDR input {_NUM} dB, NMF noise {_NUM} dB, diffusion noise "
         rf"prior {_NUM} dB",
         "the NMF enhances the unseen babble example and the noise prior falls behind it",
         lambda g: g[2] > g[1] and g[2] > g[3]),
        (rf"true lips\s*: SI-SDR improvement of output 1 \(vs talker 1\) {_NUM} dB, output 2 \(vs talker 2\) "
         rf"{_NUM} dB\s*swapped lips: SI-SDR improvement of output 1 \(vs talker 1\) {_NUM} dB, output 2 "
         rf"\(vs talker 2\) {_NUM} dB",
         "each output scores higher with its own talker's lips than with the other's",
         lambda g: g[0] > g[2] and g[1] > g[3])],
    "13_resynthesis": [
        (rf"noisy input\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}.*?re-synthesis\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}",
         "re-synthesis beats the noisy input on the log-spectral distance and the phone error rate",
         lambda g: g[6] < g[2] and g[7] < g[3])],
}


def book_claims(nb, name: str) -> list[str]:
    """Problems with the numbers an executed chapter prints (empty list: its text holds)."""
    text = "\n".join(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.get("output_type") == "stream")
    problems = []
    for pattern, what, holds in CLAIMS.get(name, []):
        m = re.search(pattern, text, flags=re.S)
        if not m:
            problems.append(f"{name}: the line the book's claim rests on is missing ({pattern!r})")
            continue
        numbers = [float(g) for g in m.groups()]
        if not holds(numbers):
            problems.append(f"{name}: {what} is false in the executed chapter: {numbers}")
    return problems


MATHJAX_SRC = Path("/usr/share/javascript/mathjax")  # Debian's libjs-mathjax (MathJax 2.7)
# what the TeX-AMS_CHTML configuration loads: about 3 MB of the package's 54
MATHJAX_PARTS = ["MathJax.js", "config/TeX-AMS_CHTML.js", "extensions", "jax/input/TeX", "jax/output/CommonHTML",
                 "jax/element", "fonts/HTML-CSS/TeX/woff", "localization/en"]


def install_mathjax() -> Path:
    """Copy MathJax into ``book/_mathjax/mathjax`` (git-ignored; ``html_extra_path`` puts it at
    the root of the build) so the book renders its equations with no network; ``_config.yml``
    points Sphinx's ``mathjax_path`` there."""
    dest = BOOK / "_mathjax" / "mathjax"
    if not (MATHJAX_SRC / "MathJax.js").exists():
        raise SystemExit("nbcheck: MathJax is not installed: `sudo apt-get install libjs-mathjax` "
                         "(scripts/install_system_deps.sh does it); the book serves it itself so that "
                         "its equations render offline")
    if (dest / "MathJax.js").exists():
        return dest
    for part in MATHJAX_PARTS:
        src, dst = MATHJAX_SRC / part, dest / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=False, dirs_exist_ok=True)
        else:
            shutil.copy(src, dst)
    return dest


def remote_scripts(html_dir: Path) -> list[str]:
    """``<script src=...>`` and stylesheet links in the built book that point off the page's own
    files (http(s):// or protocol-relative): each would fail without a network."""
    bad = []
    for page in sorted(html_dir.rglob("*.html")):
        text = page.read_text(errors="replace")
        for m in re.finditer(r'<(?:script|link)\b[^>]*?(?:src|href)="((?:https?:)?//[^"]+)"', text):
            tag = text[m.start():m.end()]
            if "<link" in tag and "stylesheet" not in tag and "preload" not in tag:
                continue  # plain hyperlinks of <link rel=...> kinds that load nothing
            bad.append(f"{page.relative_to(html_dir)}: {m.group(1)}")
    return bad


def threads_per_job(jobs: int) -> int:
    """Torch threads for each of ``jobs`` kernels run side by side: the cores shared out."""
    return max(1, (os.cpu_count() or 1) // jobs)


def execute_for_book(name: str, py: Path, size: str, timeout: int, no_cache: bool, threads: int | None):
    """Execute one chapter for the book (its kernel with ``threads`` torch threads; None: the
    environment decides), store it in ``book/chapters`` and the cache.
    Returns ``(name, number of failing cells)``. Runs in a worker process when ``--jobs`` > 1."""
    import nbformat

    t0 = time.perf_counter()
    sys.stdout.write(f"nbcheck: executing {name} for the book ({size} size) ...\n")  # one write: workers share stdout
    sys.stdout.flush()
    old = os.environ.get("OMP_NUM_THREADS")
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # the kernel inherits it (read by torch at start)
    try:
        nb = execute(read_py(py), NOTEBOOKS, timeout, allow_errors=True, size=size)
    finally:
        os.environ.pop("OMP_NUM_THREADS", None)
        if old is not None:
            os.environ["OMP_NUM_THREADS"] = old
    bad = sum(any(o.get("output_type") == "error" for o in c.get("outputs", []))
              for c in nb.cells if c.cell_type == "code")
    out = save_executed(nb, py, size)
    if bad:  # shown in the book with its traceback, but the build fails; never reuse it: drop its stamp
        nb2 = nbformat.read(out, as_version=4)
        nb2.metadata["udiffse"]["source_sha"] = "failed"
        nbformat.write(nb2, out)
    elif not no_cache:
        try:
            BOOK_CACHE.mkdir(parents=True, exist_ok=True)
            for stale_copy in BOOK_CACHE.glob(f"{name}-*.ipynb"):
                stale_copy.unlink()
            shutil.copy(out, BOOK_CACHE / f"{name}-{cache_key(py, size)}.ipynb")
        except OSError as e:  # a read-only home must not fail the build
            print(f"nbcheck: could not cache {name}: {e}")
    sys.stdout.write(f"nbcheck: {name}: {time.perf_counter() - t0:.1f} s" + (f", {bad} cell(s) FAILED\n" if bad else "\n"))
    sys.stdout.flush()
    return name, bad


def cmd_book(args) -> int:
    import nbformat

    install_mathjax()

    size = args.size
    pys = {p.stem: p for p in sources()}
    stale = []
    for name in toc_chapters():
        out = CHAPTERS / f"{name}.ipynb"
        if name not in pys:
            msg = f"nbcheck: {name}: no notebook yet, the book shows a placeholder page"
            if args.strict:
                sys.exit(msg.replace("the book shows a placeholder page", "(--strict)"))
            print(msg)
            stub_chapter(name)
            continue
        key = cache_key(pys[name], size)
        fresh = out.exists() and nbformat.read(out, as_version=4).metadata.get(
            "udiffse", {}).get("source_sha") == key
        cached = BOOK_CACHE / f"{name}-{key}.ipynb"
        if not fresh and cached.exists() and not args.no_cache:
            CHAPTERS.mkdir(parents=True, exist_ok=True)
            shutil.copy(cached, out)
            print(f"nbcheck: {name}: from the cache ({rel(cached)})")
            fresh = True
        if not fresh:
            stale.append(name)
    t_exec = time.perf_counter()
    jobs = max(1, min(args.jobs, len(stale)))
    # longest first (the later chapters run the priors), so that the workers finish together
    order = sorted(stale, reverse=True)
    threads = threads_per_job(jobs) if jobs > 1 else None
    work = [(name, pys[name], size, args.timeout, args.no_cache, threads) for name in order]
    if jobs == 1:
        results = [execute_for_book(*w) for w in work]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        print(f"nbcheck: {jobs} chapters at a time, {threads} torch thread(s) each", flush=True)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(execute_for_book, *zip(*work)))
    failed = [name for name, bad in results if bad]
    if stale:
        print(f"nbcheck: executed {len(stale)} chapter(s) at {size} size in {time.perf_counter() - t_exec:.0f} s")
    claims = []
    for name in toc_chapters():
        out = CHAPTERS / f"{name}.ipynb"
        if out.exists() and name in pys:
            claims += book_claims(nbformat.read(out, as_version=4), name)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(BOOK), "-W", "--keep-going"]
    if args.all:
        cmd.append("--all")
    print("nbcheck:", " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    rc = subprocess.call(cmd, cwd=ROOT, env=fast_env(size))
    print(f"nbcheck: book built in {time.perf_counter() - t0:.1f} s (rc={rc}) -> "
          f"{rel(BOOK / '_build' / 'html' / 'index.html')}")
    if failed:
        print(f"nbcheck: chapters with failing cells: {failed}")
    for c in claims:
        print(f"nbcheck: CLAIM FAILS: {c}")
    remote = remote_scripts(BOOK / "_build" / "html") if rc == 0 else []
    for r in remote[:10]:
        print(f"nbcheck: REMOTE RESOURCE (the book must work offline): {r}")
    return rc or (1 if failed or claims or remote else 0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name, fn, help_ in [("check", cmd_check, "pairs in sync, no outputs, expected files fresh"),
                            ("sync", cmd_sync, "regenerate .ipynb from the .py percent files"),
                            ("update", cmd_update, "execute in fast mode and record expected numbers"),
                            ("test", cmd_test, "pytest --nbval-lax on copies with expected numbers"),
                            ("book", cmd_book, "build the Jupyter Book offline (-W)")]:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(fn=fn)
        p.add_argument("--only", nargs="+", metavar="NN", help="chapter numbers (or name prefixes)")
        p.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
        if name in ("test", "book"):
            p.add_argument("--jobs", type=int, default=int(os.environ.get("UDIFFSE_NB_JOBS", min(4, os.cpu_count() or 1))),
                           help="notebooks executed side by side, the cores shared out among their kernels "
                                "(default: the number of cores, at most 4, so that a GPU is not shared by "
                                "more kernels; UDIFFSE_NB_JOBS)")
        if name == "test":
            p.add_argument("--keep", action="store_true", help="keep the temporary copies")
            p.add_argument("--no-save", action="store_true", help="do not store executed copies for the book")
            p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
        if name == "update":
            p.add_argument("--allow-errors", action="store_true",
                           help="record even if unchecked cells raise (e.g. a checkpoint not there yet)")
        if name == "book":
            p.add_argument("--strict", action="store_true", help="fail if a toc chapter has no notebook")
            p.add_argument("--all", action="store_true", help="rebuild every page (jupyter-book --all)")
            p.add_argument("--size", default=os.environ.get("UDIFFSE_BOOK_SIZE", "book"),
                           choices=["fast", "book", "full"], help="chapter size the book is executed at")
            p.add_argument("--no-cache", action="store_true", help=f"ignore and do not fill {BOOK_CACHE}")
    args = ap.parse_args(argv)
    if getattr(args, "jobs", 1) < 1:
        ap.error(f"--jobs must be >= 1, got {args.jobs}")
    if getattr(args, "only", None) and args.cmd == "book":
        ap.error("book builds every chapter; use test --only to execute a few")
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())

"""scripts/nbcheck.py: the jupytext contract and nbval with recorded numbers can fail."""
import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("nbcheck", ROOT / "scripts" / "nbcheck.py")
nbcheck = importlib.util.module_from_spec(spec)
spec.loader.exec_module(nbcheck)

TOY = '''# %% [markdown]
# # 99. A toy chapter

# %%
import os
x = 2 ** 0.5

# %%
# NBVAL_CHECK_OUTPUT
print(f"{x:.2f}", os.environ.get("UDIFFSE_FAST"))

# %%
x * 0  # not checked: only executed
'''


@pytest.fixture
def toy(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    monkeypatch.setattr(nbcheck, "NOTEBOOKS", nbdir)
    monkeypatch.setattr(nbcheck, "EXPECTED", nbdir / "expected")
    monkeypatch.setattr(nbcheck, "CHAPTERS", tmp_path / "chapters")
    (nbdir / "99_toy.py").write_text(TOY)
    return nbdir


def test_check_detects_missing_stale_and_outputs(toy):
    assert nbcheck.main(["check"]) == 1  # no .ipynb yet, no expected file
    assert nbcheck.main(["sync"]) == 0
    ipynb = toy / "99_toy.ipynb"
    first = ipynb.read_text()
    nbcheck.main(["sync"])
    assert ipynb.read_text() == first  # deterministic: a re-sync changes nothing
    nb = nbformat.read(ipynb, as_version=4)
    assert nb.metadata.kernelspec.name == "python3"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
    (toy / "expected").mkdir()
    src = nbcheck.read_py(toy / "99_toy.py")
    marked = nbcheck.marked_cells(src)
    assert len(marked) == 1
    (toy / "expected" / "99_toy.json").write_text(json.dumps({"cells": [
        {"source_sha": nbcheck.sha(marked[0].source), "outputs": []}]}))
    assert nbcheck.main(["check"]) == 0
    # an edit of the .py without sync
    (toy / "99_toy.py").write_text(TOY.replace("2 ** 0.5", "3 ** 0.5"))
    assert nbcheck.main(["check"]) == 1
    nbcheck.main(["sync"])
    assert nbcheck.main(["check"]) == 0
    # a committed output
    nb = nbformat.read(ipynb, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    nbformat.write(nb, ipynb)
    assert nbcheck.main(["check"]) == 1
    # a checked cell edited without re-recording
    (toy / "99_toy.py").write_text(TOY.replace('{x:.2f}', '{x:.3f}'))
    nbcheck.main(["sync"])
    assert nbcheck.main(["check"]) == 1


def test_recorded_number_mismatch_fails(toy):
    nbcheck.main(["sync"])
    assert nbcheck.main(["update"]) == 0
    exp = json.loads((toy / "expected" / "99_toy.json").read_text())
    assert exp["cells"][0]["outputs"][0]["text"] == "1.41 1\n"  # recorded in fast mode
    assert nbcheck.main(["test", "--no-save"]) == 0
    exp["cells"][0]["outputs"][0]["text"] = "1.42 1\n"
    (toy / "expected" / "99_toy.json").write_text(json.dumps(exp))
    assert nbcheck.main(["test", "--no-save"]) != 0


def test_notebooks_side_by_side_each_count_and_save(toy):
    """``test --jobs 2`` deals the notebooks to two pytest runs: both notebooks' executed copies are
    saved for the book, and a wrong number in either run fails the whole command."""
    (toy / "98_toy.py").write_text(TOY.replace("99. A toy", "98. Another toy"))
    nbcheck.main(["sync"])
    assert nbcheck.main(["update"]) == 0
    assert nbcheck.main(["test", "--jobs", "2"]) == 0
    assert sorted(p.name for p in nbcheck.CHAPTERS.glob("*.ipynb")) == ["98_toy.ipynb", "99_toy.ipynb"]
    for name in ("98_toy", "99_toy"):  # each run alone must be able to fail it
        path = toy / "expected" / f"{name}.json"
        good = path.read_text()
        exp = json.loads(good)
        exp["cells"][0]["outputs"][0]["text"] = "1.42 1\n"
        path.write_text(json.dumps(exp))
        assert nbcheck.main(["test", "--jobs", "2", "--no-save"]) != 0, name
        path.write_text(good)


def test_every_notebook_reference_in_the_package_resolves():
    """Docstrings end with ``Notebook: NN_topic.ipynb``: each must name a chapter that exists."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    refs = {}
    for f in list((root / "udiffse_lite").rglob("*.py")) + list((root / "benchmarks").glob("*.py")):
        for line in f.read_text().splitlines():
            m = re.search(r"Notebook:\s*(.+)$", line)
            if m:
                for name in re.findall(r"(\d\d_[a-z0-9_]+)\.ipynb", m.group(1)):
                    refs.setdefault(name, f.name)
    assert refs, "no Notebook: references found"
    missing = {n: where for n, where in refs.items() if not (root / "notebooks" / f"{n}.py").exists()}
    assert not missing, f"docstrings name chapters that do not exist: {missing}"


def test_book_checks_find_remote_scripts_and_false_claims(tmp_path):
    """The book build fails on a page that loads a script from the network, and on a chapter 11
    whose printed gains contradict its text."""
    import importlib.util
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("nbcheck", root / "scripts" / "nbcheck.py")
    nbcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nbcheck)
    (tmp_path / "a.html").write_text('<script src="https://cdn.example.org/mathjax.js"></script>'
                                     '<script src="../mathjax/MathJax.js"></script><a href="https://x.org">x</a>')
    assert nbcheck.remote_scripts(tmp_path) == ["a.html: https://cdn.example.org/mathjax.js"]

    def chapter(text):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("print(...)")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells = [cell]
        return nb

    name = "11_av_udiffse_plus"
    assert nbcheck.book_claims(chapter("mean SI-SDR gain over the input: tiny-ao +3.1 dB, tiny-av +4.0 dB\n"),
                               name) == []
    assert "false" in nbcheck.book_claims(
        chapter("mean SI-SDR gain over the input: tiny-ao -27.2 dB, tiny-av +1.0 dB\n"), name)[0]
    assert "missing" in nbcheck.book_claims(chapter("nothing\n"), name)[0]
    pink = ("pink    -5 dB (seen): SI-SDR input -4.9 dB, NMF noise +3.7 dB, diffusion noise prior {} dB\n"
            "babble  +0 dB (never heard): SI-SDR input -0.1 dB, NMF noise +1.1 dB, diffusion noise prior {} dB\n")
    lips = ("true lips   : SI-SDR improvement of output 1 (vs talker 1) -0.6 dB, output 2 (vs talker 2) {} dB\n"
            "swapped lips: SI-SDR improvement of output 1 (vs talker 1) -9.9 dB, output 2 (vs talker 2) -11.0 dB\n")
    assert nbcheck.book_claims(chapter(pink.format("+5.1", "+0.4") + lips.format("-2.5")), "12_two_priors") == []
    bad = nbcheck.book_claims(chapter(pink.format("-6.0", "+1.5") + lips.format("-12.0")), "12_two_priors")
    assert len(bad) == 3 and all("false" in b for b in bad)
    def table(lsd):
        rows = [("noisy input", -6.4, 0.58, 21.6, 1.64), ("AV-UDiffSE+ (ch. 11)", 11.7, 0.66, 14.5, 1.45),
                ("re-synthesis", -22.3, 0.35, lsd, 0.79)]
        return "".join(f"{r[0]:38s} {r[1]:+7.1f} {r[2]:6.2f} {r[3]:6.1f} {r[4]:5.2f}\n" for r in rows)

    assert nbcheck.book_claims(chapter(table(9.4)), "13_resynthesis") == []
    assert "false" in nbcheck.book_claims(chapter(table(23.0)), "13_resynthesis")[0]


def test_every_citation_resolves_in_the_bibliography(tmp_path):
    """Author-year citations in the chapters and book pages name an entry of book/references.bib."""
    assert nbcheck.citation_problems() == []
    assert len(nbcheck.bib_entries()) >= 15
    page = tmp_path / "page.md"
    page.write_text("As Vincent (2011) showed, and (Févotte & Idier, 2011) and Song et al. (2021) too.\n"
                    "But Vincent (2012) and (Smith et al., 2020) are not in the list.\n")
    probs = nbcheck.citation_problems([page])
    assert len(probs) == 2 and "Vincent (2012" in probs[0] and "Smith et al., 2020" in probs[1]


def test_every_chapter_title_carries_its_own_number():
    """`# NN · Title` (the template), NN the file's number: the book's sidebar shows these titles."""
    import re

    for py in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        m = re.search(r"^# # (.+)$", py.read_text(), re.M)
        assert m and m.group(1).startswith(f"{py.name[:2]} · "), f"{py.name}: title {m and m.group(1)!r}"


def test_no_chapter_uses_a_solution_before_posing_the_exercise():
    """PCPT order: the body teaches with library functions; `udiffse_lite.exercises.chNN` is imported
    and used only in the reference solutions, after the exercises are posed."""
    import re

    for py in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        text = py.read_text()
        posed = text.index("# ## Exercises")
        early = [m.group(0) for m in re.finditer(r"exercises import ch\d\d|\bch\d\d\.\w+\(", text[:posed])]
        assert not early, f"{py.name} uses solutions before its exercises are posed: {early}"


def test_deal_balances_the_side_by_side_runs_by_cost():
    """nbval's side-by-side runs get the notebooks longest first, each to the least-loaded run: every
    notebook exactly once, the runs' costs within 20 s of each other, and chapter 12 (the longest,
    about 30 % of the fast-mode time) not sharing its run with chapter 13 (the next longest)."""
    pys = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    groups = nbcheck.deal(pys, 2)
    assert sorted(p for g in groups for p in g) == pys
    cost = [sum(nbcheck.FAST_COST.get(p.name[:2], nbcheck.FAST_COST_DEFAULT) for p in g) for g in groups]
    assert abs(cost[0] - cost[1]) < 20  # by name alone: 113 against 155
    twelve = next(g for g in groups if any(p.name.startswith("12") for p in g))
    assert not any(p.name.startswith("13") for p in twelve)
    assert nbcheck.deal(pys[:3], 3) == [[p] for p in sorted(pys[:3], key=lambda p: -nbcheck.FAST_COST[p.name[:2]])]

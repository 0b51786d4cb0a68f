"""The docs' "Latest figures" from bench/results/: pure rendering, tables of cases."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from render_docs import END, START, newest, render, splice  # noqa: E402
from report import SCHEMA, command_line, cpu_model, result_doc  # noqa: E402
from suite import BENCHMARKS, HELPERS, Bench  # noqa: E402


def doc(name: str, date: str = "2026-12-07T01:00:00Z", **fields) -> dict:
    base = {"schema": SCHEMA, "name": name, "date": date, "subject": "the subject",
            "baseline": "the baseline", "ratio": 1.2, "round_ratios": [0.88, 1.31, 1.2],
            "metric": "req/s", "summary": "1,254 vs 980 req/s", "target": "",
            "command": f".venv/bin/python bench/{name}.py --rounds 5", "seconds": 61.0,
            "machine": {"cores": 2, "cpu_model": "AMD EPYC", "load_start": [7.04, 5, 4],
                        "load_end": [9.5, 6, 4]}}
    return {**base, **fields}


@pytest.mark.parametrize(("docs", "want"), [
    ([], {}),
    ([doc("a")], {"a": "2026-12-07T01:00:00Z"}),
    ([doc("a", "2026-12-07T01:00:00Z"), doc("a", "2026-12-08T00:00:00Z"),
      doc("a", "2026-12-06T00:00:00Z")], {"a": "2026-12-08T00:00:00Z"}),
    ([doc("a"), doc("b", "2026-11-01T00:00:00Z")],
     {"a": "2026-12-07T01:00:00Z", "b": "2026-11-01T00:00:00Z"}),
    # the shape of before bench/report.py's schema, and documents without a name
    ([{"date": "2027-01-01T00:00:00Z", "rounds": []}, doc("", "2027-01-01T00:00:00Z"),
      doc("a", schema=None)], {}),
], ids=["none", "one", "newest of three", "two benchmarks", "other shapes ignored"])
def test_newest_result_of_each_benchmark(docs, want):
    assert {k: v["date"] for k, v in newest(docs).items()} == want


CATALOGUE = (Bench("fast", ".venv/bin/python bench/fast.py"),
             Bench("multi", ".venv/bin/python bench/multi.py", needs="cluster"),
             Bench("manual", ".venv/bin/python bench/manual.py --baseline-tag OLD",
                   needs="by hand"))


def row(text: str, name: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"| `{name}`")]
    return line


@pytest.mark.parametrize(("results", "name", "contains", "absent"), [
    ({}, "fast", ["not run", "`.venv/bin/python bench/fast.py`"], ["x**"]),
    ({}, "multi", ["not run", "only when the multi-node swarm is up"], []),
    ({}, "manual", ["not run", "by hand", "--baseline-tag OLD"], []),
    ({"fast": doc("fast")}, "fast",
     ["**1.20x** (rounds 0.88-1.31) req/s", "1,254 vs 980 req/s", "the subject **vs** the baseline",
      "2026-12-07 01:00:00 UTC; 2 cores, AMD EPYC, load 7.0 -> 9.5, 61 s",
      "`.venv/bin/python bench/fast.py --rounds 5`"], ["not run"]),
    ({"fast": doc("fast", ratio=None, round_ratios=[], target="< 1 s")}, "fast",
     ["absolute; 1,254 vs 980 req/s; target < 1 s"], ["x**"]),
    ({"fast": doc("fast", round_ratios=[1.2])}, "fast", ["**1.20x** req/s"], ["(rounds"]),
    ({"fast": doc("fast", summary="a | b\nc")}, "fast", ["a \\| b c"], []),
    ({"fast": doc("fast", command="sh -c 'echo `date`'")}, "fast",
     ["`` sh -c 'echo `date`' ``"], []),
    ({"fast": doc("fast", subject="", baseline="")}, "fast", ["states no subject"], []),
    ({"other": doc("other")}, "other", ["not in bench/suite.py", "**1.20x**"], []),
], ids=["not run", "cluster only", "by hand", "a result", "absolute", "one round",
        "pipes and newlines", "backticks in the command", "legacy write_json",
        "a result the catalogue does not name"])
def test_render_rows(results, name, contains, absent):
    line = row(render(CATALOGUE, results), name)
    assert len(re.split(r"(?<!\\)\|", line)) == 7, line  # five cells, whatever the text held
    for text in contains:
        assert text in line
    for text in absent:
        assert text not in line


def test_render_keeps_the_catalogue_order_then_the_others():
    text = render(CATALOGUE, {"zzz": doc("zzz"), "aaa": doc("aaa"), "fast": doc("fast")})
    names = [ln.split("`")[1] for ln in text.splitlines()[2:]]
    assert names == ["fast", "multi", "manual", "aaa", "zzz"]


def test_render_leaves_the_reliability_suites_figures_to_its_own_page():
    text = render(CATALOGUE, {"reliability-sustained": doc("reliability-sustained"),
                              "aaa": doc("aaa")})
    assert "`aaa`" in text
    assert "reliability-sustained" not in text


PROSE = f"# Benchmarks\n\nby hand\n\n## Latest figures\n\n{START}\nold table\n{END}\n\nafter\n"


@pytest.mark.parametrize(("text", "error"), [
    ("# no markers\n", "each marker once"),
    (f"{START}\n{END}\n{START}\n", "each marker once"),
    (f"{END}\n{START}\n", "before the start"),
], ids=["missing", "twice", "reversed"])
def test_splice_refuses_a_document_without_its_markers(text, error):
    with pytest.raises(ValueError, match=error):
        splice(text, "table\n")


def test_splice_replaces_only_between_the_markers():
    out = splice(PROSE, "| new |\n")
    assert out == PROSE.replace("old table\n", "| new |\n")
    assert splice(out, "| new |\n") == out  # rendering twice changes nothing


def test_the_docs_page_has_its_markers():
    page = (BENCH.parent / "docs" / "benchmarks.md").read_text()
    assert splice(page, "x\n").count("x\n") >= 1


def test_every_benchmark_script_is_in_the_catalogue():
    scripts = {p.stem for p in BENCH.glob("*.py")} - HELPERS
    assert scripts == {b.name for b in BENCHMARKS}


def test_a_condition_must_be_one_make_bench_knows():
    with pytest.raises(ValueError, match="needs must be one of"):
        Bench("x", "true", needs="sometimes")


@pytest.mark.parametrize(("cpuinfo", "want"), [
    ("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n", "AMD EPYC 7B13"),
    ("processor\t: 0\nmodel name\t: AMD EPYC\nprocessor\t: 1\nmodel name\t: AMD EPYC\n",
     "AMD EPYC"),
    ("processor : 0\nCPU implementer : 0x41\n", "?"),
    ("", "?"),
], ids=["x86", "two cores", "no model name (arm)", "unreadable"])
def test_cpu_model(cpuinfo, want):
    assert cpu_model(cpuinfo) == want


@pytest.mark.parametrize(("argv", "executable", "env", "want"), [
    (["bench/x.py", "--rounds", "3"], "/repo/.venv/bin/python", {"PATH": "/bin"},
     ".venv/bin/python bench/x.py --rounds 3"),
    (["/repo/bench/x.py"], "/usr/bin/python3", {},
     "/usr/bin/python3 bench/x.py"),
    (["bench/x.py", "--env", "A=b c"], "/repo/.venv/bin/python",
     {"SC_MOUNT_SOURCE": "1", "STACK": "bench", "HOME": "/root", "BENCH_PYTHON": "/p"},
     "BENCH_PYTHON=/p SC_MOUNT_SOURCE=1 STACK=bench .venv/bin/python bench/x.py --env 'A=b c'"),
], ids=["relative", "absolute script", "settings from the environment, quoted"])
def test_command_line_reproduces_the_run(argv, executable, env, want):
    assert command_line(argv, executable, env, root=Path("/repo")) == want


def test_result_doc_has_the_common_shape():
    out = result_doc("x", subject="s", baseline="b", ratio=2, round_ratios=[1, 3],
                     figures={"raw": [1]})
    assert set(out) >= {"schema", "name", "subject", "baseline", "ratio", "round_ratios",
                        "metric", "summary", "command", "date", "machine", "figures"}
    assert out["ratio"] == 2.0 and out["round_ratios"] == [1.0, 3.0]
    assert set(out["machine"]) >= {"cores", "cpu_model", "load_start", "load_end"}
    assert len(out["machine"]["load_start"]) == 3
    assert out["date"].endswith("Z") and out["figures"] == {"raw": [1]}

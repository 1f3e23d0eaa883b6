"""The HTML trace viewer embeds every run as JSON in a <script>: no text of a question may end that script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reasonkit.benchmarks.report import write_report
from reasonkit.fake import FakeLM
from reasonkit.registry import build_strategy
from reasonkit.types import Question

sys.path.insert(0, str(Path(__file__).parent))
from test_report import VIEWER_DOM, make_run  # noqa: E402

NASTY = "Is <!--<script> & </script><b>x</b> </SCRIPT > safe?"


def page_for(tmp_path: Path) -> str:
    qs = [Question(id="q<1>", text=NASTY, gold=True, metadata={"benchmark": "toy"})]
    make_run(tmp_path / "run", build_strategy("direct"), qs, FakeLM())
    write_report([tmp_path / "run"], tmp_path / "out")
    return (tmp_path / "out" / "report.html").read_text()


def test_the_embedded_json_holds_no_markup_and_reads_back_exactly(tmp_path: Path) -> None:
    page = page_for(tmp_path)
    payload = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert not re.search(r"[<>&]", payload)
    lines = json.loads(payload)[0]["lines"]
    assert lines[0]["question"]["text"] == NASTY and lines[0]["question"]["id"] == "q<1>"
    assert page.count("</script>") == 2  # the data and the viewer's code, nothing from the question


CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium on this machine")
def test_the_viewer_shows_such_a_question_in_headless_chromium(tmp_path: Path) -> None:
    page_for(tmp_path)
    url = (tmp_path / "out" / "report.html").as_uri() + "#run=0&q=q%3C1%3E"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    assert "Is &lt;!--&lt;script&gt; &amp; &lt;/script&gt;" in dom and "LM calls" in dom


def esc(text: str) -> str:
    """What the viewer's `esc` makes of a text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to run the viewer's script")
def test_the_viewer_shows_each_members_trace_nested_and_escaped(tmp_path: Path) -> None:
    qs = [Question(id="q1", text=NASTY, gold=True, metadata={"benchmark": "toy"})]
    make_run(
        tmp_path / "run",
        build_strategy("ensemble(members=[direct, cot(shots=1)])"),
        qs,
        FakeLM(default=" So the answer is yes."),
    )
    write_report([tmp_path / "run"], tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    line = json.loads(page.split('type="application/json">')[1].split("</script>")[0])[0]["lines"][0]
    direct, cot = line["prediction"]["trace"]["children"]
    cot_prompt = next(c["request"]["prompt"] for c in cot["calls"] if c["kind"] == "generate")
    script = tmp_path / "viewer.js"
    script.write_text(VIEWER_DOM)
    detail = subprocess.run(
        ["node", str(script), str(tmp_path / "out" / "report.html"), "q1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    members = detail.split('<details class="child">')
    assert (
        len(members) == 3 and "member 1: <b>direct</b>" in members[1] and "member 2: <b>cot</b>" in members[2]
    )
    assert esc(json.dumps(cot_prompt, ensure_ascii=False)) in members[2] and NASTY not in detail
    assert esc(json.dumps(direct["calls"][0]["request"]["context"], ensure_ascii=False)) in members[1]

"""Near-duplicates: the same initiative written twice is flagged; near neighbours are not."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from kb.check.library import load_library
from kb.index.embed import HashingEmbedder
from kb.tools.duplicates import description, near_duplicates
from kb.tools.scaffold import title_id
from tests.conftest import ROOT, run_cli

DATA = Path(__file__).parent / "data"
CONTENT = ROOT / "content"


def test_description_leaves_out_placeholder_sentences(tmp_path: Path) -> None:
    (entry,) = [e for e in load_library(CONTENT) if e.id == "west-yorkshire-trauma-informed-system"]
    text = description(entry)
    assert entry.case.title in text
    assert "not stated in the sources" not in text.lower()


def test_an_exact_copy_under_another_id_is_flagged_even_by_word_overlap() -> None:
    library = load_library(CONTENT)
    copies = load_library(DATA)
    found = near_duplicates(copies, [*library, *copies], HashingEmbedder())
    pairs = {(d.case_id, d.other_id) for d in found}
    assert ("leeds-community-lung-screening", "leeds-lung-health-check") in pairs
    leeds = next(d for d in found if d.case_id == "leeds-community-lung-screening")
    assert leeds.shared_figures >= 5 and "figures in common" in leeds.reason


@pytest.mark.model
def test_paraphrases_are_flagged_and_distinct_shipped_cases_are_not(
    shipped_real_index: Path,
) -> None:
    from kb.index.embed import OnnxEmbedder

    # the real model through the ONNX export the shared index verified against
    # sentence-transformers (cosine >= 0.999): the same vectors, without loading torch
    embedder = OnnxEmbedder(shipped_real_index / "index" / "onnx")
    library = load_library(CONTENT)
    copies = load_library(DATA)
    found = near_duplicates(copies, [*library, *copies], embedder)
    assert {(d.case_id, d.other_id) for d in found} == {
        ("leeds-community-lung-screening", "leeds-lung-health-check"),
        ("dorset-hypertension-control", "dorset-blood-pressure"),
    }
    # the Dorset copy shares no figure: reading alike is enough
    assert next(d for d in found if d.case_id == "dorset-hypertension-control").shared_figures == 0
    assert near_duplicates(library, library, embedder) == []


ANNOTATION = re.compile(
    r"^::(error|warning) file=[^,:\n]+,line=\d+,col=\d+,title=[^:\n]*::[^\n]+$"
)
SHIPPED = ("leeds-lung-health-check", "dorset-blood-pressure", "norfolk-falls-prevention")


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A content folder of three shipped case studies, compared by the stand-in model."""
    import kb.index.embed

    content = tmp_path / "content"
    content.mkdir()
    for name in SHIPPED:
        shutil.copy(CONTENT / f"{name}.md", content / f"{name}.md")
    monkeypatch.setenv("KB_CONTENT_DIR", str(content))
    monkeypatch.setattr(kb.index.embed, "embedder_for", lambda model: HashingEmbedder())
    return content


def _unfinished(content: Path, title: str) -> Path:
    """A case study as `kb new` writes it: TODOs everywhere, so it does not read yet."""
    run_cli(["new", "--title", title, "--content-dir", str(content), "--no-interactive"])
    return content / f"{title_id(title).id}.md"


def _line(path: Path, start: str) -> int:
    """The number of the first line of `path` that starts with `start`."""
    lines = path.read_text().split("\n")
    return next(n for n, line in enumerate(lines, 1) if line.startswith(start))


def test_an_invalid_case_study_elsewhere_is_left_out_with_a_warning(library: Path) -> None:
    other = _unfinished(library, "Bradford clean air zone health evaluation")
    out = run_cli(["duplicates", str(DATA / "leeds-community-lung-screening.md")]).stdout
    assert "this looks like the same initiative as 'leeds-lung-health-check'" in out
    assert (
        f"{other}:{_line(other, 'summary:')}:10: warning [summary]: left out of the comparison: "
        "this case study is "
        "invalid (31 errors; first: 'summary' still holds the placeholder TODO)\n"
        f"    hint: run `kb validate {other}`; once it is valid, kb duplicates compares with it "
        "too"
    ) in out
    assert out.rstrip().endswith(
        "(it was compared with 3 other case studies): see the warning above. 1 other file was "
        "left out because invalid: run `kb validate` to see why."
    )
    data = json.loads(run_cli(["duplicates", "--format", "json"]).stdout)  # the whole library
    assert data["valid"] is True and data["left_out"] == [str(other)]
    assert data["compared_with"] == 2 and len(data["compared"]) == 3
    lines = run_cli(["duplicates", "--format", "github", str(DATA)]).stdout.splitlines()
    assert lines and all(ANNOTATION.match(line) for line in lines), lines
    assert all(",title=kb duplicates" in line for line in lines), lines  # not 'kb validate'
    summary = _line(other, "summary:")
    assert any(line.startswith(f"::warning file={other},line={summary},col=10,") for line in lines)


def test_when_nothing_looks_alike_the_output_says_so(library: Path) -> None:
    target = library / "norfolk-falls-prevention.md"
    out = run_cli(["duplicates", str(target)]).stdout
    assert out == (
        f"No case study in the library looks like the same initiative as {target}: it was "
        "compared with 2 other case studies.\n"
    )
    data = json.loads(run_cli(["duplicates", "--format", "json", str(target)]).stdout)
    assert data["near_duplicates"] == [] and data["compared_with"] == 2
    assert data["compared"] == [str(target)] and data["left_out"] == []
    assert run_cli(["duplicates", "--format", "github", str(target)]).stdout == ""
    out = run_cli(["duplicates"]).stdout
    assert out == "No two of the 3 case studies in the library look like the same initiative.\n"
    data = json.loads(run_cli(["duplicates", "--format", "json", str(DATA)]).stdout)
    assert {(d["id"], d["other_id"]) for d in data["near_duplicates"]} >= {
        ("leeds-community-lung-screening", "leeds-lung-health-check")
    }
    assert data["near_duplicates"][0]["other_path"].endswith(".md")


def test_a_given_file_that_is_invalid_is_an_error_and_compared_if_it_reads(
    library: Path,
) -> None:
    text = (DATA / "leeds-community-lung-screening.md").read_text()
    heading = text.index("## Challenges")
    draft = library / "leeds-community-lung-screening.md"
    draft.write_text(text[:heading] + "## Challenges\n\nTODO\n\n" + text[text.index("## Less"):])
    result = run_cli(["duplicates", str(draft)], expect=1)
    assert "this looks like the same initiative as 'leeds-lung-health-check'" in result.stdout
    assert (
        "error [body]: this case study is not valid yet; it was compared as it stands (1 error; "
        "first: a TODO placeholder is still in the text)\n"
        f"    hint: run `kb validate {draft}` for every problem"
    ) in result.stdout
    unfinished = _unfinished(library, "Leeds warm homes")
    result = run_cli(["duplicates", str(unfinished)], expect=1)
    region = _line(unfinished, "region:")
    assert (
        f"{unfinished}:{region}:9: error [region[0]]: this case study cannot be compared: these "
        "stop it reading as a case study (2 errors; first: 'TODO' is not a known region)"
    ) in result.stdout
    assert "No case study was compared. 1 given file was not compared" in result.stdout
    data = json.loads(
        run_cli(["duplicates", "--format", "json", str(unfinished)], expect=1).stdout
    )
    assert data["valid"] is False and data["not_compared"] == [str(unfinished)]
    assert data["near_duplicates"] == [] and data["compared"] == []
    lines = run_cli(["duplicates", "--format", "github", str(unfinished)], expect=1).stdout
    assert all(ANNOTATION.match(line) for line in lines.splitlines()), lines
    assert f"::error file={unfinished},line={region},col=9," in lines
    assert f"::warning file={draft},line=" in lines  # the other draft, left out


@pytest.mark.model
def test_the_command_warns_in_github_format() -> None:
    out = run_cli(
        ["duplicates", "--format", "github", str(DATA / "dorset-hypertension-control.md")]
    ).stdout
    assert out.startswith("::warning file=")
    assert "dorset-blood-pressure" in out

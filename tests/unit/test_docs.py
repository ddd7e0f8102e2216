"""The docs stay navigable: README.md is short and points at every docs/ page, and every
relative link or image in README.md and docs/*.md reaches a file, directory or heading that
exists. Markdown is read with pathlib and re only (no Markdown library)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 200

# Not checked: links off the repository.
EXTERNAL = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)
# A fence opens or closes a code block: ``` or ~~~, three or more.
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# An inline code span; links inside it are text, not links.
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")
# [text](target "title") and ![alt](target); the text may hold one level of brackets.
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)"
)
# [label]: target "title" (a reference-style link definition).
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")


def prose_lines(text: str):
    """(line number, line) of every line outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None:
            if match:
                fence = match.group(1)
                continue
            yield number, line
        elif match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            fence = None


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every inline link, image and link definition."""
    found = []
    for number, line in prose_lines(text):
        line = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)
        targets = [m.group(1) for m in INLINE_LINK.finditer(line)]
        if match := REFERENCE.match(line):
            targets.append(match.group(1))
        found += [(number, target.strip("<>")) for target in targets]
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped (hyphens
    and underscores kept), each space a hyphen."""
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", heading)  # link text
    text = re.sub(r"<[^>]*>", "", text)  # inline HTML tags
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 ... for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        if match := HEADING.match(line):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def _unquote(path: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), path)


def broken_links(page: Path) -> list[str]:
    """What is wrong with each relative link of `page`, one line per bad link."""
    problems = []
    where = page.relative_to(ROOT)
    for number, target in links(page.read_text(encoding="utf-8")):
        if EXTERNAL.match(target):
            continue
        if not target:
            problems.append(f"{where}:{number}: empty link target")
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / _unquote(path)).resolve() if path else page
        if not resolved.exists():
            problems.append(f"{where}:{number}: {target!r}: no such file or directory")
        elif not resolved.is_relative_to(ROOT):
            problems.append(f"{where}:{number}: {target!r}: outside the repository")
        elif (
            anchor
            and resolved.suffix == ".md"
            and resolved.is_file()
            and anchor not in anchors(resolved)
        ):
            problems.append(
                f"{where}:{number}: {target!r}: no heading with anchor #{anchor} in "
                f"{resolved.relative_to(ROOT)}"
            )
    return problems


def test_docs_pages_exist():
    assert DOCS, "docs/ holds no Markdown pages"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    problems = broken_links(page)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move detail to docs/"
    )


def test_readme_links_every_docs_page():
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for _, target in links(README.read_text(encoding="utf-8"))
        if not EXTERNAL.match(target) and target.partition("#")[0]
    }
    missing = [str(page.relative_to(ROOT)) for page in DOCS if page.resolve() not in linked]
    assert not missing, f"README.md does not link to: {', '.join(missing)}"


# The reader itself, on small samples.


def test_links_skip_code_and_read_every_form():
    text = "\n".join(
        [
            'See [a](a.md#x), ![img](pics/b.png "title") and [`c`](<c d.md>).',
            "Not a link: `[e](e.md)`.",
            "```",
            "[f](f.md)",
            "```",
            "[ref]: g.md",
            "[h [nested]](h.md) and [mail](mailto:x@example.com)",
        ]
    )
    assert links(text) == [
        (1, "a.md#x"),
        (1, "pics/b.png"),
        (1, "c d.md"),
        (6, "g.md"),
        (7, "h.md"),
        (7, "mailto:x@example.com"),
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Two commands", "two-commands"),
        ("The `kubetfx` command", "the-kubetfx-command"),
        ("Performance (`make bench`)", "performance-make-bench"),
        ("Pipelines, Vertex AI and Cloud", "pipelines-vertex-ai-and-cloud"),
        ("Provisioning Google Cloud (Terraform)", "provisioning-google-cloud-terraform"),
        ("[Linked](x.md) heading", "linked-heading"),
        ("infra_validate → push", "infra_validate--push"),
    ],
)
def test_slug_is_githubs(heading, anchor):
    assert slug(heading) == anchor


# docs/performance.md: written by `make bench` (bench/docs.py) from bench/results.md, which
# is not kept in git, and bench/performance_template.md.

PERFORMANCE = ROOT / "docs" / "performance.md"
MACHINE = {"cpu": "Test CPU", "cores": 2, "memory_gib": 8.0, "python": "3.11.7", "system": "X 1"}


def _results(*extra: str) -> str:
    """A results.md as bench/common.py writes it: the machine line, then each section."""
    from bench.common import machine_line

    sections = [
        "### Orchestration overhead (kfp.local against the stages called in one process)\n\n"
        "| data | runs |\n|---|---|\n| penguins | 3 |\n",
        "### Data stages: 10 against 100 generated rows\n\n| stage | s |\n|---|---|\n| a | 1 |\n",
        "### Statistics throughput (100 rows)\n\n| what | seconds |\n|---|---|\n| b | 2 |\n",
        "### Training input (3 steps of 4 examples)\n\n| fed by | examples/s |\n|---|---|\n",
        "### Serving (model server vs in-process call of the same signature)\n\nModel m.\n",
        *extra,
    ]
    return "\n".join([machine_line(MACHINE, "2026-01-02") + "\n", *sections])


def test_performance_page_is_generated_and_names_its_run():
    from bench import docs

    page = PERFORMANCE.read_text(encoding="utf-8")
    assert page.startswith(docs.GENERATED + "\n"), "written by `python -m bench.docs`"
    assert re.search(
        r"^Machine: .+\. Date: \d{4}-\d{2}-\d{2}\. Command: `make bench`\.$", page, re.M
    )


def test_performance_page_is_what_the_template_makes_of_its_figures():
    """Nobody edited the page by hand, and the template was not changed without re-rendering
    (`python -m bench.docs --refresh` does it with the figures already on the page)."""
    from bench import docs

    page = PERFORMANCE.read_text(encoding="utf-8")
    template, results = docs.read_back(page)
    assert template.strip() == docs.TEMPLATE.read_text(encoding="utf-8").strip()
    assert docs.render(docs.TEMPLATE.read_text(encoding="utf-8"), results) == page


def test_rendering_is_repeatable_and_puts_each_section_at_its_marker(tmp_path):
    from bench import docs

    results = tmp_path / "results.md"
    results.write_text(_results())
    pages = []
    for name in ("first.md", "second.md"):
        argv = ["--results", str(results), "--out", str(tmp_path / name)]
        assert docs.main(argv) == 0
        pages.append((tmp_path / name).read_text(encoding="utf-8"))
    assert pages[0] == pages[1]
    page = pages[0]
    assert "Machine: Test CPU, 2 cores, 8.0 GiB, Python 3.11.7, X 1. Date: 2026-01-02." in page
    order = [
        page.index(text)
        for text in (
            "<!-- results: machine -->",
            "## Orchestration",
            "### Orchestration overhead",
            "## Data stages",
            "### Data stages: 10 against 100",
            "### Statistics throughput",
            "### Training input",
            "### Serving (model server",
        )
    ]
    assert order == sorted(order)
    # the figures read back from the page render it again, byte for byte
    template, figures = docs.read_back(page)
    assert docs.render(template, figures) == page
    assert docs.main(["--refresh", "--out", str(tmp_path / "first.md")]) == 0
    assert (tmp_path / "first.md").read_text(encoding="utf-8") == page


def test_merge_replaces_only_the_rerun_sections_and_says_where_they_were_measured(tmp_path):
    """One benchmark rerun (`python -m bench.serving`, then `bench.docs --merge`) updates its
    section of the page and keeps the others, which came from another run."""
    from bench import docs
    from bench.common import machine_line

    results = tmp_path / "results.md"
    results.write_text(_results())
    page = tmp_path / "page.md"
    assert docs.main(["--results", str(results), "--out", str(page)]) == 0
    other = {**MACHINE, "cpu": "Other CPU"}
    rerun = (
        machine_line(other, "2026-02-03")
        + "\n\n### Serving (model server vs in-process call of the same signature)\n\nModel n.\n"
        + "\n### Containers (the training pipeline in the venv and in the image)\n\n| a |\n"
    )
    results.write_text(rerun)
    assert docs.main(["--merge", "--results", str(results), "--out", str(page)]) == 0
    merged = page.read_text(encoding="utf-8")
    assert "Model n." in merged and "Model m." not in merged
    assert "### Containers (the training pipeline" in merged
    assert "| penguins | 3 |" in merged  # a section that was not rerun stays
    assert "Date: 2026-01-02." in merged  # and so does the page's machine line
    assert "*Measured apart from the rest: Machine: Other CPU" in merged
    assert merged.index("### Serving") < merged.index("### Containers")
    template, figures = docs.read_back(merged)
    assert docs.render(template, figures) == merged


def test_a_section_the_template_does_not_place_is_an_error_naming_the_fix():
    from bench import docs

    template = docs.TEMPLATE.read_text(encoding="utf-8")
    with pytest.raises(docs.DocsError, match=r"no place for \['New bench \(x\)'\].*<!-- results"):
        docs.render(template, _results("### New bench (x)\n\n| a |\n"))
    with pytest.raises(docs.DocsError, match="Machine: ... Date"):
        docs.render(template, "Machine: cpu. Command: `make bench`.\n\n### Serving\n")

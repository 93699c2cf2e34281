"""The docs agree with the code: the format tables, every command's help and example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from binfeed.cli import all_commands, main
from binfeed.records import FORMAT_VERSION

ROOT = Path(__file__).resolve().parents[1]


def _rows(lines: list[str]) -> list[str]:
    """Markdown table rows with cell whitespace normalised."""
    out = []
    for line in lines:
        line = line.strip()
        if line.startswith("|") and line.endswith("|"):
            cells = [re.sub(r"\s+", " ", c.strip()) for c in line.strip("|").split("|")]
            out.append("|".join(cells))
    return out


def test_every_format_table_row_of_the_header_is_in_docs_format_md() -> None:
    header = (ROOT / "csrc" / "include" / "binfeed_reader.h").read_text().splitlines()
    spec_rows = _rows([ln[3:] for ln in header if ln.startswith(" * |")])
    doc_rows = set(_rows((ROOT / "docs" / "format.md").read_text().splitlines()))
    assert len(spec_rows) > 50
    missing = [r for r in spec_rows if r not in doc_rows]
    assert not missing, f"docs/format.md lacks rows of binfeed_reader.h: {missing}"


def test_every_public_reader_function_is_in_the_headers_api_table() -> None:
    """The Reader API table (which docs/format.md repeats, see above) lists every bfr_*
    function the header defines, and nothing else."""
    header = (ROOT / "csrc" / "include" / "binfeed_reader.h").read_text()
    defined = set(re.findall(r"^static [\w ]*?[ *](bfr_[a-z][a-z_]*)\(", header, re.M))
    api = header[header.index(" * | function "):]
    api = api[:api.index("\n *\n")]
    listed = {row.split("|")[1].strip() for row in api.splitlines()[2:]} - {""}
    assert len(defined) >= 14
    assert defined == listed


def test_docs_name_the_current_format_version() -> None:
    doc = (ROOT / "docs" / "format.md").read_text()
    assert f"# The binfeed queue format, version {FORMAT_VERSION}" in doc
    assert f"(now **{FORMAT_VERSION}**)" in doc


@pytest.mark.parametrize("name", sorted(all_commands()))
def test_every_command_has_help_with_an_example_and_is_in_the_readme(name: str) -> None:
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"binfeed {name}" in (ROOT / "README.md").read_text()

"""The README's ``binfeed.open`` example runs as written, on the bundled BTC capture; the
columns docs/analysis.md lists are the tables'."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _example() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    return next(b for b in blocks if "binfeed.open(" in b)


def test_the_readme_example_runs(btc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    shutil.copytree(btc, tmp_path / "data" / "q")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(_example(), "README.md", "exec"), scope)
    quotes, vwap = scope["quotes"], scope["vwap"]
    assert len(quotes) > 1000 and quotes["mid"].notna().all()  # type: ignore[index,arg-type]
    assert vwap.height >= 5 and vwap["vwap"].min() > 60000  # type: ignore[attr-defined]
    assert capsys.readouterr().out.startswith("28040 2024-08-08 23:54:14.087891268")


def test_docs_analysis_lists_the_columns_of_every_table() -> None:
    from binfeed.tables import SCHEMAS

    doc = (ROOT / "docs" / "analysis.md").read_text()
    rows = dict(re.findall(r"^\| (\w+) \| (type, [^|]+) \|$", doc, re.M))
    for table, columns in SCHEMAS.items():
        want = ", ".join(name + ("?" if nullable else "") for name, _, nullable in columns)
        assert rows.get(table) == want, table

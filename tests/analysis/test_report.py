"""``binfeed report``: the page's structure, its facts against ``replay``, and every figure a
real, non-empty PNG; on a queue of the real captures with gaps and connection events."""

from __future__ import annotations

import base64
import io
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from binfeed.queue import QueueWriter, Segment, list_segments
from binfeed.records import ConnectionEvent
from tests import captures as c

from .conftest import _eth_with_cuts, by_type, cli, jsonl

pytestmark = pytest.mark.slow  # draws figures (about a second a page)


class Page(HTMLParser):
    """What a test needs of the page: headings, images, the facts table, paragraphs."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title = ""
        self.h2: list[str] = []
        self.images: list[tuple[str, bytes]] = []
        self.facts: dict[str, str] = {}
        self.paragraphs: list[str] = []
        self._tag: str | None = None
        self._th: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        if tag == "img":
            a = dict(attrs)
            src = a.get("src") or ""
            assert src.startswith("data:image/png;base64,"), src[:40]
            self.images.append((a.get("alt") or "", base64.b64decode(src.split(",", 1)[1])))

    def handle_endtag(self, tag: str) -> None:
        self._tag = None

    def handle_data(self, data: str) -> None:
        if self._tag == "title":
            self.title += data
        elif self._tag == "h2":
            self.h2.append(data)
        elif self._tag == "th":
            self._th = data
        elif self._tag == "td" and self._th is not None:
            self.facts[self._th] = data
            self._th = None
        elif self._tag == "p":
            self.paragraphs.append(data)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both captures (ETH with trades cut out: GAP records), then connection events inside
    the captures' time range, as a recorder would write them."""
    root = tmp_path_factory.mktemp("report")
    queue = root / "q"
    eth = _eth_with_cuts(root / "eth_cut.txt")
    code, out, err = cli("import", "--queue", str(queue), "--segment-slots", "16384",
                         str(c.BTC), str(eth))
    assert code == 0, out + err
    last = max(r["recv_ts_ns"] for r in jsonl(queue))
    with QueueWriter(queue) as w:
        w.append_connection(ConnectionEvent.DISCONNECTED, 1, code=1006, detail="lost",
                            recv_ts_ns=last - 60_000_000_000)
        w.append_connection(ConnectionEvent.CONNECTED, 2, detail="",
                            recv_ts_ns=last - 59_900_000_000)
        w.append_connection(ConnectionEvent.SUBSCRIBED, 2, code=4, detail="",
                            recv_ts_ns=last - 59_800_000_000)
    return queue


def _check_png(alt: str, png: bytes) -> None:
    image = Image.open(io.BytesIO(png))
    image.load()  # decodes every pixel: a truncated or corrupt PNG fails here
    assert image.format == "PNG" and image.width >= 600 and image.height >= 150, alt
    colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 20, f"{alt}: a blank figure"
    background = max(colors)[0] / (image.width * image.height)
    assert background < 0.97, f"{alt}: almost nothing drawn"


def test_report_page_structure_facts_and_figures(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    code, stdout, err = cli("report", str(recorded), "-o", str(out))
    assert code == 0, err
    assert stdout.startswith(f"{out}\t")
    page = Page(out.read_text(encoding="utf-8"))
    rows = jsonl(recorded)
    assert page.title == f"binfeed report: {recorded}"
    assert page.h2 == ["Records per second, per stream", "Mid price and spread, per symbol",
                       "Exchange-to-receive latency (trades)", "Gaps and connection events"]
    assert [alt for alt, _ in page.images] == page.h2  # one figure a section
    for alt, png in page.images:
        _check_png(alt, png)
    for kind in ("bookTicker", "trade", "gap", "connection"):
        assert page.facts[f"{kind} records"] == f"{len(by_type(rows, kind)):,}"
    assert len(by_type(rows, "gap")) == 2
    assert page.facts["symbols"] == "BTCUSDT, ETHUSDT"
    assert any("offset between this machine's clock and Binance's" in p
               for p in page.paragraphs)
    assert any("2 gap record(s)" in p and "3 connection record(s)" in p
               for p in page.paragraphs)


def test_report_of_some_symbols_and_a_window(recorded: Path, tmp_path: Path) -> None:
    rows = [r for r in jsonl(recorded) if r.get("symbol") == "BTCUSDT"]
    mid = sorted(r["recv_ts_ns"] for r in rows)[len(rows) // 2]
    out = tmp_path / "btc.html"
    code, _, err = cli("report", str(recorded), "-o", str(out), "--symbols", "btcusdt",
                       "--from", str(mid))
    assert code == 0, err
    page = Page(out.read_text(encoding="utf-8"))
    assert page.facts["symbols"] == "BTCUSDT"
    books = [r for r in by_type(rows, "bookTicker") if r["recv_ts_ns"] >= mid]
    assert page.facts["bookTicker records"] == f"{len(books):,}"
    code, _, err = cli("report", str(recorded), "-o", str(out), "--symbols", "xrpusdt")
    assert code == 1 and "XRPUSDT" in err


def test_a_queue_without_trades_or_events_says_so(tmp_path: Path) -> None:
    queue = tmp_path / "q"
    excerpt = c.DATA / "excerpts" / "bookTicker.jsonl"
    code, out, err = cli("import", "--queue", str(queue), str(excerpt))
    assert code == 0, out + err
    code, _, err = cli("report", str(queue), "-o", str(tmp_path / "r.html"))
    assert code == 0, err
    page = Page((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert [alt for alt, _ in page.images] == ["Records per second, per stream",
                                               "Mid price and spread, per symbol"]
    assert any("no trade record" in p for p in page.paragraphs)
    assert any("No gap and no connection record" in p for p in page.paragraphs)


def test_damage_is_listed_left_out_and_exits_1(recorded: Path, tmp_path: Path) -> None:
    queue = tmp_path / "q"
    shutil.copytree(recorded, queue)
    _, path = list_segments(queue)[0]
    with Segment(path) as seg:
        offset = seg.header_size + 100 * seg.slot_size + 40  # a byte of slot 100's body
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    out = tmp_path / "r.html"
    code, _, err = cli("report", str(queue), "-o", str(out))
    assert code == 1 and "binfeed verify" in err
    page = out.read_text(encoding="utf-8")
    assert "1 damage report(s) while reading" in page
    good = len(by_type(jsonl(recorded), "bookTicker")) + len(by_type(jsonl(recorded), "trade"))
    facts = Page(page).facts
    shown = int(facts["bookTicker records"].replace(",", "")) + int(
        facts["trade records"].replace(",", ""))
    assert shown == good - 1

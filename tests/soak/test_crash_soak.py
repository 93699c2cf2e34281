"""Bounded runs of the crash soak (tests/soak/crash_soak.py); the long runs and their figures
are in docs/reliability.md. A failure message lists every broken invariant and the figures,
and keeps the work directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.crash_soak import Config, run


@pytest.mark.slow
def test_fifty_kill_9_of_a_writer_under_full_load_with_live_readers(tmp_path: Path) -> None:
    summary = run(Config(kills=50, seed=20260601, workdir=tmp_path / "soak", quiet=True))
    # run() raised if any invariant broke; these say what was exercised
    assert summary["followers"]["bf_tail"]["stop"] == "sentinel"
    assert summary["followers"]["replay"]["stop"] == "sentinel"
    assert summary["verify"]["exit"] == 0
    assert summary["final_last_id"] > 50_000
    assert sum(summary["kill_modes"].values()) == 50


@pytest.mark.slow
def test_binfeed_record_killed_8_times_from_a_loopback_replay_stores_the_capture_once(
        tmp_path: Path) -> None:
    summary = run(Config(kills=8, seed=20260602, variant="record", workdir=tmp_path / "soak",
                         quiet=True))
    assert summary["records"]["bookTicker"] == summary["capture"]["bookTicker"]
    assert summary["records"]["trade"] == summary["capture"]["trade"]
    assert summary["kills_while_storing_new_frames"] >= 1
    assert summary["verify"]["exit"] == 0

"""Offline verification of a whole queue: the findings of C's ``bf_verify_queue``.

The checks themselves live in C (``csrc/src/verify.c``, using the one judge of
``binfeed_reader.h``); this module only carries their results into Python.

Example::

    report = verify_queue("data/q")
    for f in report.findings:
        print(f.line())
    print(report.ok)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from binfeed._ffi import ffi, lib, raise_status, string


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing verify found.

    Attributes:
        segment: the segment file's name (for a hole: the first missing one).
        slot: the slot (the first of a run), or None when about the whole file.
        kind: ``hole``, ``header``, ``version``, ``index``, ``write_index``, ``checksum``,
            ``record``, ``symbol`` (damage); ``unknown_type``, ``duplicate``, ``reversal``
            (warnings); ``unpublished``, ``untruncated``, ``damaged_seal``, ``recovery``
            (information: a RECOVERY record says what a writer's recovery cut or kept).
        severity: ``damage``, ``warning`` or ``info``.
        count: records, slots or segments concerned.
        detail: what was found, in words.
    """

    segment: str
    slot: int | None
    kind: str
    severity: str
    count: int
    detail: str

    def line(self) -> str:
        """``<segment file> slot <n>: <what>`` or ``<segment file>: <what>``."""
        where = self.segment if self.slot is None else f"{self.segment} slot {self.slot}"
        return f"{where}: {self.severity}: {self.detail}"

    def as_json(self) -> dict[str, object]:
        return {"segment": self.segment, "slot": self.slot, "kind": self.kind,
                "severity": self.severity, "detail": self.detail, "count": self.count}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Everything verify found in one queue."""

    path: str
    segments: int
    records: int
    slots: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def damage(self) -> int:
        return sum(1 for f in self.findings if f.severity == "damage")

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == "warning")

    @property
    def info(self) -> int:
        return sum(1 for f in self.findings if f.severity == "info")

    @property
    def ok(self) -> bool:
        """No damage (warnings and information allowed)."""
        return self.damage == 0


def verify_queue(path: str | os.PathLike[str]) -> VerifyReport:
    """Checks the whole queue at ``path`` (read-only; safe while a writer appends).

    Raises:
        QueueNotFoundError: no such directory, or no segment file in it (not a queue).
        QueueIOError: the directory cannot be listed.
    """
    root = Path(path)
    out = ffi.new("bf_verify **")
    err = ffi.new("char[]", 1024)
    rc = lib.bf_verify_queue(os.fsencode(root), 0, out, err, len(err))
    if rc < 0:
        raise_status(rc, string(err))
    v = ffi.gc(out[0], lib.bf_verify_free)
    totals = ffi.new("bf_verify_totals *")
    lib.bf_verify_get_totals(v, totals)
    findings = []
    for i in range(lib.bf_verify_count(v)):
        f = lib.bf_verify_finding(v, i)
        findings.append(Finding(
            string(f.segment), None if f.slot < 0 else int(f.slot),
            string(lib.bf_finding_kind_name(f.kind)), string(lib.bf_severity_name(f.severity)),
            int(f.count), string(f.detail)))
    return VerifyReport(str(root), int(totals.segments), int(totals.records), int(totals.slots),
                        findings)


__all__ = ["Finding", "VerifyReport", "verify_queue"]

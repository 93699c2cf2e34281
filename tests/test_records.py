"""The record kinds Python names are the ones C's judge knows (binfeed_reader.h)."""

from __future__ import annotations

from binfeed.records import DTYPES, KNOWN_TYPES, RecordType


def test_every_record_type_c_knows_has_a_python_name_and_a_dtype() -> None:
    # KNOWN_TYPES comes from bf_record_type_known over all 65,536 type values
    assert KNOWN_TYPES.tolist() == sorted(int(t) for t in RecordType)
    assert set(DTYPES) == set(RecordType)

"""Strings -> dense integer codes while the file streams by, so that everything after the read
(validation, vocabularies, sorting, sessions) works on int32 arrays instead of string columns.

Codes are given in order of first appearance in the file: the first distinct value is 0. That is
exactly the order `user_idx` needs, and it makes the codes independent of how DuckDB cut the scan
into batches. Cleaning (trim, '' -> missing) happens once per distinct value, not once per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MISSING = -1  # code of a missing value (NULL, empty or blank text)
BINARY = -2  # code of a value holding a NUL byte: binary data, its row is rejected
_POOL = pa.system_memory_pool()  # malloc: freed hash tables go back to the OS (peak RSS)


class Interner:
    """One column's global dictionary, grown batch group by batch group (arrow hash kernel).

    Each call encodes [dictionary so far, *new chunks] as one chunked array: arrow shares a single
    hash table across the chunks of one call, so the old values keep their codes and new ones are
    appended in order of appearance. Callers make groups at least as large as the dictionary, so
    re-hashing it costs at most as much as the rows themselves.
    """

    def __init__(self) -> None:
        self.dictionary: pa.Array = pa.array([], pa.string())  # raw distinct values, may hold null

    def add(self, chunks: list[pa.Array]) -> np.ndarray:
        """(rows,) int32 codes of the concatenated chunks into `self.dictionary`."""
        known = len(self.dictionary)
        values = pa.chunked_array([self.dictionary, *[c.cast(pa.string()) for c in chunks]])
        encoded = pc.dictionary_encode(values, null_encoding="encode", memory_pool=_POOL)
        if not encoded.num_chunks:
            return np.zeros(0, dtype=np.int32)
        self.dictionary = encoded.chunk(0).dictionary
        codes = np.concatenate([c.indices.to_numpy() for c in encoded.chunks])
        return codes[known:].astype(np.int32, copy=False)


@dataclass
class CleanColumn:
    """A role column after cleaning: per-row codes into distinct cleaned tokens."""

    codes: np.ndarray  # (N,) int8/16/32 (by vocabulary size) into `tokens`, MISSING if missing
    tokens: pa.Array  # (D,) distinct cleaned strings, in order of first appearance


def clean_dictionary(
    con: duckdb.DuckDBPyConnection, raw: pa.Array, default: str | None = None
) -> tuple[np.ndarray, pa.Array]:
    """Map raw distinct values to cleaned distinct tokens: trim (DuckDB's rule), '' -> missing.

    Returns (remap, tokens): raw code i becomes remap[i] (MISSING, BINARY for a value holding a
    NUL byte, or an index into tokens). With a
    `default`, missing values become that token instead (event type 'event'). Values that differ
    only in surrounding spaces merge, keeping the position of the first one seen.
    """
    table = pa.table({"i": pa.array(np.arange(len(raw), dtype=np.int64)), "v": raw})
    fill = "NULL" if default is None else "'" + default.replace("'", "''") + "'"
    con.register("raw_dictionary", table)
    try:
        cleaned = con.sql(
            f"SELECT coalesce(nullif(trim(v), ''), {fill}) AS v FROM raw_dictionary ORDER BY i"
        ).to_arrow_table()
    finally:
        con.unregister("raw_dictionary")
    values = cleaned.column("v").combine_chunks()
    encoded = pc.dictionary_encode(values)
    remap = pc.fill_null(encoded.indices, MISSING).to_numpy().astype(np.int32, copy=False)
    binary = pc.fill_null(pc.match_substring(values, "\x00"), False).to_numpy(zero_copy_only=False)
    if binary.any():
        remap = remap.copy()
        remap[binary] = BINARY
    return remap, encoded.dictionary.cast(pa.string())

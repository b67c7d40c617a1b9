"""Rebuild the small bad-input corpus beside this file: `python tests/data/bad/build_corpus.py`.

Each file is a few KB and committed; EXPECTED.json says what ingesting it must give. The large
cases (a gzip bomb, a 10 MB field, a million events of one user, a million items) are generated
per test session by tests/test_bad_inputs.py, never committed.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent
HEADER = "user_id,timestamp,event_type,item_id\n"


def rows(n: int, start: int = 1_700_000_000, users: int = 5) -> list[str]:
    """n good rows: user, unix seconds, event, item."""
    events = ("view", "cart", "buy")
    return [f"u{i % users},{start + 60 * i},{events[i % 3]},i{i % 7}\n" for i in range(n)]


def text(name: str, body: str, encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(body.encode(encoding))


def build() -> None:
    text("empty.csv", "")
    text("header_only.csv", HEADER)
    text("blank_lines.csv", "\n\n  \n\n")
    text("wrong_delimiter.csv", "".join(r.replace(",", ":") for r in [HEADER, *rows(20)]))
    good = rows(20)
    ragged = [*good[:5], "u9,1700000000\n", *good[5:10], "u9,1700000001,view,i1,extra,more\n",
              *good[10:]]  # fmt: skip
    text("ragged_rows.csv", HEADER + "".join(ragged))
    text("unterminated_quote.csv", HEADER + "".join(good[:10]) + 'u1,1700009999,view,"i1\n'
         + "".join(good[10:]))  # fmt: skip
    (HERE / "nul_bytes.csv").write_bytes(
        (HEADER + "".join(good[:3])).encode()
        + b"u1,17000\x00\x00000,view,i1\n"
        + "".join(good[3:]).encode()
    )
    text("utf16.csv", HEADER + "".join(good[:5]), encoding="utf-16")  # with a BOM, as Excel
    (HERE / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (HERE / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    mixed = HEADER.encode() + "".join(good[:5]).encode()
    mixed += "u_café,1700000001,view,i_crème\n".encode()  # UTF-8
    mixed += "u_café,1700000002,view,i_crème\n".encode("latin-1")  # the same ids in Latin-1
    mixed += "".join(good[5:]).encode()
    (HERE / "mixed_encodings.csv").write_bytes(mixed)
    text("latin1.csv", HEADER + "".join(good[:5]) + "u_café,1700000001,view,i_crème\n",
         encoding="latin-1")  # fmt: skip
    text(
        "times_1900.csv",
        HEADER
        + "".join(f"u{i % 3},1900-01-{1 + i:02d} 10:00:00,view,i{i % 4}\n" for i in range(10)),
    )
    text("times_1899.csv", HEADER + "".join(good[:5]) + "u1,1899-12-31 10:00:00,view,i1\n")
    text("times_1970.csv", HEADER + "".join(f"u{i % 3},{i},view,i{i % 4}\n" for i in range(20)))
    text(
        "times_2200.csv",
        HEADER
        + "".join(f"u{i % 3},2200-01-{1 + i:02d}T10:00:00Z,view,i{i % 4}\n" for i in range(10)),
    )
    text("times_2400.csv", HEADER + "".join(good[:5]) + "u1,2400-01-01 10:00:00,view,i1\n")
    text(
        "negative_ids.csv",
        HEADER + "".join(f"{-1 - i % 3},{1_700_000_000 + i},view,{-(i % 5)}\n" for i in range(15)),
    )
    text(
        "text_ids.csv",
        HEADER
        + "".join(
            f"user-{'abc'[i % 3]},{1_700_000_000 + i},view,SKU/{i % 4}.x\n" for i in range(15)
        ),
    )
    users = ("😀", "👩‍💻", "משתמש", "مستخدم", "u\u202eevil")
    items = ("🍕", "ספר", "كتاب", "i\u200bzero")
    text(
        "emoji_rtl_ids.csv",
        HEADER
        + "".join(f"{users[i % 5]},{1_700_000_000 + i},view,{items[i % 4]}\n" for i in range(20)),
    )
    text("duplicated_rows.csv", HEADER + "".join(good[:5]) * 3)
    text(
        "missing_values.csv",
        HEADER
        + "".join(good[:8])
        + ",1700000000,view,i1\nu1,,view,i1\nu1,1700000000,,\nu1,not a time,view,i1\n",
    )
    text("quoted_fields.csv", HEADER + '"u,1",1700000000,"view","item ""A"""\n'
         + '"u,1",1700000060,"buy","multi\nline"\n' + "".join(good[:5]))  # fmt: skip
    _parquet()


def _parquet() -> None:
    """A Parquet file whose role columns hold the wrong types: a list user, a bool time."""
    table = pa.table({
        "user_id": pa.array([[1, 2], [3], [], None, [5]], pa.list_(pa.int64())),
        "timestamp": pa.array([True, False, True, None, True]),
        "event_type": pa.array([1.5, 2.5, float("nan"), 4.0, 5.0]),
        "item_id": pa.array([{"a": 1}, {"a": 2}, None, {"a": 4}, {"a": 5}],
                            pa.struct([("a", pa.int64())])),
    })  # fmt: skip
    pq.write_table(table, HERE / "wrong_types.parquet")
    numbers = pa.table({
        "user_id": pa.array([1.5, 2.0, float("nan"), 4.0, None]),
        "timestamp": pa.array([b"\x00\x01", b"x", b"1700000000", b"", None], pa.binary()),
        "item_id": pa.array([1, 2, 3, 4, 5], pa.int8()),
    })  # fmt: skip
    pq.write_table(numbers, HERE / "odd_types.parquet")


if __name__ == "__main__":
    build()

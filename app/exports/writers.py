"""Encode rows as JSONL, CSV or Parquet, chunk by chunk, so nothing holds the whole file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from app.exports.formats import Row

T = TypeVar("T")

# Rows per HTTP chunk (~1 MB for pairs): 2,000 was no faster and doubled the memory used.
JSONL_BATCH = 1000
CSV_BATCH = 1000
# Rows per Parquet row group: big enough to compress well, small enough to stay flat.
PARQUET_ROW_GROUP = 5000
EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "zip": "application/zip",
}


def _batches(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def jsonl_chunks(rows: Iterable[Row]) -> Iterator[bytes]:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for batch in _batches(rows, JSONL_BATCH):
        yield ("\n".join(encode(r) for r in batch) + "\n").encode()


def jsonl_line_chunks(
    lines: Iterable[str], on_rows: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """Ready JSON lines (no newline) joined into chunks of JSONL_BATCH lines."""
    for batch in _batches(lines, JSONL_BATCH):
        if on_rows is not None:
            on_rows(len(batch))
        batch.append("")
        yield "\n".join(batch).encode()


def _csv_value(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return ""
    return value


def csv_chunks(rows: Iterable[Row], field_names: list[str]) -> Iterator[bytes]:
    """Nested values (chat messages, candidate lists) are written as JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(field_names)
    for batch in _batches(rows, CSV_BATCH):
        writer.writerows([_csv_value(r[k]) for k in field_names] for r in batch)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


class ChunkSink:
    """A write-only file object whose contents are drained after every write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def parquet_chunks(rows: Iterable[Row], schema: pa.Schema) -> Iterator[bytes]:
    """One row group per PARQUET_ROW_GROUP rows, written out as soon as it is full."""
    sink = ChunkSink()
    writer = pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema)
    try:
        for batch in _batches(rows, PARQUET_ROW_GROUP):
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            if data := sink.drain():
                yield data
    finally:
        writer.close()
    if data := sink.drain():
        yield data


def encode(rows: Iterable[Row], file_type: str, schema: pa.Schema) -> Iterator[bytes]:
    if file_type == "jsonl":
        return jsonl_chunks(rows)
    if file_type == "csv":
        return csv_chunks(rows, schema.names)
    return parquet_chunks(rows, schema)

"""Encodings of CSV exports (UTF-8, UTF-8 with BOM, CP932) and UTF-8 copies of CP932 ones for the engine.

DuckDB reads UTF-8 only, so CP932 event exports are copied; the copies get unique temporary names and are pruned.

Two validations at once never collide on a copy, and copies of customer exports do not stay in the cache
after UTF8_CACHE_DAYS without use.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
import time
from pathlib import Path

from cs_playbook.config import PROJ_ROOT

__all__ = ["SNIFF_BYTES", "UTF8_CACHE_DAYS", "detect_encoding", "utf8_copy", "prune_utf8_cache"]

SNIFF_BYTES = 1 << 20  # bytes read to detect an encoding


def detect_encoding(data: bytes) -> str:
    """'utf-8-sig' for UTF-8 with or without BOM, else 'cp932' (Shift_JIS as Excel writes it)."""
    try:
        data.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as err:
        # A multi-byte character cut at the sniff boundary is still UTF-8.
        if err.start >= len(data) - 3 and len(data) >= SNIFF_BYTES:
            return "utf-8-sig"
    try:
        data.decode("cp932")
        return "cp932"
    except UnicodeDecodeError as err:
        if err.start >= len(data) - 2 and len(data) >= SNIFF_BYTES:
            return "cp932"
        raise


UTF8_CACHE_DAYS = 2  # UTF-8 copies of CP932 event exports older than this are removed


def utf8_copy(path: Path) -> Path:
    """The CSV itself when UTF-8; else a streamed UTF-8 copy in .cache/ (DuckDB reads UTF-8 only).

    Copies are keyed by the file (path, size, time), written under a unique temporary name (two
    validations at once never collide) and pruned after UTF8_CACHE_DAYS, so customer exports do not
    pile up in the cache.
    """
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    enc = detect_encoding(head)
    if enc == "utf-8-sig" and not head.startswith(codecs.BOM_UTF8):
        return path
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    out = PROJ_ROOT / ".cache" / "utf8" / f"{path.stem}-{key}.csv"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".tmp")
        try:
            with (
                path.open("r", encoding=enc, newline="") as src,
                os.fdopen(fd, "w", encoding="utf-8", newline="") as dst,
            ):
                while chunk := src.read(1 << 22):
                    dst.write(chunk)
            os.replace(tmp_name, out)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    prune_utf8_cache(out.parent, keep=out)
    return out


def prune_utf8_cache(folder: Path, *, keep: Path) -> None:
    """Remove UTF-8 copies (and stray temporary files) not used for UTF8_CACHE_DAYS."""
    limit = time.time() - UTF8_CACHE_DAYS * 86400
    for f in folder.iterdir():
        try:
            if f != keep and f.stat().st_mtime < limit:
                f.unlink()
        except OSError:  # another process removed or is replacing it
            continue

"""UTF-8 copies of CP932 exports: concurrent validations never collide, stale copies are pruned."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cs_playbook.data.encoding import UTF8_CACHE_DAYS, detect_encoding, prune_utf8_cache, utf8_copy


def test_cp932_is_copied_once_to_utf8_even_when_two_runs_copy_at_once(tmp_path: Path) -> None:
    src = tmp_path / "events.csv"
    text = "account_id,event_type\n" + "A1,ログイン\n" * 20000
    src.write_bytes(text.encode("cp932"))
    assert detect_encoding(src.read_bytes()) == "cp932"
    with ThreadPoolExecutor(4) as pool:
        copies = list(pool.map(lambda _: utf8_copy(src), range(8)))
    assert len(set(copies)) == 1
    assert copies[0].read_text(encoding="utf-8") == text
    assert not list(copies[0].parent.glob(f".{copies[0].stem}.*.tmp"))


def test_utf8_files_are_read_in_place_and_old_copies_are_pruned(tmp_path: Path) -> None:
    utf8 = tmp_path / "events.csv"
    utf8.write_text("account_id\nA1\n", encoding="utf-8")
    assert utf8_copy(utf8) == utf8
    folder = tmp_path / "cache"
    folder.mkdir()
    old, fresh, keep = folder / "old.csv", folder / "fresh.csv", folder / "keep.csv"
    for f in (old, fresh, keep):
        f.write_text("x", encoding="utf-8")
    stale = time.time() - (UTF8_CACHE_DAYS + 1) * 86400
    os.utime(old, (stale, stale))
    os.utime(keep, (stale, stale))
    prune_utf8_cache(folder, keep=keep)
    assert not old.exists() and fresh.exists() and keep.exists()

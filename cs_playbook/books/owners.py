"""Whose book an account is in, and the book's file name: a safe slug that no CSM name can turn into a path.

An account's owner is its CSM; a missing CSM (placeholders such as "unassigned", "-" or "未割当"
are missing, `data.meaning.PLACEHOLDER_OWNERS`) puts it into the one unassigned book.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pandas as pd

from cs_playbook.data.meaning import PLACEHOLDER_OWNERS

__all__ = ["UNASSIGNED_SLUG", "owner_of", "book_slug"]

UNASSIGNED_SLUG = "unassigned"  # the file name of the unassigned book (no CSM name can produce it)
_MAX_SLUG = 40


def owner_of(csm: pd.Series) -> pd.Series:
    """The owner of each account: its CSM's name, trimmed; missing (<NA>) when it has none or a placeholder."""
    names = csm.astype("string").str.strip()
    placeholder = names.str.lower().isin(PLACEHOLDER_OWNERS).fillna(False).astype(bool)
    return names.mask(placeholder | names.isna())


def book_slug(owner: object) -> str:
    """A file name stem for an owner's book: "csm-<ascii letters/digits of the name>-<hash>", or "unassigned".

    Only [a-z0-9-] survive, so no name can reach outside the books folder ("../x", "<script>", "a/b");
    the hash of the full name keeps two names that sanitise alike apart.
    """
    if owner is None or owner is pd.NA or (isinstance(owner, float) and owner != owner):
        return UNASSIGNED_SLUG
    name = str(owner)
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:_MAX_SLUG].strip("-")
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return f"csm-{stem}-{digest}" if stem else f"csm-{digest}"

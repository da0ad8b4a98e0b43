"""Comparing secrets that arrive as text (tokens, proofs, nonces) in constant time.

hmac.compare_digest refuses two str when either holds a non-ASCII character (a TypeError, so a 500 for
whoever sends one); compared as UTF-8 bytes, any text is simply equal or not.
"""

from __future__ import annotations

import hmac


def same_secret(given: object, expected: object) -> bool:
    """Whether `given` equals `expected`, in time that does not depend on where they differ."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(
        str(given).encode("utf-8", "surrogatepass"), str(expected).encode("utf-8", "surrogatepass")
    )

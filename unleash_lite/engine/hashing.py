"""Unleash's normalised MurmurHash3 buckets, shared by rollouts and variants."""

from __future__ import annotations

from collections.abc import Callable

import mmh3

VARIANT_SEED = 86028157

# MurmurHash3 x86 32-bit of text (as UTF-8) or bytes, with a seed, signed or not.
_murmur: Callable[[str | bytes, int, bool], int] = mmh3.hash


def normalized_hash(group_id: str, identifier: str, modulus: int = 100, seed: int = 0) -> int:
    """Return the 1-based bucket of ``identifier`` within ``group_id``: 1..modulus."""
    return bucket_function(group_id, modulus, seed)(identifier)


def bucket_function(group_id: str, modulus: int = 100, seed: int = 0) -> Callable[[str], int]:
    """Compile :func:`normalized_hash` for one group, so each call hashes and nothing more."""
    prefix = f"{group_id}:"
    if not prefix.isascii():
        return lambda identifier: _utf8_bucket(prefix, identifier, modulus, seed)

    def bucket(identifier: str) -> int:
        if identifier.isascii():
            return _murmur(prefix + identifier, seed, False) % modulus + 1
        return _utf8_bucket(prefix, identifier, modulus, seed)

    return bucket


def _utf8_bucket(prefix: str, identifier: str, modulus: int, seed: int) -> int:
    # mmh3 crashes the process on strings holding lone surrogates (which JSON can carry), so
    # anything beyond ASCII is hashed as bytes: the same UTF-8 for any valid text.
    data = (prefix + identifier).encode("utf-8", "surrogatepass")
    return _murmur(data, seed, False) % modulus + 1

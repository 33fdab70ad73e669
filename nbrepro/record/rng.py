"""The global random generators' states a cell started with, as JSON, and setting them again.

Standard library only (numpy is imported only to set a numpy state): exported packages carry
this file as ``_rng.py``, and ``nbrepro verify`` runs ``apply`` in the rerun's kernel.

A state is the content of a blob of kind ``rng`` (``seeds.start`` in a record names one per
generator), built by ``nbrepro.capture.seeds`` from the copy it takes at the cell's start:

- ``{"generator": "random", "key": B64, "pos": int, "gauss_next": float | null}``: the
  module ``random``'s Mersenne Twister, what ``random.getstate()`` holds;
- ``{"generator": "numpy", "key": B64, "pos": int, "has_gauss": 0 | 1, "gauss": float}``:
  numpy's legacy global ``RandomState`` (``np.random.rand`` and everything that draws from
  it: ``pandas.DataFrame.sample``, scikit-learn's ``random_state=None``), MT19937 only.

``key`` is the 624 32-bit words, little-endian, base64.
"""

from __future__ import annotations

import base64
import random
import struct
from collections.abc import Mapping
from typing import Any

KIND = "rng"  # the blob kind
RESTORABLE = ("random", "numpy")
_WORDS = 624


def key_text(words: bytes) -> str:
    """The 624 words (little-endian bytes) as stored."""
    if len(words) != 4 * _WORDS:
        raise ValueError(f"a Mersenne Twister key has {4 * _WORDS} bytes, not {len(words)}")
    return base64.b64encode(words).decode("ascii")


def _key(state: Mapping[str, Any]) -> tuple[int, ...]:
    return struct.unpack(f"<{_WORDS}I", base64.b64decode(state["key"]))


def apply(states: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Set each global generator named in ``states`` to its state; returns the names set.

    numpy is imported when a numpy state is given (a cell that imported numpy started its
    draws from the state numpy had at import)."""
    done = []
    for name, state in states.items():
        if name == "random":
            random.setstate((3, (*_key(state), int(state["pos"])), state["gauss_next"]))
        elif name == "numpy":
            import numpy.random

            key = numpy.array(_key(state), dtype=numpy.uint32)
            numpy.random.set_state(("MT19937", key, int(state["pos"]), int(state["has_gauss"]), float(state["gauss"])))
        else:
            continue
        done.append(name)
    return done

"""Seeds and the state of the global random generators: set, fingerprinted, and watched.

- ``seed(n)`` seeds ``random``, numpy's global RNG, torch (CPU and CUDA) and tensorflow, those
  imported now and those imported later in the session.
- Calls the user makes (``random.seed``, ``np.random.seed``, ``torch.manual_seed``,
  ``tf.random.set_seed``, ``*.set_state``) are seen too, through wrappers installed when each
  module is imported, and land in ``seeds.set``.
- Before and after every cell the state of each global RNG already imported is copied. For
  ``random`` and numpy's MT19937 the copy is a ``ctypes.string_at`` over the generator's C
  state (about 1 µs), used only after a self-test against ``getstate()`` on this very
  interpreter; elsewhere it falls back to ``getstate()`` once per cell. The worker hashes
  the copies, and keeps the states of ``random`` and numpy's legacy global RNG that each cell
  started with as ``rng`` blobs (``nbrepro.record.rng``; one per distinct state, so a state
  no cell changed is stored once): export and verify set them again before each cell.
- A cell that advanced a global RNG never seeded in this session, or called
  ``numpy.random.default_rng()`` without a seed, is listed in ``seeds.unseeded``.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import random
import struct
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from ..record import rng
from ..record.hashing import hash_bytes
from .imports import ImportWatcher, Patches

_MT_WORDS = 624
_AUG = struct.Struct("=i4xd")  # numpy's RandomState: int has_gauss, double gauss (aligned)
StageBlob = Callable[[str, dict[str, Any]], str]  # Recorder._stage_blob: (kind, content) -> id
_active: SeedCollector | None = None


def seed(n: int) -> dict[str, int]:
    """Seed every global RNG of the session; with nbrepro loaded this lands in the record.

    Returns the generators seeded now. Those imported later are seeded at import.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < 2**32:
        raise ValueError(f"nbrepro.seed: the seed must be an integer in [0, 2**32), got {n!r}")
    if _active is not None:
        return _active.seed(n)
    return {name: n for name in _seed_modules(n, dict(sys.modules))}


def _seed_modules(n: int, modules: dict[str, Any]) -> list[str]:
    done = []
    random.seed(n)
    done.append("random")
    if "numpy.random" in modules:
        modules["numpy.random"].seed(n)
        done.append("numpy")
    if "torch" in modules and hasattr(modules["torch"], "manual_seed"):
        modules["torch"].manual_seed(n)  # also seeds every CUDA device
        done.append("torch")
    tf = modules.get("tensorflow")
    if tf is not None and hasattr(getattr(tf, "random", None), "set_seed"):
        tf.random.set_seed(n)
        done.append("tensorflow")
    return done


# The module whose import seeds each generator a seed left for later (SeedCollector.install).
_SEEDED_AT_IMPORT = {"numpy": "numpy.random", "torch": "torch", "tensorflow": "tensorflow"}


def seeded_at_import(modules: Mapping[str, Any]) -> list[str]:
    """The generators that ``seed(n)``, with the extension loaded, leaves to their import:
    those whose module is not in ``modules`` (``sys.modules``) yet."""
    return [name for name, module in _SEEDED_AT_IMPORT.items() if module not in modules]


# -- fingerprints --------------------------------------------------------------------------
def _random_reader() -> Callable[[], Any]:
    """A fast copy of ``random``'s global state, if this interpreter's layout is the known one."""
    probe = random.Random(20240601)
    offset = object.__basicsize__
    state = probe.getstate()[1]
    expected = struct.pack(f"i{_MT_WORDS}I", state[-1], *state[:-1])
    if ctypes.string_at(id(probe) + offset, len(expected)) == expected:
        inst: Any = random._inst
        address, size = id(inst) + offset, len(expected)
        # gauss_next is almost always None; appended as text, the copy stays one bytes object
        return lambda: ctypes.string_at(address, size) + repr(inst.gauss_next).encode()
    return random.getstate


def _numpy_reader(np_random: Any) -> Callable[[], Any]:
    """The copy of numpy's global state: MT19937's key and position straight from its C
    structure, then the legacy ``RandomState``'s cached gaussian (``has_gauss``, ``gauss``:
    ``np.random.randn`` draws two at a time and keeps one) from the object itself, both
    checked against ``get_state()`` on probes first; else ``get_state()`` pickled."""
    rand = np_random.mtrand._rand
    probe = type(rand._bit_generator)(20240601)
    size = _MT_WORDS * 4 + 4
    try:
        state = probe.state["state"]
        expected = state["key"].astype("<u4").tobytes() + struct.pack("<i", state["pos"])
        fast = sys.byteorder == "little" and ctypes.string_at(probe.ctypes.state_address, size) == expected
        aug = _gauss_offset(type(rand)) if fast else None
    except Exception:  # noqa: BLE001 - not MT19937: use the slow, public way
        aug = None
    if aug is None:
        return lambda: pickle.dumps(rand.get_state(legacy=False))
    cache: dict[int, int] = {}
    aug_address = id(rand) + aug

    def read() -> Any:
        bg = rand._bit_generator
        address = cache.get(id(bg))
        if address is None:
            address = cache[id(bg)] = bg.ctypes.state_address
        return ctypes.string_at(address, size) + ctypes.string_at(aug_address, _AUG.size)

    return read


def _gauss_offset(random_state: type) -> int | None:
    """Where ``(has_gauss, gauss)`` sits in a ``RandomState`` object, found on one probe
    holding a cached gaussian and confirmed on two more; None when the layout is not that."""
    limit = random_state.__basicsize__

    def probe(seed: int, draws: int) -> tuple[bytes, bytes]:
        rs = random_state(seed)
        for _ in range(draws):
            rs.standard_normal()
        _, _, _, has_gauss, gauss = rs.get_state()
        return ctypes.string_at(id(rs), limit), _AUG.pack(has_gauss, gauss)

    memory, wanted = probe(20240601, 1)
    offset = -1
    while True:
        offset = memory.find(wanted[-8:], offset + 1)
        if offset < 8:
            return None
        if memory[offset - 8 : offset - 4] == wanted[:4]:
            break
    start = offset - 8
    for seed, draws in ((7, 1), (11, 2)):
        memory, wanted = probe(seed, draws)
        got = memory[start : start + _AUG.size]
        if (got[:4], got[8:]) != (wanted[:4], wanted[8:]):
            return None
    return start


def _torch_reader(torch: Any) -> Callable[[], Any]:
    def read() -> Any:
        states = [torch.default_generator.get_state()]
        cuda = getattr(torch, "cuda", None)
        if cuda is not None and cuda.is_initialized():
            states.extend(cuda.get_rng_state_all())
        return states

    return read


_FINGERPRINTS: dict[bytes, str] = {}


def fingerprint(raw: Any) -> str:
    """The ``blake3:`` hash of one copied RNG state (a cell's "before" is usually the last
    cell's "after", so recent byte states are remembered)."""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw)
        known = _FINGERPRINTS.get(raw)
        if known is None:
            if len(_FINGERPRINTS) > 32:
                _FINGERPRINTS.clear()
            known = _FINGERPRINTS[raw] = hash_bytes(raw)
        return known
    if isinstance(raw, list) and raw and hasattr(raw[0], "numpy"):  # torch tensors
        return hash_bytes(b"".join(t.numpy().tobytes() for t in raw))
    return hash_bytes(repr(raw).encode())


def _content(name: str, raw: Any) -> dict[str, Any] | None:
    """The ``rng`` blob of one raw copy (see the readers above); None when it cannot be set
    again (torch, or numpy's global RNG on another bit generator)."""
    if name == "random":
        if isinstance(raw, bytes):  # the C structure: int index, 624 words; then repr(gauss_next)
            size = struct.calcsize(f"i{_MT_WORDS}I")
            pos, *words = struct.unpack(f"i{_MT_WORDS}I", raw[:size])
            gauss = raw[size:].decode()
            gauss_next = None if gauss == "None" else float(gauss)
        else:  # random.getstate()
            _, (*words, pos), gauss_next = raw
        return {"generator": "random", "key": rng.key_text(struct.pack(f"<{_MT_WORDS}I", *words)), "pos": pos,
                "gauss_next": gauss_next}
    if name == "numpy":
        if len(raw) == _MT_WORDS * 4 + 4 + _AUG.size:  # the C structure, then (has_gauss, gauss)
            key, (pos,) = raw[: _MT_WORDS * 4], struct.unpack_from("<i", raw, _MT_WORDS * 4)
            has_gauss, gauss = _AUG.unpack_from(raw, _MT_WORDS * 4 + 4)
        else:  # get_state(legacy=False), pickled
            state = pickle.loads(raw)  # our own bytes, taken in this process
            if state.get("bit_generator") != "MT19937":
                return None
            key, pos = state["state"]["key"].astype("<u4").tobytes(), state["state"]["pos"]
            has_gauss, gauss = state["has_gauss"], state["gauss"]
        return {"generator": "numpy", "key": rng.key_text(key), "pos": int(pos), "has_gauss": int(has_gauss),
                "gauss": float(gauss)}
    return None


class SeedCollector:
    def __init__(self, stage_blob: StageBlob | None = None) -> None:
        self._stage_blob = stage_blob
        self._start_ids: dict[str, str] = {}  # fingerprint -> rng blob id ("" not restorable)
        self._readers: dict[str, Callable[[], Any]] = {}
        self._patches = Patches()
        self._seeded: set[str] = set()  # RNGs seeded at some point in this session
        self._pending: int | None = None
        self._noticed: set[str] = set()
        self.calls: dict[str, Any] = {}  # seeds set during the current cell
        self.unseeded: list[str] = []  # unseeded generators created during the current cell
        self._imported: dict[str, Any] = {}  # states at import, for RNGs imported mid-cell
        self.hashseed = os.environ.get("PYTHONHASHSEED") or ("random" if sys.flags.hash_randomization else "0")

    def install(self, watcher: ImportWatcher) -> None:
        global _active
        _active = self
        self._readers["random"] = _random_reader()
        self._patch_random()
        watcher.on_import("numpy.random", self._on_numpy)
        watcher.on_import("torch", self._on_torch)
        watcher.on_import("tensorflow", self._on_tensorflow)

    def uninstall(self) -> None:
        global _active
        if _active is self:
            _active = None
        self._patches.undo()

    # -- hot path ------------------------------------------------------------------------
    def states(self) -> dict[str, Any]:
        """Raw copies of every global RNG state (hashed later, by the worker)."""
        out = {}
        for name, read in self._readers.items():
            try:
                out[name] = read()
            except Exception:  # noqa: BLE001 - a state we cannot read is left out
                continue
        return out

    def begin(self) -> dict[str, Any]:
        self.calls = {}
        self.unseeded = []
        self._imported = {}
        return self.states()

    def end(self, before: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str], list[str]]:
        """(before, after, seeds set, unseeded, notices) for the cell that just ended."""
        after = self.states()
        before = {**self._imported, **before}
        unseeded = list(self.unseeded)
        for name, state in after.items():
            if name in self._seeded or name not in before:
                continue
            if not _same(before[name], state):
                unseeded.append(name)
        notices = [name for name in unseeded if name not in self._noticed]
        self._noticed.update(notices)
        return before, after, dict(self.calls), unseeded, notices

    # -- worker --------------------------------------------------------------------------
    def part(self, before: dict[str, Any], after: dict[str, Any], calls: dict[str, Any], unseeded: list[str]) -> dict[str, Any]:
        """The ``seeds`` part of a record (called by the worker): fingerprints, and in
        ``start`` the blob ids of the restorable states the cell started with."""
        fingerprints = {k: fingerprint(v) for k, v in sorted(before.items())}
        out = {
            "set": calls,
            "before": fingerprints,
            "after": {k: fingerprint(v) for k, v in sorted(after.items())},
            "unseeded": sorted(set(unseeded)),
            "pythonhashseed": self.hashseed,
        }
        if self._stage_blob is not None:
            start = {}
            for name in rng.RESTORABLE:
                if name in before:
                    blob = self._start_blob(name, before[name], fingerprints[name])
                    if blob is not None:
                        start[name] = blob
            if start:
                out["start"] = start
        return out

    def _start_blob(self, name: str, raw: Any, fingerprint: str) -> str | None:
        """The blob id of one state; built, hashed and staged only the first time it is seen
        (the store writes a blob once per id)."""
        known = self._start_ids.get(fingerprint)
        if known is None and self._stage_blob is not None:
            content = _content(name, raw)
            if len(self._start_ids) > 64:
                self._start_ids.clear()
            known = self._start_ids[fingerprint] = "" if content is None else self._stage_blob(rng.KIND, content)
        return known or None

    # -- seeding -------------------------------------------------------------------------
    def seed(self, n: int) -> dict[str, int]:
        self._pending = n
        done = {name: n for name in _seed_modules(n, dict(sys.modules))}
        self._note(done)
        return done

    def _note(self, seeds: dict[str, Any]) -> None:
        self.calls.update(seeds)
        self._seeded.update(name for name, value in seeds.items() if value is not None)

    def _watch(self, owner: Any, attr: str, name: str, *, state: bool = False) -> None:
        def make(original: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                value = args[0] if args else next(iter(kwargs.values()), None)
                self._note({name: "state" if state else _plain(value)})
                return result

            return wrapper

        self._patches.wrap(owner, attr, make)

    def _patch_random(self) -> None:
        self._watch(random, "seed", "random")
        self._watch(random, "setstate", "random", state=True)

    def _on_numpy(self, np_random: Any) -> None:
        self._readers["numpy"] = reader = _numpy_reader(np_random)
        self._imported["numpy"] = reader()
        self._watch(np_random, "seed", "numpy")
        self._watch(np_random, "set_state", "numpy", state=True)

        def make(original: Any) -> Any:
            def default_rng(*args: Any, **kwargs: Any) -> Any:
                given = args[0] if args else kwargs.get("seed")
                if _importing():
                    pass  # a library making its own generator as it is imported: not the cell's draw
                elif given is None:
                    self.unseeded.append("numpy.random.default_rng")
                elif isinstance(given, int):
                    self.calls["numpy.random.default_rng"] = given
                return original(*args, **kwargs)

            return default_rng

        self._patches.wrap(np_random, "default_rng", make)
        if self._pending is not None:
            np_random.seed(self._pending)
            self._note({"numpy": self._pending})
            self._imported["numpy"] = reader()

    def _on_torch(self, torch: Any) -> None:
        if not hasattr(torch, "default_generator"):
            return
        self._readers["torch"] = reader = _torch_reader(torch)
        self._imported["torch"] = reader()
        self._watch(torch, "manual_seed", "torch")
        if self._pending is not None:
            torch.manual_seed(self._pending)
            self._note({"torch": self._pending})
            self._imported["torch"] = reader()

    def _on_tensorflow(self, tf: Any) -> None:
        tf_random = getattr(tf, "random", None)
        if tf_random is None:
            return
        self._watch(tf_random, "set_seed", "tensorflow")
        if self._pending is not None:
            tf_random.set_seed(self._pending)
            self._note({"tensorflow": self._pending})




def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list) and isinstance(b, list):  # torch tensors
        return len(a) == len(b) and all(bool((x == y).all()) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. numpy arrays in a slow-path dict
        return repr(a) == repr(b)


def _plain(value: Any) -> Any:
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return repr(value)[:100]


def _importing(depth: int = 64) -> bool:
    """Whether an import is running below the caller (importlib's frames are on the stack)."""
    frame: FrameType | None = sys._getframe(2)
    for _ in range(depth):
        if frame is None:
            return False
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False

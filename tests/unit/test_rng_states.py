"""The global RNG states a cell starts with: copied, kept as ``rng`` blobs once per distinct
state, and set again exactly (``nbrepro.record.rng``), and the comparison of what stays
stable when no state is known."""

from __future__ import annotations

import pickle
import random
from typing import Any

import numpy as np
import numpy.random

from nbrepro.capture import seeds
from nbrepro.record import rng
from nbrepro.record.compare import stable_text


def draws() -> tuple[Any, ...]:
    # gauss and randn cache a second value between calls: the state must carry it
    return random.random(), random.gauss(0, 1), np.random.randn(3).tolist(), np.random.rand(), np.random.randn()


def test_fast_and_slow_copies_give_the_same_state_and_it_replays_exactly() -> None:
    readers = {"random": seeds._random_reader(), "numpy": seeds._numpy_reader(numpy.random)}
    random.gauss(0, 1)
    np.random.randn()  # both now hold a cached gaussian
    raw = {name: read() for name, read in readers.items()}
    assert isinstance(raw["random"], bytes) and isinstance(raw["numpy"], bytes)  # the fast copies here
    states = {name: seeds._content(name, value) for name, value in raw.items()}
    assert states["random"] is not None and states["random"]["gauss_next"] is not None
    assert states["numpy"] is not None and states["numpy"]["has_gauss"] == 1
    slow = {
        "random": seeds._content("random", random.getstate()),
        "numpy": seeds._content("numpy", pickle.dumps(np.random.mtrand._rand.get_state(legacy=False))),
    }
    assert slow == states
    first = draws()
    random.seed(1)
    np.random.seed(1)
    assert rng.apply(states) == ["random", "numpy"]
    assert draws() == first


def test_numpy_on_another_bit_generator_is_not_restorable() -> None:
    state = np.random.RandomState(np.random.PCG64(3)).get_state(legacy=False)
    assert seeds._content("numpy", pickle.dumps(state)) is None
    assert seeds._content("torch", b"...") is None


def test_each_distinct_start_state_is_staged_once() -> None:
    staged: list[tuple[str, dict[str, Any]]] = []

    def stage(kind: str, content: dict[str, Any]) -> str:
        staged.append((kind, content))
        return f"blake3:{len(staged):064x}"

    collector = seeds.SeedCollector(stage)
    read = seeds._random_reader()
    still = read()
    first = collector.part({"random": still}, {"random": still}, {}, [])
    again = collector.part({"random": still}, {"random": still}, {}, [])
    random.random()
    moved = collector.part({"random": read()}, {"random": read()}, {}, ["random"])
    assert first["start"] == again["start"] == {"random": "blake3:" + "0" * 63 + "1"}
    assert moved["start"] == {"random": "blake3:" + "0" * 63 + "2"}
    assert [kind for kind, _ in staged] == [rng.KIND, rng.KIND]
    assert staged[0][1]["generator"] == "random" and first["before"]["random"].startswith("blake3:")
    # without a store to stage into (and for generators it cannot set again) no "start"
    assert "start" not in seeds.SeedCollector().part({"random": still}, {"random": still}, {}, [])
    assert "start" not in collector.part({"torch": [1]}, {"torch": [1]}, {}, [])


def test_stable_text_keeps_type_shape_and_dtype_and_masks_the_numbers() -> None:
    recorded = "array([-0.91792482,  0.07027514,  1.02932513])"
    assert stable_text(recorded) == stable_text("array([ 1.46394025, -0.91182301,  1.12051335])")
    assert stable_text(recorded) != stable_text("array([ 1.46394025, -0.91182301])")  # another shape
    assert stable_text("array([1, 2], dtype=int32)") != stable_text("array([1, 2], dtype=int64)")
    frame = "          a         b\n0  0.123456 -1.500000\n1 -0.250000  2.000000"
    other = "          a         b\n0 -2.100000  0.300000\n1  0.000100 -9.000000"
    assert stable_text(frame) == stable_text(other)
    assert stable_text(frame) != stable_text(other.replace(" b", " c"))

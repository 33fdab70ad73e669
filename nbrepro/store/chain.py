"""The hash chain over a store's records: sealing new records and checking old ones."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..record import record_hash
from ..record.hashing import canonical_json, hash_text


def seal(
    record: dict[str, Any], seq: int, prev_hash: str | None, memo: dict[int, tuple[Any, str]] | None = None
) -> str:
    """Give ``record`` its place in the chain and its hash, in place.

    Returns the canonical JSON the hash was taken over (the record less ``hash``): what a
    store keeps, so each record is serialized once. ``memo`` (id of a part -> the part and
    its JSON) lets records of one batch that share their git, env and hardware parts encode
    them once; holding the part keeps its id from being reused. Parts are never mutated.
    """
    record["seq"] = seq
    record["prev_hash"] = prev_hash
    record.pop("hash", None)
    if memo is None:
        body = canonical_json(record)
    else:
        # canonical JSON is compositional: a sorted object of canonically encoded values
        items = []
        for key in sorted(record):
            value = record[key]
            if isinstance(value, (dict, list)):
                seen = memo.get(id(value))
                if seen is not None and seen[0] is value:
                    text = seen[1]
                else:
                    text = canonical_json(value)
                    memo[id(value)] = (value, text)
            else:
                text = _scalar(value)
            key_text = _KEYS.get(key)
            if key_text is None:
                key_text = _KEYS[key] = canonical_json(key)
            items.append(f"{key_text}:{text}")
        body = "{" + ",".join(items) + "}"
    record["hash"] = hash_text(body)
    return body


_KEYS: dict[str, str] = {}


def _scalar(value: Any) -> str:
    """canonical_json of a scalar, without the encoder for the common plain cases."""
    kind = type(value)
    if kind is int:
        return str(value)
    if value is None:
        return "null"
    if kind is float and value == value and value not in (float("inf"), float("-inf")):
        return repr(value)
    return canonical_json(value)


PRUNED = "nbrepro.pruned/1"


def is_marker(item: dict[str, Any]) -> bool:
    """Whether a chain item is the marker ``nbrepro gc`` leaves for a pruned range, not a record."""
    return item.get("schema") == PRUNED


def link(item: dict[str, Any]) -> str | None:
    """The hash the next item's ``prev_hash`` names: a record's own, or for a pruned range the
    hash of its last record (so the records after it keep their hashes)."""
    return item.get("last_hash") if is_marker(item) else item.get("hash")


def seq_of(item: dict[str, Any]) -> int:
    """An item's seq as a sort key (0 where an edit left none)."""
    seq = item.get("seq")
    return seq if isinstance(seq, int) else 0


def check(
    items: Iterable[dict[str, Any]], head: tuple[int, str | None] | None = None, header_seq: int | None = None
) -> list[str]:
    """Every break in the chain, as one line each; an empty list means the chain is whole.

    ``items`` are the records and pruned-range markers in seq order. ``head`` is the (seq,
    hash) the store remembers as its last item and ``header_seq`` the seq it also writes into
    the database header: either running ahead of the items means items were removed from
    the end. Neither is trusted on its own: both are compared with the items.
    """
    problems: list[str] = []
    prev: str | None = None
    expected_seq = 1
    last: tuple[int, str | None] = (0, None)
    for item in items:
        seq = item.get("seq")
        marker = is_marker(item)
        first = item.get("first_seq") if marker else seq
        name = f"pruned seq {first}-{seq}" if marker else f"seq {seq}"
        if marker and not (isinstance(first, int) and isinstance(seq, int) and first <= seq):
            problems.append(f"{name}: not a valid pruned range")
        if first != expected_seq:
            problems.append(f"{name}: expected seq {expected_seq} (a record was deleted or reordered)")
        if item.get("prev_hash") != prev:
            problems.append(f"{name}: prev_hash does not match the record before it")
        if record_hash(item) != item.get("hash"):
            what = "marker" if marker else "record"
            problems.append(f"{name}: hash does not match its content (the {what} was edited)")
        prev = link(item)
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
        last = (seq if isinstance(seq, int) else 0, prev)
    if head is not None and head != last:
        problems.append(f"the store's head is seq {head[0]} but the last record is seq {last[0]} (records were removed)")
    if header_seq is not None and header_seq > last[0]:
        problems.append(
            f"the database header says the chain reached seq {header_seq} but the last record is seq {last[0]}"
            " (records were removed)"
        )
    return problems

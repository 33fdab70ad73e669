"""Cell outputs in one canonical form, whether captured live or read from a saved notebook.

Both sides go through ``canonical``: within a run of consecutive stream outputs, each stream's
writes are coalesced, stdout before stderr (a kernel flushes them in arbitrary chunks and
order), nbrepro's own stderr notes are dropped,
secrets are redacted, and base64 images lose their line breaks. ``items`` then gives one hashed item per output and MIME type, and
``outputs_hash`` one hash over them all, so a recorded cell and a rerun compare by hashes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from .compare import BASE64_MIMES
from .hashing import canonical_json, hash_json, hash_text
from .redact import redact

Output = dict[str, Any]  # nbformat v4 shape: output_type, and name/text, data, or ename/evalue

# nbrepro's own notes and warnings on stderr are not the cell's output.
_OWN_LINES = re.compile(r"^nbrepro: (?:note|warning): [^\n]*(?:\n|$)", re.M)


def _stream_order(name: str) -> tuple[int, str]:
    return ({"stdout": 0, "stderr": 1}.get(name, 2), name)


def as_text(value: Any) -> str:
    if isinstance(value, list):  # nbformat's multiline strings
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else canonical_json(value)


def _clean(mime: str, value: Any, known: Collection[str]) -> Any:
    if mime in BASE64_MIMES:
        return "".join(as_text(value).split())
    if isinstance(value, (str, list)):
        return redact(as_text(value), known)
    return value  # JSON data: kept as is


def canonical(outputs: Iterable[Mapping[str, Any]], known: Collection[str] = ()) -> list[Output]:
    """nbformat-shaped outputs, coalesced and cleaned; transient fields dropped. ``known``:
    secret values to redact wherever they appear (``redact.assigned_secrets`` of the code that
    ran), so a recorded cell and its rerun are redacted alike."""
    out: list[Output] = []
    run: dict[str, Output] = {}  # the streams of the current run of consecutive stream outputs
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            # A kernel buffers stdout and stderr apart and flushes them when it likes, so within
            # a run of stream outputs only each stream's own text is kept, stdout first.
            name, text = o.get("name", "stdout"), as_text(o.get("text", ""))
            if name in run:
                run[name]["text"] += text
            else:
                run[name] = {"output_type": "stream", "name": name, "text": text}
            continue
        out.extend(run[n] for n in sorted(run, key=_stream_order))
        run = {}
        if kind in ("display_data", "execute_result"):
            data = {mime: _clean(mime, value, known) for mime, value in sorted((o.get("data") or {}).items())}
            out.append({"output_type": kind, "data": data})
        elif kind == "error":
            out.append({"output_type": "error", "ename": str(o.get("ename", "")), "evalue": redact(str(o.get("evalue", "")), known)})
    out.extend(run[n] for n in sorted(run, key=_stream_order))
    for o in out:  # redacted once whole, so a secret split across two writes is still found
        if o["output_type"] == "stream":
            text = _OWN_LINES.sub("", o["text"]) if o["name"] == "stderr" else o["text"]
            o["text"] = redact(text, known)
    return [o for o in out if o["output_type"] != "stream" or o["text"]]


def items(outputs: Iterable[Output]) -> list[dict[str, Any]]:
    """One item per output and MIME type: {output, kind, mime, hash[, name|ename]}."""
    result = []
    for n, o in enumerate(outputs):
        kind = o["output_type"]
        if kind == "stream":
            result.append({"output": n, "kind": kind, "name": o["name"], "mime": "text/plain", "hash": hash_text(o["text"])})
        elif kind == "error":
            text = f"{o['ename']}: {o['evalue']}"
            result.append({"output": n, "kind": kind, "ename": o["ename"], "mime": "text/plain", "hash": hash_text(text)})
        else:
            for mime, value in o["data"].items():
                digest = hash_text(value) if isinstance(value, str) else hash_json(value)
                result.append({"output": n, "kind": kind, "mime": mime, "hash": digest})
    return result


def outputs_hash(item_list: Iterable[Mapping[str, Any]]) -> str:
    return hash_json([[i["output"], i["kind"], i["mime"], i["hash"]] for i in item_list])


def item_content(output: Output, mime: str) -> dict[str, Any]:
    """What is kept of one item as a blob: enough to rebuild the output."""
    kind = output["output_type"]
    if kind == "stream":
        return {"kind": kind, "name": output["name"], "mime": mime, "data": output["text"]}
    if kind == "error":
        return {"kind": kind, "mime": mime, "ename": output["ename"], "evalue": output["evalue"]}
    return {"kind": kind, "mime": mime, "data": output["data"][mime]}


def rebuild(contents: Iterable[tuple[int, Mapping[str, Any]]]) -> list[Output]:
    """nbformat-shaped outputs from (output index, blob content) pairs, in order."""
    out: dict[int, Output] = {}
    for n, c in contents:
        kind = c["kind"]
        if kind == "stream":
            out[n] = {"output_type": "stream", "name": c["name"], "text": c["data"]}
        elif kind == "error":
            out[n] = {"output_type": "error", "ename": c["ename"], "evalue": c["evalue"], "traceback": []}
        else:
            entry = out.setdefault(n, {"output_type": kind, "data": {}, "metadata": {}})
            entry["data"][c["mime"]] = c["data"]
            if kind == "execute_result":
                entry.setdefault("execution_count", None)
    return [out[n] for n in sorted(out)]

"""What a cell showed: streams, displays, its result, captured live without changing any of it.

IPython's ``post_run_cell`` sees only the result value. The tap wraps, per object, the
``write`` of the output streams, the display publisher's ``publish`` and ``clear_output``,
and the display hook's ``write_format_data``; each wrapper appends an event and calls the
original. Objects are wrapped again whenever the shell swaps them (``%%capture`` does), and
everything is unwrapped at unload. A stream implemented in C (a terminal's ``sys.stdout``)
cannot carry a wrapper: the part then says ``"streams": false``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from .. import outputs as canon

DEFAULT_MAX_BYTES = 2 * 1024 * 1024

Event = tuple[Any, ...]


class OutputTap:
    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.active = False
        self.events: list[Event] = []
        self.streams = True
        # role -> (object, attribute, wrapper or None if it cannot carry one, what it wraps,
        # or None when that was the class's own method)
        self._wrapped: dict[str, tuple[Any, str, Any, Any]] = {}
        self._stdout = self._stream("stdout")
        self._stderr = self._stream("stderr")

    # -- hot path ------------------------------------------------------------------------
    def begin(self) -> None:
        # Checked every cell: IPython 9 tees sys.stdout.write for the length of each cell and
        # then puts back what it found, and %%capture swaps whole objects.
        shell = self.shell
        out = self._wrap("stdout", sys.stdout, "write", self._stdout)
        err = self._wrap("stderr", sys.stderr, "write", self._stderr)
        self.streams = out and err
        self._wrap("publish", shell.display_pub, "publish", self._publish)
        self._wrap("clear", shell.display_pub, "clear_output", self._clear)
        self._wrap("result", shell.displayhook, "write_format_data", self._result)
        self.events = []
        self.active = True

    def end(self) -> list[Event]:
        self.active = False
        events, self.events = self.events, []
        return events

    # -- wrapping ------------------------------------------------------------------------
    def _wrap(self, role: str, obj: Any, attr: str, make: Any) -> bool:
        done = self._wrapped.get(role)
        if done is not None and done[0] is obj:
            if done[2] is None:
                return False  # a C object: it did not take a wrapper last time either
            if vars(obj).get(attr) is done[2]:
                return True
        original = getattr(obj, attr, None)
        if original is None:
            return False
        own = vars(obj).get(attr) if hasattr(obj, "__dict__") else None
        wrapper = make(original)
        try:
            setattr(obj, attr, wrapper)
        except (AttributeError, TypeError):
            self._wrapped[role] = (obj, attr, None, None)
            return False
        self._wrapped[role] = (obj, attr, wrapper, own)
        return True

    def uninstall(self) -> None:
        for obj, attr, wrapper, own in self._wrapped.values():
            if wrapper is None or vars(obj).get(attr) is not wrapper:
                continue
            if own is None:
                delattr(obj, attr)  # the class's own method shows through again
            else:
                setattr(obj, attr, own)
        self._wrapped.clear()

    def _stream(self, name: str) -> Any:
        def make(original: Any) -> Any:
            def write(text: Any, *args: Any, **kwargs: Any) -> Any:
                if self.active and isinstance(text, str):
                    self.events.append(("stream", name, text))
                return original(text, *args, **kwargs)

            return write

        return make

    def _publish(self, original: Any) -> Any:
        def publish(*args: Any, **kwargs: Any) -> Any:
            if self.active:
                data = kwargs.get("data", args[0] if args else None)
                transient = kwargs.get("transient") or {}
                if isinstance(data, dict):
                    self.events.append(("display", dict(data), transient.get("display_id"), bool(kwargs.get("update"))))
            return original(*args, **kwargs)

        return publish

    def _clear(self, original: Any) -> Any:
        def clear_output(*args: Any, **kwargs: Any) -> Any:
            if self.active:
                self.events.append(("clear", bool(kwargs.get("wait", args[0] if args else False))))
            return original(*args, **kwargs)

        return clear_output

    def _result(self, original: Any) -> Any:
        def write_format_data(format_dict: Any, *args: Any, **kwargs: Any) -> Any:
            if self.active and isinstance(format_dict, dict):
                self.events.append(("result", dict(format_dict)))
            return original(format_dict, *args, **kwargs)

        return write_format_data


def replay(events: Iterable[Event], error: tuple[str, str] | None) -> list[dict[str, Any]]:
    """nbformat-shaped outputs, the way a frontend would have kept them."""
    outs: list[dict[str, Any]] = []
    ids: dict[str, list[int]] = {}
    clear_pending = False
    for event in events:
        if event[0] == "clear":
            if event[1]:
                clear_pending = True
            else:
                outs, ids = [], {}
            continue
        if event[0] == "display" and event[3]:  # update_display_data: in place, no new output
            for n in ids.get(event[2], []):
                outs[n]["data"] = event[1]
            continue
        if clear_pending:
            outs, ids, clear_pending = [], {}, False
        if event[0] == "stream":
            outs.append({"output_type": "stream", "name": event[1], "text": event[2]})
        elif event[0] == "display":
            if event[2]:
                ids.setdefault(event[2], []).append(len(outs))
            outs.append({"output_type": "display_data", "data": event[1]})
        elif event[0] == "result":
            outs.append({"output_type": "execute_result", "data": event[1]})
    if error is not None:
        outs.append({"output_type": "error", "ename": error[0], "evalue": error[1]})
    return outs


def part(
    events: Iterable[Event], error: tuple[str, str] | None, streams: bool, max_bytes: int,
    stage_blob: Any,
) -> dict[str, Any]:
    """The ``outputs`` part: hashed items, their content staged as blobs up to ``max_bytes``."""
    if not events and error is None and streams:
        return _NOTHING  # most cells show nothing: one shared part, encoded once per batch
    outputs = canon.canonical(replay(events, error))
    item_list = canon.items(outputs)
    budget, truncated = max_bytes, False
    for item in item_list:
        content = canon.item_content(outputs[item["output"]], item["mime"])
        size = _size(content)
        if size <= budget:
            budget -= size
            item["blob"] = stage_blob("output", content)
        else:
            truncated = True
    result: dict[str, Any] = {"hash": canon.outputs_hash(item_list), "items": item_list}
    if truncated:
        result["truncated"] = True
    if not streams:
        result["streams"] = False
    return result


_NOTHING: dict[str, Any] = {"hash": canon.outputs_hash([]), "items": []}


def _size(content: dict[str, Any]) -> int:
    data = content.get("data", content.get("evalue", ""))
    return len(data) if isinstance(data, str) else len(repr(data))

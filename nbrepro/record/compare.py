"""Whether a cell's rerun outputs match its recorded ones, and a short diff when they do not.

Outputs arrive canonical (``nbrepro.record.outputs.canonical``). Two reruns of a deterministic cell
still differ in tokens that say nothing about the result: object addresses, timestamps,
``%%time``/``%timeit`` figures, progress-bar rates. ``normalize_text`` replaces those with
placeholders. Numbers then compare with a tolerance, because the same computation on another
BLAS, CPU or library version moves the last digits of a float.

Rules chosen here:

- integers and floats alike compare with ``math.isclose``'s rule (done in ``Decimal``, so
  huge integers cannot overflow);
- a float printed at a different precision on each side (``0.333`` against ``0.3333333``)
  also matches when the two printed values could round from values within tolerance; the
  coarser one must show at least three significant digits (trailing zeros not counted), so
  that a round value such as ``1.0`` or ``100.`` never absorbs a real change and the extra
  slack stays below 0.5 %;
- a line that is exactly a set repr compares order-insensitively: set order follows string
  hashes, which ``PYTHONHASHSEED`` changes per process. Dict reprs keep their order: dicts
  are insertion-ordered, so the same code prints the same order, and a new order means the
  code took another path;
- bare dates (``2024-01-31``) are kept, since in data they are usually values (a date index);
  a date with a time of day, or a time with seconds, is taken for a "now" stamp.
"""

from __future__ import annotations

import ast
import base64
import binascii
import difflib
import io
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from itertools import zip_longest
from typing import Any

SKIP_TAG = "nbrepro:skip-compare"  # a cell with this tag is rerun but not compared

# Output MIME types by how their data is held. nbrepro's output canonicalization and verify's
# HTML page read these lists too; they live here because this file must stay self-contained.
IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")  # compared by pixels, shown as images
BASE64_MIMES = (*IMAGE_MIMES, "image/webp", "image/bmp", "application/pdf")  # base64 data, compared as bytes
_MAX_DIFF_LINES = 60
_MIN_DIGITS = 3  # significant digits the coarser of two differently printed floats must show

_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# Applied in order; each pattern sees the text the earlier ones left.
_VOLATILE: list[tuple[re.Pattern[str], str]] = [
    # %%time / %time: "CPU times: user 1.2 ms, sys: 0 ns, total: 1.2 ms" and "Wall time: 3 s"
    (re.compile(r"^(CPU times|Wall time):.*$", re.MULTILINE), r"\1: <duration>"),
    # %timeit: "1.23 µs ± 4.5 ns per loop (mean ± std. dev. of 7 runs, 100,000 loops each)"
    (
        re.compile(r"^.+ ± .+ per loop \(mean ± std\. dev\. of [\d,]+ runs?, [\d,]+ loops? each\)$", re.MULTILINE),
        "<duration> ± <duration> per loop (mean ± std. dev. of <n> runs, <n> loops each)",
    ),
    (re.compile(r"^[\d,]+ loops?, best of \d+: .+ per loop$", re.MULTILINE), "<n> loops, best of <n>: <duration> per loop"),
    (re.compile(r"^The slowest run took [\d.]+ times longer", re.MULTILINE), "The slowest run took <n> times longer"),
    # tqdm: "[00:01<00:00,  9.98it/s]", "[00:03, 1.21s/it, loss=0.1]"
    (
        re.compile(r"\[\d+:\d\d(?::\d\d)?(?:<[\d:?]+)?, *(?:\?|[\d.]+) ?(?:[A-Za-z]+/s|s/[A-Za-z]+)[^\]\n]*\]"),
        "[<elapsed>]",
    ),
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "0x<addr>"),  # <Foo object at 0x7f3a...>, id-like hex
    (
        re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?(?:Z|[+-]\d\d:?\d\d|\b)"),
        "<datetime>",
    ),
    (re.compile(rf"\b{_DAY},? +\d{{1,2}} {_MONTH} \d{{4}} \d\d:\d\d:\d\d(?: [+-]\d{{4}}| GMT| UTC)?"), "<datetime>"),
    (re.compile(rf"\b{_DAY} {_MONTH} [ \d]\d \d\d:\d\d:\d\d \d{{4}}"), "<datetime>"),  # time.ctime()
    (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4},? \d{1,2}:\d\d(?::\d\d)?(?: ?[AP]M)?"), "<datetime>"),
    (re.compile(r"\b\d{1,2}:\d\d:\d\d(?:[.,]\d+)?\b"), "<time>"),
]
# A number standing alone: not part of a name (x1, float64), a version (1.10.3) or an address.
_NUMBER = re.compile(
    r"((?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf(?:inity)?))(?!\w|\.\d))"
)
_SPACE = re.compile(r"\s+")
_SET_LINE = re.compile(r"^\{.*\}$|^frozenset\(\{.*\}\)$")


@dataclass(frozen=True)
class Comparison:
    """``diff`` is empty when ``equal``; otherwise a short unified diff of what differs."""

    equal: bool
    diff: str


def normalize_text(text: str) -> str:
    """``text`` with volatile tokens replaced by placeholders and trailing whitespace dropped.

    Carriage returns are resolved as a terminal would show them (the last rewrite of each
    line wins), so a progress bar compares by its final state, not by how often it redrew.
    Trailing whitespace goes per line and at the end of the text: it is invisible when shown.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    text = "\n".join(_last_rewrite(line) for line in lines)
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def stable_text(text: str) -> str:
    """What stays of ``text`` when its numbers came from a random generator whose state is
    not known: the comparable text with every number masked and whitespace dropped (a
    column's width follows its numbers). Types, dtypes, labels and layout still compare."""
    return _SPACE.sub("", _NUMBER.sub("<n>", _comparable(text)))


def _last_rewrite(line: str) -> str:
    """What a terminal ends up showing of a line redrawn with carriage returns, near enough:
    its last non-empty rewrite (progress bars pad each redraw to the full width)."""
    parts = [part for part in line.split("\r") if part]
    return parts[-1] if parts else ""


def compare(
    recorded: list[dict[str, Any]],
    rerun: list[dict[str, Any]],
    *,
    rel_tol: float = 1e-6,
    abs_tol: float = 1e-9,
    image_tol: float = 0.01,
) -> Comparison:
    """Recorded against rerun outputs of one cell, output by output, in order."""
    tol = _Tolerance(Decimal(rel_tol), Decimal(abs_tol), image_tol)
    lines: list[str] = []
    if len(recorded) != len(rerun):
        lines.append(f"{len(recorded)} outputs recorded, {len(rerun)} in the rerun")
    for n, (a, b) in enumerate(zip_longest(recorded, rerun)):
        if len(lines) >= _MAX_DIFF_LINES:
            break
        lines += _output_diff(n, a, b, tol)
    if len(lines) > _MAX_DIFF_LINES:
        lines = [*lines[: _MAX_DIFF_LINES - 1], f"... {len(lines) - _MAX_DIFF_LINES + 1} more lines"]
    return Comparison(not lines, "\n".join(lines))


@dataclass(frozen=True)
class _Tolerance:
    rel: Decimal
    abs: Decimal
    image: float


def _output_diff(n: int, a: dict[str, Any] | None, b: dict[str, Any] | None, tol: _Tolerance) -> list[str]:
    """Diff lines for output ``n`` (0-based, as in ``outputs.items``); empty when they match."""
    if a is None or b is None:
        present, side = (a, "recorded") if b is None else (b, "rerun")
        assert present is not None
        body = _render(present).split("\n")
        old, new = (body, []) if b is None else ([], body)
        return _unified(f"output {n} ({_describe(present)}) only in the {side}", old, new)
    if _describe(a) != _describe(b):
        label = f"output {n}: recorded {_describe(a)}, rerun {_describe(b)}"
        return _unified(label, _render(a).split("\n"), _render(b).split("\n"))
    kind = a["output_type"]
    if kind == "stream":
        return _text_diff(f"output {n} ({_describe(a)})", a["text"], b["text"], tol)
    if kind == "error":
        label = f"output {n} (error {a['ename']})" if a["ename"] == b["ename"] else f"output {n} (error)"
        return _text_diff(label, f"{a['ename']}: {a['evalue']}", f"{b['ename']}: {b['evalue']}", tol)
    if a["data"].keys() != b["data"].keys():
        mimes = "; ".join(f"{side} {', '.join(o['data'])}" for side, o in (("recorded", a), ("rerun", b)))
        return [f"output {n} ({kind}): MIME types differ: {mimes}"]
    lines: list[str] = []
    for mime, value in a["data"].items():
        label = f"output {n} ({kind} {mime})"
        other = b["data"][mime]
        if mime in BASE64_MIMES:
            lines += _binary_diff(label, mime, value, other, tol.image)
        else:
            lines += _text_diff(label, _as_text(value), _as_text(other), tol)
    return lines


def _describe(output: dict[str, Any]) -> str:
    kind = output["output_type"]
    return f"stream {output['name']}" if kind == "stream" else kind


def _render(output: dict[str, Any]) -> str:
    """The comparable text of a whole output, for showing one that has no counterpart."""
    kind = output["output_type"]
    if kind == "stream":
        return _comparable(output["text"])
    if kind == "error":
        return _comparable(f"{output['ename']}: {output['evalue']}")
    parts = []
    for mime, value in output["data"].items():
        shown = f"<{len(value)} characters of base64>" if mime in BASE64_MIMES else _comparable(_as_text(value))
        parts.append(f"[{mime}]\n{shown}")
    return "\n".join(parts)


def _as_text(value: Any) -> str:
    """JSON values as sorted, indented JSON: key order is no difference, and a diff stays legible."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False)


def _binary_diff(label: str, mime: str, a: str, b: str, image_tol: float) -> list[str]:
    if a == b:
        return []
    if mime not in IMAGE_MIMES:
        return [f"{label}: data differs"]
    delta = _pixel_delta(a, b)
    if delta is None:
        return [f"{label}: image data differs (pixels not compared: Pillow and numpy are needed)"]
    if delta <= image_tol:
        return []
    if delta == float("inf"):
        return [f"{label}: image sizes differ"]
    return [f"{label}: images differ (mean pixel difference {delta:.4f} > {image_tol})"]


def _pixel_delta(a_b64: str, b_b64: str) -> float | None:
    """Mean absolute pixel difference over RGBA as a fraction of 255; inf when the sizes
    differ; None when Pillow or numpy is missing or either image cannot be decoded."""
    try:
        import numpy as np
        from PIL import Image
    except ImportError:
        return None
    try:
        images = [Image.open(io.BytesIO(base64.b64decode(s, validate=True))).convert("RGBA") for s in (a_b64, b_b64)]
    except (binascii.Error, ValueError, OSError):  # PIL.UnidentifiedImageError is an OSError
        return None
    if images[0].size != images[1].size:
        return float("inf")
    x, y = (np.asarray(im, dtype=np.int16) for im in images)
    return float(np.abs(x - y).mean()) / 255


def _text_diff(label: str, a: str, b: str, tol: _Tolerance) -> list[str]:
    a, b = _comparable(a), _comparable(b)
    if a == b:
        return []
    reconciled = _reconcile(a, b, tol)
    if reconciled == a:
        return []
    # Numbers within tolerance are shown as recorded, so the diff points at the real change.
    return _unified(label, a.split("\n"), (b if reconciled is None else reconciled).split("\n"))


def _unified(label: str, a: list[str], b: list[str]) -> list[str]:
    return [f"{label}:", *difflib.unified_diff(a, b, "recorded", "rerun", n=2, lineterm="")]


def _comparable(text: str) -> str:
    """Normalized text with set-repr lines sorted."""
    return "\n".join(_sorted_set(line) for line in normalize_text(text).split("\n"))


def _sorted_set(line: str) -> str:
    if not _SET_LINE.match(line):
        return line
    frozen = line.startswith("frozenset(")
    try:
        value = ast.literal_eval(line[len("frozenset(") : -1] if frozen else line)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return line
    if not isinstance(value, set):
        return line  # a dict, or a set of something literal_eval cannot rebuild
    try:
        elements = sorted(value)
    except TypeError:  # mixed types
        elements = sorted(value, key=repr)
    body = "{" + ", ".join(map(repr, elements)) + "}"
    return f"frozenset({body})" if frozen else body


def _reconcile(a: str, b: str, tol: _Tolerance) -> str | None:
    """``b`` with each number close to its counterpart in ``a`` written as in ``a``; None when
    the texts differ in more than numbers."""
    pa, pb = _NUMBER.split(a), _NUMBER.split(b)
    if len(pa) != len(pb) or pa[0::2] != pb[0::2]:
        return None
    for i in range(1, len(pa), 2):
        if _close(pa[i], pb[i], tol):
            pb[i] = pa[i]
    return "".join(pb)


def _close(a: str, b: str, tol: _Tolerance) -> bool:
    if a == b:
        return True
    x, y = Decimal(a), Decimal(b)
    if x.is_nan() or y.is_nan():
        return x.is_nan() and y.is_nan()
    if x.is_infinite() or y.is_infinite():
        return x == y
    allowed = max(tol.rel * max(abs(x), abs(y)), tol.abs)
    if _rounded_differently(a, b, x, y):
        allowed += (Decimal(1).scaleb(_exponent(x)) + Decimal(1).scaleb(_exponent(y))) / 2
    return abs(x - y) <= allowed


def _rounded_differently(a: str, b: str, x: Decimal, y: Decimal) -> bool:
    """Both are floats printed to different precisions, the coarser with enough digits."""
    if not all(any(c in t for c in ".eE") for t in (a, b)):
        return False  # an integer prints exactly
    ex, ey = _exponent(x), _exponent(y)
    if ex == ey:
        return False  # same format both sides: a last-digit change is a change
    coarse = x if ex > ey else y
    return len(coarse.normalize().as_tuple().digits) >= _MIN_DIGITS


def _exponent(finite: Decimal) -> int:
    """The exponent of a finite number (NaN and infinities have a letter instead)."""
    exponent = finite.as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent

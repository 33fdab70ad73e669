"""Output comparison for ``nbrepro verify``: volatile tokens, float tolerance, sets, images, diffs."""

from __future__ import annotations

import base64
import builtins
import io
from typing import Any

import pytest

from nbrepro.record import compare as normalize
from nbrepro.record.compare import SKIP_TAG, Comparison, compare, normalize_text


def stream(text: str, name: str = "stdout") -> dict[str, Any]:
    return {"output_type": "stream", "name": name, "text": text}


def result(data: dict[str, Any], kind: str = "execute_result") -> dict[str, Any]:
    return {"output_type": kind, "data": data}


def error(ename: str, evalue: str) -> dict[str, Any]:
    return {"output_type": "error", "ename": ename, "evalue": evalue}


def same(a: str, b: str, **tol: float) -> bool:
    return compare([stream(a)], [stream(b)], **tol).equal


# -- normalize_text ---------------------------------------------------------------------------


def test_time_magic_lines_lose_their_durations() -> None:
    a = "CPU times: user 1.2 ms, sys: 300 µs, total: 1.5 ms\nWall time: 2.3 s\n42"
    b = "CPU times: user 4.7 s, sys: 12 ms, total: 4.71 s\nWall time: 1min 2s\n42"
    assert normalize_text(a) == normalize_text(b) == "CPU times: <duration>\nWall time: <duration>\n42"


def test_timeit_lines_lose_their_figures() -> None:
    a = "1.23 µs ± 4.5 ns per loop (mean ± std. dev. of 7 runs, 100,000 loops each)"
    b = "987 ns ± 12.1 ns per loop (mean ± std. dev. of 7 runs, 1,000,000 loops each)"
    c = "2.1 s ± 0 ns per loop (mean ± std. dev. of 1 run, 1 loop each)"
    assert normalize_text(a) == normalize_text(b) == normalize_text(c)
    assert "<duration> ± <duration> per loop" in normalize_text(a)
    old_style = "{} loops, best of {}: {} per loop"
    assert normalize_text(old_style.format(1000, 3, "1.2 ms")) == normalize_text(old_style.format(10, 5, "30 ms"))
    slow = "The slowest run took {} times longer than the fastest."
    assert normalize_text(slow.format("5.12")) == normalize_text(slow.format("11.8"))


def test_addresses_are_replaced() -> None:
    a = "<__main__.Foo object at 0x7f3a2b1c9d00>\n[<matplotlib.lines.Line2D at 0x10a2b3c4d>]"
    b = "<__main__.Foo object at 0x7f00deadbeef>\n[<matplotlib.lines.Line2D at 0x000001F3A4B5C6D7>]"
    assert normalize_text(a) == normalize_text(b)
    assert "0x<addr>" in normalize_text(a)
    assert normalize_text("flags 0x1f") == "flags 0x1f"  # short hex is data, not an address


def test_timestamps_are_replaced_but_bare_dates_kept() -> None:
    for stamp in ("2024-01-31T12:30:45", "2024-01-31T12:30:45.123456+01:00", "2024-01-31 12:30:45,123",
                  "2024-01-31T12:30Z", "Wed Jan 31 12:30:45 2024", "Wed, 31 Jan 2024 12:30:45 GMT",
                  "1/31/2024, 12:30:45 PM"):
        assert normalize_text(f"at {stamp} done") == "at <datetime> done", stamp
    assert normalize_text("elapsed 0:00:01.25") == "elapsed <time>"
    assert normalize_text("index 2024-01-31") == "index 2024-01-31"


def test_progress_bars_compare_by_final_state() -> None:
    a = " 50%|#####     | 5/10 [00:01<00:01,  4.98it/s]\r100%|##########| 10/10 [00:02<00:00,  4.99it/s]\n"
    b = "100%|##########| 10/10 [00:03<00:00,  3.10it/s]\n"
    assert normalize_text(a) == normalize_text(b) == "100%|##########| 10/10 [<elapsed>]"
    assert normalize_text("12it [00:03, 1.21s/it, loss=0.1]") == "12it [<elapsed>]"
    assert normalize_text("[10:20, 30]") == "[10:20, 30]"  # a list, not a timing block


def test_trailing_whitespace_is_dropped() -> None:
    assert normalize_text("a  \nb\t\n\n") == "a\nb"
    assert normalize_text("a\r\nb\r\n") == "a\nb"
    assert normalize_text("  indented") == "  indented"


# -- numbers ----------------------------------------------------------------------------------


def test_float_noise_is_equal() -> None:
    assert same("0.1 + 0.2 = 0.30000000000000004\n", "0.1 + 0.2 = 0.3\n")
    assert same("mean 12.000000001", "mean 12.0")
    assert same("[1.5e-10 2.0]", "[1.4e-10 2.0]")  # within abs_tol
    assert same("x = -0.0", "x = 0.0")
    assert same("nan inf -inf", "NaN inf -Infinity")


def test_numbers_beyond_tolerance_differ() -> None:
    assert not same("loss 0.5123", "loss 0.5124")
    assert not same("n = 10", "n = 11")
    assert not same("x = 1.0", "x = 1.04")
    assert not same("nan", "0.0")
    assert not same("inf", "-inf")
    assert not same("1e-3", "2e-3")


def test_tolerances_are_honoured() -> None:
    assert same("0.5123", "0.5124", rel_tol=1e-3)
    assert not same("0.5123", "0.5124", rel_tol=1e-6)
    assert same("0.0001", "0.0002", abs_tol=1e-3)


def test_different_printed_precision_is_equal_within_the_coarser_precision() -> None:
    assert same("third 0.333", "third 0.3333333333333333")
    assert same("12.35", "12.3456")
    assert same("1.235e-05", "1.23456e-05")
    assert not same("third 0.334", "third 0.3333333333333333")  # rounds to 0.333, not 0.334
    assert not same("0.5", "0.54")  # one digit is too coarse to absorb a change
    assert not same("100.", "100.4")  # a round value prints exactly
    assert not same("100", "100.4")  # so does an integer


def test_huge_integers_do_not_overflow() -> None:
    big = str(2**1100)
    assert same(big, big)
    assert not same(big, str(2**1101))


def test_numbers_inside_names_and_versions_are_text() -> None:
    assert not same("numpy 1.10.3", "numpy 1.1.3")
    assert not same("dtype: float64", "dtype: float32")
    assert not same("10.0.0.1", "10.0.0.2")


def test_changed_words_differ() -> None:
    assert not same("hello 1", "hallo 1")
    assert not same("a 1 b", "a 1 c")
    assert not same("x 1", "x 1 2")


def test_trailing_newline_and_spaces_do_not_count() -> None:
    assert same("a 1  \n", "a 1")


# -- sets and dicts ---------------------------------------------------------------------------


def test_set_lines_compare_unordered() -> None:
    assert same("{3, 1, 2}\n", "{1, 2, 3}\n")
    assert same("{'b', 'a', 'c'}", "{'c', 'a', 'b'}")
    assert same("frozenset({'b', 'a'})", "frozenset({'a', 'b'})")
    assert same("{1, 'a'}", "{'a', 1}")  # mixed types sort by repr
    assert same("{0.30000000000000004, 2}", "{2, 0.3}")
    assert not same("{1, 2, 3}", "{1, 2, 4}")


def test_set_only_when_the_line_is_exactly_a_set() -> None:
    assert not same("s = {1, 2}", "s = {2, 1}")


def test_dict_order_counts() -> None:
    assert not same("{1: 2, 3: 4}", "{3: 4, 1: 2}")
    assert same("{'a': 0.30000000000000004}", "{'a': 0.3}")


# -- outputs ----------------------------------------------------------------------------------


def test_equal_outputs_give_an_empty_diff() -> None:
    outs = [stream("hi\n"), result({"text/plain": "3"}), error("ValueError", "bad")]
    assert compare(outs, [dict(o) for o in outs]) == Comparison(True, "")
    assert compare([], []) == Comparison(True, "")


def test_comparison_is_frozen() -> None:
    with pytest.raises(AttributeError):
        compare([], []).equal = False  # type: ignore[misc]


def test_count_difference_is_reported() -> None:
    c = compare([stream("a\n")], [stream("a\n"), result({"text/plain": "42"})])
    assert not c.equal
    assert "1 outputs recorded, 2 in the rerun" in c.diff
    assert "output 1 (execute_result) only in the rerun" in c.diff
    assert "+42" in c.diff
    gone = compare([stream("a\n"), stream("b\n", "stderr")], [stream("a\n")])
    assert "output 1 (stream stderr) only in the recorded" in gone.diff and "-b" in gone.diff


def test_stream_name_and_kind_must_match() -> None:
    c = compare([stream("x\n", "stdout")], [stream("x\n", "stderr")])
    assert not c.equal and "recorded stream stdout, rerun stream stderr" in c.diff
    assert not compare([stream("3")], [result({"text/plain": "3"})]).equal


def test_mime_sets_must_match() -> None:
    c = compare([result({"text/plain": "x"})], [result({"text/plain": "x", "text/html": "<b>x</b>"})])
    assert not c.equal and "MIME types differ" in c.diff


def test_rich_text_mimes_use_tolerance() -> None:
    for mime in ("text/plain", "text/html", "text/markdown", "text/latex"):
        assert compare([result({mime: "v = 0.30000000000000004"})], [result({mime: "v = 0.3"})]).equal
        assert not compare([result({mime: "v = 0.31"})], [result({mime: "v = 0.3"})]).equal


def test_json_compares_by_value_with_key_order_ignored() -> None:
    a = result({"application/json": {"b": [1, 2], "a": 0.30000000000000004}})
    b = result({"application/json": {"a": 0.3, "b": [1, 2]}})
    assert compare([a], [b]).equal
    c = compare([a], [result({"application/json": {"a": 0.3, "b": [1, 3]}})])
    assert not c.equal and "application/json" in c.diff


def test_errors_compare_name_exactly_and_value_normalized() -> None:
    a = error("TypeError", "<Foo object at 0x7f3a2b1c9d00> is not callable")
    b = error("TypeError", "<Foo object at 0x7f0000000001> is not callable")
    assert compare([a], [b]).equal
    assert not compare([a], [error("ValueError", a["evalue"])]).equal
    assert not compare([error("KeyError", "'a'")], [error("KeyError", "'b'")]).equal


def test_diff_names_the_output_and_shows_only_real_changes() -> None:
    rec = [stream("start\n"), stream("a 0.30000000000000004\nb 2\nc 3\n", "stderr")]
    new = [stream("start\n"), stream("a 0.3\nb 5\nc 3\n", "stderr")]
    c = compare(rec, new)
    assert not c.equal
    assert c.diff.startswith("output 1 (stream stderr):")
    assert "--- recorded" in c.diff and "+++ rerun" in c.diff
    assert "-b 2" in c.diff and "+b 5" in c.diff
    assert "+a 0.3" not in c.diff  # within tolerance: not shown as a change


def test_diff_is_capped() -> None:
    a = "\n".join(f"line {i} a" for i in range(200))
    b = "\n".join(f"line {i} b" for i in range(200))
    c = compare([stream(a)], [stream(b)])
    lines = c.diff.split("\n")
    assert len(lines) <= 60 and lines[-1].endswith("more lines")


def test_skip_tag() -> None:
    assert SKIP_TAG == "nbrepro:skip-compare"


# -- images -----------------------------------------------------------------------------------

PNG_A = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def test_identical_base64_images_are_equal_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pil(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pil)
    assert compare([result({"image/png": PNG_A}, "display_data")], [result({"image/png": PNG_A}, "display_data")]).equal
    for other in ("AAAA", PNG_A[:-8] + "AAAAAA=="):  # cannot decide
        c = compare([result({"image/png": PNG_A}, "display_data")], [result({"image/png": other}, "display_data")])
        assert not c.equal and "Pillow" in c.diff


def test_other_binary_mimes_compare_exactly() -> None:
    assert compare([result({"application/pdf": "JVBERi0x"})], [result({"application/pdf": "JVBERi0x"})]).equal
    c = compare([result({"application/pdf": "JVBERi0x"})], [result({"application/pdf": "JVBERi0y"})])
    assert not c.equal and "data differs" in c.diff


def _png(pixels: list[list[tuple[int, int, int]]], fmt: str = "PNG") -> str:
    Image = pytest.importorskip("PIL.Image")
    image = Image.new("RGB", (len(pixels[0]), len(pixels)))
    image.putdata([p for row in pixels for p in row])
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def test_images_compare_by_pixels() -> None:
    pytest.importorskip("numpy")
    grey = _png([[(100, 100, 100)] * 4] * 4)
    near = _png([[(100, 100, 100)] * 4] * 3 + [[(100, 100, 100)] * 3 + [(110, 100, 100)]])
    far = _png([[(200, 0, 50)] * 4] * 4)
    small = _png([[(100, 100, 100)] * 2] * 2)
    assert grey != near
    png = lambda b64: [result({"image/png": b64, "text/plain": "<Figure size 4x4 with 0 Axes>"}, "display_data")]
    assert compare(png(grey), png(near)).equal  # one channel of one pixel off by 10: 10 / 255 / 64 ≈ 0.06 %
    c = compare(png(grey), png(far))
    assert not c.equal and "mean pixel difference" in c.diff and "image/png" in c.diff
    assert compare(png(grey), png(far), image_tol=1.0).equal
    assert "sizes differ" in compare(png(grey), png(small)).diff
    assert not compare(png(grey), png(near), image_tol=0.0).equal
    c = compare(png(grey), png("bm90IGFuIGltYWdl"))  # base64, but not an image: cannot decide
    assert not c.equal and "pixels not compared" in c.diff


def test_jpeg_compares_by_pixels() -> None:
    pytest.importorskip("numpy")
    a = _png([[(10 * i, 50, 90) for i in range(8)]] * 8, "JPEG")
    b = _png([[(10 * i + 1, 50, 90) for i in range(8)]] * 8, "JPEG")
    jpg = lambda b64: [result({"image/jpeg": b64}, "display_data")]
    assert compare(jpg(a), jpg(b)).equal
    assert not compare(jpg(a), jpg(_png([[(250, 250, 250)] * 8] * 8, "JPEG"))).equal


def test_module_has_no_hard_pillow_import() -> None:
    assert "PIL" not in vars(normalize)

"""Keep secrets out of records: an allowlist for environment variables, redaction for text.

Redaction runs on every cell's source, outputs and error in the recorder's worker, which holds
the GIL while it does, so every pattern runs in time linear in the text, whatever the text
(Python's ``re`` backtracks, and a pattern that can retry a long run of characters from each of
its positions is quadratic: 60,000 letters once took 5 s). Each pattern here:

- starts only where its token cannot continue one (a lookbehind of the token's own characters),
  so in a run of such characters at most one attempt starts;
- takes runs whole: a greedy run is followed by something its characters cannot match (a
  lookahead of the same class, or a different delimiter), so the first try either succeeds or
  fails without re-scanning the run from another position;
- bounds whatever it scans that another attempt could scan again (annotations, key headers).

Private keys, whose body can be anything, are found by a loop that never searches the same
text twice. A cheap substring check skips each pattern that cannot match at all.

Stdlib only: an exported package carries this module (``_redact.py``) to redact what its
pipeline prints as the recording was redacted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from typing import Any

REDACTED = "«redacted»"

# -- environment variables -----------------------------------------------------------------

# The variables that change numerical results or what a cell prints, by name. Families owned
# by one numerical library are matched by prefix; nothing else is (``TF_`` would also keep
# Terraform's ``TF_VAR_db_pass`` and ``TF_CLI_CONFIG_FILE``).
_ENV_FAMILIES = ("OMP_", "KMP_", "MKL_", "OPENBLAS_", "BLIS_", "GOTO_", "VECLIB_", "NUMEXPR_")
_ENV_NAMES = frozenset({
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_LAUNCH_BLOCKING", "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_VISIBLE_DEVICES", "NVIDIA_TF32_OVERRIDE",
    "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC", "TF_CUDNN_USE_AUTOTUNE", "TF_ENABLE_ONEDNN_OPTS",
    "TF_NUM_INTEROP_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_XLA_FLAGS", "XLA_FLAGS",
    "JAX_ENABLE_X64", "JAX_DEFAULT_MATMUL_PRECISION", "JAX_PLATFORMS", "JAX_PLATFORM_NAME", "JAX_DISABLE_JIT",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "TORCH_CUDNN_V8_API_ENABLED", "TORCH_DETERMINISTIC",
    "NUMBA_NUM_THREADS", "NUMBA_DISABLE_JIT", "POLARS_MAX_THREADS", "RAYON_NUM_THREADS",
    "PYTHONHASHSEED", "PYTHONUTF8", "LANG", "LC_ALL", "LC_NUMERIC", "TZ",
})
_ENV_SEED = re.compile(r"[A-Z0-9_]*SEED")  # a project's own seed setting: GLOBAL_SEED, SEED
# A family prefix does not make a secret safe to keep (MKL_API_KEY).
_ENV_DENIED = re.compile(r"TOKEN|SECRET|PASS|KEY|CREDENTIAL|AUTH|COOKIE|SESSION", re.I)


def _env_allowed(name: str) -> bool:
    """Whether an environment variable may enter a record (its value is still redacted)."""
    known = name in _ENV_NAMES or name.startswith(_ENV_FAMILIES) or _ENV_SEED.fullmatch(name) is not None
    return known and _ENV_DENIED.search(name) is None


def allowed_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment variables that may enter a record, values redacted as well."""
    return {name: redact(value) for name, value in sorted(environ.items()) if _env_allowed(name)}


# -- names that say their value is a secret ------------------------------------------------

# Whole words of a name, so ``max_tokens`` and ``author`` are not secrets and ``db_pass`` is.
_SECRET_WORDS = re.compile(
    r"(?:^|_)(?:passwords?|passwd|passphrase|pass|secrets?|token|auth|credentials?|cookies?"
    r"|(?:api|access|private|secret|signing|encryption|client)_?key)(?:_|$)"
)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")  # DB_PASSWORD, dbPassword, APIKey
# Lower-case fragments of every secret word: a line without any of them holds no secret name.
_HINT = re.compile("pass|secret|token|auth|credential|cookie|key")


@lru_cache(maxsize=4096)
def secret_name(name: str) -> bool:
    """Whether a variable, key or option name says its value is a secret: one of its words
    (split at ``_``, ``-``, ``.`` and camelCase) is password, pass, token, secret, auth, api key, …"""
    return _SECRET_WORDS.search("_".join(_WORD.findall(name)).lower()) is not None


def _hinted_lines(text: str) -> list[tuple[int, int]]:
    """Where a secret name may be: the spans of the lines holding a ``_HINT``, neighbours
    merged. Each search starts where the last span ended, so no text is searched twice."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a character whose lower case is longer: no positions to share
        return [(0, len(text))] if _HINT.search(lowered) else []
    spans: list[tuple[int, int]] = []
    pos = 0
    while (hint := _HINT.search(lowered, pos)) is not None:
        begin = text.rfind("\n", 0, hint.start()) + 1
        end = text.find("\n", hint.end())
        end = len(text) if end < 0 else end
        if spans and spans[-1][1] + 1 >= begin:
            begin = spans.pop()[0]
        spans.append((begin, end))
        pos = end
    return spans


# -- patterns ------------------------------------------------------------------------------


def _token(prefixes: Iterable[str], body: str, least: int, before: str | None = None) -> re.Pattern[str]:
    """A token: one of the literal ``prefixes``, not preceded by a character of ``before``
    (default ``body``), then at least ``least`` characters of ``body``, taken whole. The
    lookbehind comes after the prefix so that ``re`` searches for the prefixes' first
    characters instead of trying the whole pattern at every position."""
    starts = "|".join(f"{re.escape(p)}(?<![{before or body}]{'.' * len(p)})" for p in prefixes)
    return re.compile(rf"(?:{starts})[{body}]{{{least},}}(?![{body}])")


_B64URL = "A-Za-z0-9_-"
_GITHUB = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")
_STRIPE = ("sk_live_", "sk_test_", "rk_live_", "rk_test_")
_SLACK = tuple(f"xox{c}-" for c in "abposr")
_TOKENS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("AKIA", "ASIA"), _token(("AKIA", "ASIA"), "0-9A-Z", 16, "A-Za-z0-9")),  # AWS access key ids
    (_GITHUB, _token(_GITHUB, "A-Za-z0-9_", 20)),
    (("sk-",), _token(("sk-",), _B64URL, 20)),  # OpenAI, Anthropic (sk-proj-…, sk-ant-…)
    (_STRIPE, _token(_STRIPE, "A-Za-z0-9", 16, "A-Za-z0-9_")),
    (_SLACK, _token(_SLACK, "A-Za-z0-9-", 10)),
    (("hf_",), _token(("hf_",), "A-Za-z0-9", 30, "A-Za-z0-9_")),  # Hugging Face
    (("glpat-",), _token(("glpat-",), _B64URL, 20)),  # GitLab
    (("eyJ",), re.compile(  # a JWT: three base64url parts, the first a JSON object
        rf"eyJ(?<![{_B64URL}]...)[{_B64URL}]{{5,}}\.[{_B64URL}]{{10,}}\.[{_B64URL}]{{10,}}(?![{_B64URL}])"
    )),
]
_BEARER = re.compile(r"(?P<keep>[Bb]earer(?<![A-Za-z0-9_-]......)[ \t]+)[A-Za-z0-9._~+/=-]{8,}")

# user:password@ in a URL. The password may hold ':' but not '://', so the part one attempt
# scans ends where the next URL's attempt starts.
_URL_USERINFO = re.compile(
    r"://(?<=[A-Za-z0-9+.-]://)(?P<user>[^\s/@:'\"]+):(?P<password>[^\s@'\":]*(?::(?!//)[^\s@'\":]*)*)@"
)

_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_KEY_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")

# A name, taken whole: a lookahead is atomic, so a failed match never backtracks into the
# name one character at a time.
_WHOLE_NAME = r"(?=(?P<name>[\w.-]+))(?P=name)"

# name = "value", name: "value", "name": "value", environ["NAME"] = "value",
# setdefault("NAME", "value"), name: str = "value", name == "value". Whether the name says
# secret is decided after the match (``secret_name``): a name is one run of name characters,
# taken whole.
_ASSIGNED = re.compile(
    rf"(?<![\w.-]){_WHOLE_NAME}"
    r"(?P<sep>[\"']?\]?[ \t]*(?::[ \t]*[A-Za-z_][\w.\[\]|, ]{0,60}?)?(?:[:=]=?|!=)[ \t]*|[\"'][ \t]*,[ \t]*)"
    r"(?P<prefix>[rRbBuUfF]{0,2})(?P<value>\"[^\"\n]{4,}\"|'[^'\n]{4,}')"
)
# NAME=value unquoted, as in a shell, an env dump, a command-line option or a query string;
# only for names written as those are (see _env_style), not a Python keyword argument.
_ENV_ASSIGNED = re.compile(rf"(?<![\w.-]){_WHOLE_NAME}=(?P<value>[^\s'\"`&;,()\[\]{{}}<>=][^\s'\"`&;,()\[\]{{}}<>]*)")
# %env NAME value, %env NAME=value, %set_env NAME value: IPython takes the rest of the line.
_MAGIC_ENV = re.compile(r"(?m)^(?P<head>[ \t]*%(?:set_)?env[ \t]+)(?P<name>[\w.-]+)(?P<sep>[ \t]*=[ \t]*|[ \t]+)(?P<value>\S[^\n]*)")

# A value shorter than this is not looked for elsewhere: a password "test" would redact every
# "test" in the outputs.
_MIN_KNOWN = 6


def _env_style(match: re.Match[str]) -> bool:
    """NAME=value written as a shell, a config file, an option or a URL writes it."""
    name, start = match["name"], match.start()
    if name.startswith("-") or name == name.upper():  # --password=…, DB_PASSWORD=…
        return True
    return match.string[start - 1:start] in ("", "\n", "?", "&") or match.string[max(0, start - 7):start] == "export "


def _assigned(match: re.Match[str]) -> str:
    if not secret_name(match["name"]):
        return match[0]
    quote = match["value"][0]
    return f"{match['name']}{match['sep']}{match['prefix']}{quote}{REDACTED}{quote}"


def _env_assigned(match: re.Match[str]) -> str:
    if not (secret_name(match["name"]) and _env_style(match)):
        return match[0]
    return f"{match['name']}={REDACTED}"


def _magic_env(match: re.Match[str]) -> str:
    if not secret_name(match["name"]):
        return match[0]
    return f"{match['head']}{match['name']}{match['sep']}{REDACTED}"


def _private_keys(text: str) -> str:
    parts: list[str] = []
    pos = 0
    while (begin := _KEY_BEGIN.search(text, pos)) is not None:
        end = _KEY_END.search(text, begin.end())
        if end is None:  # no key ends after this one begins: none after it does either
            break
        parts += [text[pos:begin.start()], REDACTED]
        pos = end.end()
    return "".join(parts) + text[pos:] if parts else text


# -- the public functions ------------------------------------------------------------------


def redact(text: str, known: Collection[str] = ()) -> str:
    """Return ``text`` with credentials in URLs, token-like strings, values assigned to
    secret names, and the ``known`` secret values (``assigned_secrets`` of the code that ran)
    replaced by ``REDACTED``."""
    if not text:
        return text
    for secret in sorted(known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for triggers, pattern in _TOKENS:
        if any(t in text for t in triggers):
            text = pattern.sub(REDACTED, text)
    if "earer" in text:
        text = _BEARER.sub(rf"\g<keep>{REDACTED}", text)
    if "://" in text and "@" in text:
        text = _URL_USERINFO.sub(f"://{REDACTED}@", text)
    if "PRIVATE KEY-----" in text:
        text = _private_keys(text)
    spans = _hinted_lines(text)
    if spans:
        parts, pos = [], 0
        for begin, end in spans:
            parts += [text[pos:begin], _redact_names(text[begin:end])]
            pos = end
        text = "".join(parts) + text[pos:]
    return text


def _redact_names(lines: str) -> str:
    """Values assigned to secret names in ``lines`` (each pattern is line-local)."""
    if "'" in lines or '"' in lines:
        lines = _ASSIGNED.sub(_assigned, lines)
    if "=" in lines:
        lines = _ENV_ASSIGNED.sub(_env_assigned, lines)
    if "env" in lines.lower():
        lines = _MAGIC_ENV.sub(_magic_env, lines)
    return lines


@lru_cache(maxsize=512)
def assigned_secrets(source: str) -> frozenset[str]:
    """The values ``source`` gives to secret names, and the passwords of URLs in it: what to
    redact wherever it shows up in that code's outputs and errors, whatever its shape."""
    found: set[str] = set()
    if "://" in source and "@" in source:
        found.update(m["password"] for m in _URL_USERINFO.finditer(source))
    for begin, end in _hinted_lines(source):
        lines = source[begin:end]
        found.update(m["value"][1:-1] for m in _ASSIGNED.finditer(lines) if secret_name(m["name"]))
        found.update(m["value"] for m in _ENV_ASSIGNED.finditer(lines) if secret_name(m["name"]) and _env_style(m))
        found.update(m["value"].rstrip() for m in _MAGIC_ENV.finditer(lines) if secret_name(m["name"]))
    return frozenset(v for v in found if len(v) >= _MIN_KNOWN and REDACTED not in v)


def redact_value(name: str, value: Any) -> Any:
    """A recorded value (a parameter's, JSON-shaped): ``REDACTED`` when its name says secret,
    else its strings redacted, in lists and dicts too (a dict's keys are names)."""
    if name and secret_name(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_value("", v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(k, v) for k, v in value.items()}
    return value


def secrets_of(sources: Iterable[str]) -> frozenset[str]:
    """``assigned_secrets`` of several cells at once (a notebook's code cells)."""
    return frozenset().union(*(assigned_secrets(s) for s in sources))

"""Keep secrets out of records: an allowlist for environment variables, redaction for text."""

from __future__ import annotations

import re
from collections.abc import Mapping

REDACTED = "«redacted»"

# Variables that change numerical results or reproducibility, and nothing else.
_ENV_ALLOWED = re.compile(
    r"^(OMP_|MKL_|OPENBLAS_|BLIS_|GOTO_|VECLIB_|NUMEXPR_|KMP_|CUDA_|CUDNN_|CUBLAS_|NVIDIA_|"
    r"TF_|XLA_|JAX_|TORCH_|PYTORCH_|PYTHONHASHSEED$|PYTHONUTF8$|LANG$|LC_ALL$|TZ$|"
    r"[A-Z_]*SEED$)"
)
_ENV_DENIED = re.compile(r"(TOKEN|SECRET|PASSW|PASSWD|KEY|CREDENTIAL|AUTH|COOKIE|SESSION)", re.I)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # user:password@ in any URL
    (re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/@:'\"]+:[^\s@'\"]+@"), r"\g<scheme>" + REDACTED + "@"),
    # well-known token shapes
    (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}\b"), REDACTED),
    (re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b"), REDACTED),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"), REDACTED),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b"), REDACTED),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), REDACTED),
    # name = "value" where the name says it is a secret
    (
        re.compile(
            r"(?P<name>\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|auth)[\w.-]*"
            r"[\"']?\s*[:=]\s*)(?P<q>[\"'])(?P<value>[^\"'\n]{4,})(?P=q)",
            re.I,
        ),
        r"\g<name>\g<q>" + REDACTED + r"\g<q>",
    ),
]


def redact(text: str) -> str:
    """Return ``text`` with credentials in URLs and token-like strings replaced."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def allowed_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment variables that may enter a record, values redacted as well."""
    return {
        name: redact(value)
        for name, value in sorted(environ.items())
        if _ENV_ALLOWED.match(name) and not _ENV_DENIED.search(name)
    }

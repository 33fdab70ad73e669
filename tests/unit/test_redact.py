import random
import time
from collections.abc import Callable

from nbrepro.notebook.params import assignments
from nbrepro.record.redact import REDACTED, allowed_env, assigned_secrets, redact, redact_value, secret_name, secrets_of


def test_credentials_in_urls_are_redacted() -> None:
    assert redact("s3://AKEY:sec/ret@bucket/x") == f"s3://{REDACTED}@bucket/x"
    assert redact("https://user:pa55word@example.com/path") == f"https://{REDACTED}@example.com/path"
    assert redact("!echo https://u:pw@host/x") == f"!echo https://{REDACTED}@host/x"
    assert redact("postgresql://a:p:w@db/x and mysql://b:q@h") == f"postgresql://{REDACTED}@db/x and mysql://{REDACTED}@h"
    assert redact("https://example.com/user@host") == "https://example.com/user@host"


def test_token_shapes_are_redacted() -> None:
    for token in ("AKIA" + "Q" * 16, "ghp_" + "x" * 36, "sk-" + "a" * 32, "sk-proj-" + "b" * 30, "xoxb-" + "1" * 20,
                  "hf_" + "A" * 34, "glpat-" + "c" * 20, "sk_live_" + "d" * 24,
                  "eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeKKF2QT4"):
        assert token not in redact(f"value = {token} end"), token
    assert redact("Authorization: Bearer abcdefgh12345678") == f"Authorization: Bearer {REDACTED}"
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIB\n-----END RSA PRIVATE KEY-----"
    assert redact(f"a\n{key}\nb") == f"a\n{REDACTED}\nb"


def test_secret_named_assignments_are_redacted() -> None:
    text = 'password = "hunter2hunter2"\napi_key: \'abc12345\'\nn_estimators = "100"'
    out = redact(text)
    assert "hunter2hunter2" not in out and "abc12345" not in out
    assert 'n_estimators = "100"' in out


def test_every_way_code_sets_a_secret_is_redacted() -> None:
    cases = {
        'os.environ["DB_PASSWORD"] = "s3cret-one"': f'os.environ["DB_PASSWORD"] = "{REDACTED}"',
        "os.environ.setdefault('API_TOKEN', 's3cret-two')": f"os.environ.setdefault('API_TOKEN', '{REDACTED}')",
        "%env SERVICE_PASSWORD=s3cret-three": f"%env SERVICE_PASSWORD={REDACTED}",
        "%env SERVICE_PASSWORD s3cret four": f"%env SERVICE_PASSWORD {REDACTED}",
        "%set_env db_pass=s3cret-five": f"%set_env db_pass={REDACTED}",
        "!DB_PASSWORD=s3cret-six ./load.sh": f"!DB_PASSWORD={REDACTED} ./load.sh",
        "!export TF_VAR_db_pass=s3cret-seven": f"!export TF_VAR_db_pass={REDACTED}",
        "!mysql --password=s3cret-eight": f"!mysql --password={REDACTED}",
        "GET /x?token=s3cret-nine&page=2": f"GET /x?token={REDACTED}&page=2",
        'db_password: str = "s3cret-ten"': f'db_password: str = "{REDACTED}"',
        "if password == 's3cret-eleven':": f"if password == '{REDACTED}':",
        '{"clientSecret": "it\'s s3cret"}': f'{{"clientSecret": "{REDACTED}"}}',
        "token = f'Bearer {key}'": f"token = f'{REDACTED}'",
        "`%env SERVICE_PASSWORD=s3cret` sets os.environ": f"`%env SERVICE_PASSWORD={REDACTED}` sets os.environ",
    }
    for source, redacted in cases.items():
        assert redact(source) == redacted, source


def test_names_are_secret_by_their_words() -> None:
    for name in ("password", "DB_PASSWORD", "dbPassword", "db_pass", "API_KEY", "apiKey", "openai_api_key",
                 "client_secret", "GITHUB_TOKEN", "auth", "--password", "X-Auth-Token", "credentials"):
        assert secret_name(name), name
    for name in ("max_tokens", "author", "keyboard", "tokenizer", "n_estimators", "compass", "primary_key"):
        assert not secret_name(name), name
    assert redact('max_tokens = "1000"\nauthor = "Jane Doe"') == 'max_tokens = "1000"\nauthor = "Jane Doe"'


def test_plain_code_is_left_alone() -> None:
    code = "import numpy as np\nx = np.arange(10)\nprint(f'{x.sum()=}')\nf(password=pw)\n"
    assert redact(code) == code


def test_known_values_are_redacted_in_any_text() -> None:
    source = ('api_secret = "opaque words here"\n'
              'url = "postgresql://me:long-pass-1@db/x"\nos.environ["DB_PASSWORD"] = "abc"\n%env SERVICE_TOKEN tok-12345\n')
    known = assigned_secrets(source)
    assert known == {"opaque words here", "long-pass-1", "tok-12345"}  # "abc" is too short to look for
    message = "login rejected for opaque words here (long-pass-1, tok-12345)"
    assert redact(message, known) == f"login rejected for {REDACTED} ({REDACTED}, {REDACTED})"
    assert secrets_of([source, 'password = "second-one"']) == known | {"second-one"}


def test_recorded_values_are_redacted_by_name_and_by_value() -> None:
    assert redact_value("db_password", "hunter2") == REDACTED
    assert redact_value("url", "https://me:pw1234@h/x") == f"https://{REDACTED}@h/x"
    assert redact_value("config", {"token": "t", "n": [1, "sk-" + "a" * 30]}) == {"token": REDACTED, "n": [1, REDACTED]}
    source = 'db_password = "hunter2"\nservice_url = "https://u:pw1234@h"\nn = 3\nauth = {"expr": 1}\nlimit = int("5")'
    assert assignments(source) == {
        "db_password": REDACTED, "service_url": f"https://{REDACTED}@h", "n": 3, "auth": REDACTED, "limit": {"expr": "int('5')"},
    }


def test_environment_allowlist() -> None:
    env = {"OMP_NUM_THREADS": "4", "CUDA_VISIBLE_DEVICES": "0,1", "PYTHONHASHSEED": "0", "HOME": "/home/me",
           "AWS_SECRET_ACCESS_KEY": "x", "TF_API_TOKEN": "x", "PATH": "/bin", "MKL_NUM_THREADS": "1",
           "GLOBAL_SEED": "7"}
    assert allowed_env(env) == {"CUDA_VISIBLE_DEVICES": "0,1", "GLOBAL_SEED": "7", "MKL_NUM_THREADS": "1",
                                "OMP_NUM_THREADS": "4", "PYTHONHASHSEED": "0"}


def test_environment_allowlist_names_variables_exactly() -> None:
    kept = {"TF_DETERMINISTIC_OPS": "1", "TF_CUDNN_DETERMINISTIC": "1", "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
            "OPENBLAS_NUM_THREADS": "2", "XLA_FLAGS": "--xla_gpu_deterministic_ops"}
    dropped = {"TF_CLI_CONFIG_FILE": "/home/me/.terraformrc", "TF_VAR_db_pass": "hunter2", "TORCH_HOME": "/cache",
               "CUDA_HOME": "/usr/local/cuda", "JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "MKL_API_KEY": "k"}
    assert allowed_env({**kept, **dropped}) == kept


# -- time: every pattern linear on any input -----------------------------------------------

# (head, unit): the text is head then unit repeated. Long runs of what each pattern scans:
# letters, name characters, URL punctuation, quotes, token prefixes, key headers.
_ADVERSARIAL = [
    ("", "ACGT"), ("", "x"), ("", "a."), ("", "a-"), ("", ":"), ("", "/"), ("", "@"), ("", "."), ("", ":/"),
    ("", "@:/"), ("", "a:b@"), ("", "x://a:"), ("x://u:", "a"), ("x://u:", "a:"), ("", "sk-"), ("", "ghp_"),
    ("ghp_", "a"), ("", "AKIA"), ("", "eyJ-"), ("", "eyJaaaaa."), ("eyJ", "a"), ("", "Bearer "), ("", "password"),
    ("", "password "), ("", "'password': '"), ('password = "', "a"), ("", 'a="xxxx",'), ("", "PASSWORD="),
    ("", "%env "), ("%env TOKEN ", "a"), ("", "\n"), ("", " \t"), ("", "token: str"), ("", "-----BEGIN RSA PRIVATE KEY-----"),
    ("-----BEGIN PRIVATE KEY-----", "A"), ("", "=="), ("", "'\""),
]


def _benign(size: int) -> str:
    """Text as a notebook prints and writes it, with every kind of secret in it now and then."""
    rnd = random.Random(0)
    words = ("the", "of", "value", "result", "import", "numpy", "as", "np", "print(x)", "df.head()", "x = 1",
             "model.fit(X, y)", "{'a': 1, 'b': [2, 3]}", "0.125", "https://example.com/a/b", "key", "token",
             "password = 'hunter2-x'", "url = 'postgresql://me:pw-1@db/x'", "AKIA" + "B" * 16, "ghp_" + "c" * 36,
             "DB_PASSWORD=abc123", "%env API_TOKEN=abc", "Bearer " + "d" * 20, "eyJabcdef.ghijklmnopq.rstuvwxyz01")
    parts, length = [], 0
    while length < size:
        word = rnd.choice(words)
        parts.append(word + rnd.choice(" \n"))
        length += len(parts[-1])
    return "".join(parts)[:size]


def _cost(text: str) -> float:
    """The time of redacting ``text`` and finding the secrets it assigns (uncached)."""
    find: Callable[[str], frozenset[str]] = assigned_secrets.__wrapped__  # type: ignore[attr-defined]
    start = time.perf_counter()
    redact(text)
    find(text)
    return time.perf_counter() - start


def test_redaction_is_linear_time_on_adversarial_text() -> None:
    # Against redacting ordinary text of the same length, timed here (best of three): a
    # pattern that backtracks quadratically is thousands of times slower on 1 MiB (on 60k
    # letters the old URL pattern took 5 s). 16 KiB first, so such a pattern fails in
    # seconds instead of running for hours at 1 MiB.
    for size, repeat in ((16 * 1024, 3), (1024 * 1024, 1)):
        benign = _benign(size)
        baseline = min(_cost(benign) for _ in range(3))
        for head, unit in _ADVERSARIAL:
            text = (head + unit * (size // len(unit) + 1))[:size]
            spent = min(_cost(text) for _ in range(repeat))
            assert spent < 10 * baseline, f"{size} chars of {head!r} + {unit!r}...: {spent:.4f} s, ordinary text {baseline:.4f} s"

from nbrepro.record.redact import REDACTED, allowed_env, redact


def test_credentials_in_urls_are_redacted() -> None:
    assert redact("s3://AKEY:sec/ret@bucket/x") == f"s3://{REDACTED}@bucket/x"
    assert redact("https://user:pa55word@example.com/path") == f"https://{REDACTED}@example.com/path"
    assert redact("https://example.com/user@host") == "https://example.com/user@host"


def test_token_shapes_are_redacted() -> None:
    for token in ("AKIA" + "Q" * 16, "ghp_" + "x" * 36, "sk-" + "a" * 32, "xoxb-" + "1" * 20,
                  "hf_" + "A" * 34, "eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeKKF2QT4"):
        assert token not in redact(f"value = {token} end"), token


def test_secret_named_assignments_are_redacted() -> None:
    text = 'password = "hunter2hunter2"\napi_key: \'abc12345\'\nn_estimators = "100"'
    out = redact(text)
    assert "hunter2hunter2" not in out and "abc12345" not in out
    assert 'n_estimators = "100"' in out


def test_plain_code_is_left_alone() -> None:
    code = "import numpy as np\nx = np.arange(10)\nprint(f'{x.sum()=}')\n"
    assert redact(code) == code


def test_environment_allowlist() -> None:
    env = {"OMP_NUM_THREADS": "4", "CUDA_VISIBLE_DEVICES": "0,1", "PYTHONHASHSEED": "0", "HOME": "/home/me",
           "AWS_SECRET_ACCESS_KEY": "x", "TF_API_TOKEN": "x", "PATH": "/bin", "MKL_NUM_THREADS": "1",
           "GLOBAL_SEED": "7"}
    assert allowed_env(env) == {"CUDA_VISIBLE_DEVICES": "0,1", "GLOBAL_SEED": "7", "MKL_NUM_THREADS": "1",
                                "OMP_NUM_THREADS": "4", "PYTHONHASHSEED": "0"}

"""hosts.toml validation: every mistake names the file, the endpoint and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_mmbench.spec.endpoints import HostsError, load_endpoints


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hosts.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_full_endpoint_is_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [endpoints.gemma-3090]
        base_url = "http://gpu-host:8000/v1/"
        model = "google/gemma-4-E2B-it"
        modalities = ["text", "image", "audio", "video"]
        api_key_env = "GEMMA_KEY"
        headers = { X-Team = "bench" }
        timeout_s = 90
        extra_body = { chat_template_kwargs = { enable_thinking = false } }
        hardware = "RTX 3090"
        context_window = 131072
        """,
    )
    (endpoint,) = load_endpoints(path, environ={"GEMMA_KEY": "sk-secret-123\n"})
    assert endpoint.id == "gemma-3090"
    assert endpoint.base_url == "http://gpu-host:8000/v1"
    assert endpoint.modalities == ("text", "image", "audio", "video")
    assert endpoint.api_key == "sk-secret-123"
    assert endpoint.extra_body == {"chat_template_kwargs": {"enable_thinking": False}}
    assert endpoint.timeout_s == 90.0
    described = endpoint.describe()
    assert "sk-secret-123" not in repr(described) and "sk-secret-123" not in repr(endpoint)
    assert described["header_names"] == ["X-Team"]


def test_telemetry_settings_are_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [endpoints.spark]
        base_url = "http://spark:8000/v1"
        model = "qwen"
        gpus = [0]
        [endpoints.spark.telemetry]
        source = "prometheus"
        url = "http://spark:9400/metrics"
        metrics = { power_w = "gpu_watts" }
        scale = { energy_j = 0.001 }
        gpu_label = "device"
        """,
    )
    (endpoint,) = load_endpoints(path, environ={})
    assert endpoint.gpus == (0,)
    config = endpoint.telemetry
    assert (config.source, config.url, config.preset) == (
        "prometheus",
        "http://spark:9400/metrics",
        None,
    )
    assert config.metrics == {"power_w": "gpu_watts"} and config.scale == {"energy_j": 0.001}
    assert config.gpu_label == "device"


def test_embedded_endpoint_gets_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [endpoints.local]
        launch = "embedded"
        [endpoints.local.embedded]
        threads = 2
        """,
    )
    (endpoint,) = load_endpoints(path, environ={})
    assert endpoint.embedded is not None and endpoint.embedded.threads == 2
    assert endpoint.embedded.cache_prompt is False
    assert endpoint.model == "smollm2-135m" and endpoint.modalities == ("text",)


def test_launch_command_is_parsed_with_port_placeholders(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    path = write(
        tmp_path,
        """
        [endpoints.vllm]
        model = "Qwen/Qwen3.5-4B"
        gpu_group = "rtx3090"
        [endpoints.vllm.launch]
        command = ["vllm", "serve", "Qwen/Qwen3.5-4B", "--port", "{port}"]
        ready = "/v1/models"
        startup_timeout_s = 1800
        env = { HF_TOKEN = "hf_secret_value", PORT = "{port}" }
        cwd = "srv"
        """,
    )
    (endpoint,) = load_endpoints(path, environ={})
    managed = endpoint.managed
    assert managed is not None and endpoint.launch == "command"
    assert endpoint.base_url == "http://127.0.0.1:{port}/v1" and endpoint.gpu_group == "rtx3090"
    assert managed.argv(8123) == ["vllm", "serve", "Qwen/Qwen3.5-4B", "--port", "8123"]
    assert managed.environment(8123)["PORT"] == "8123"
    assert managed.startup_timeout_s == 1800 and managed.ready == "/v1/models"
    assert managed.cwd == str((tmp_path / "srv").resolve())
    described = endpoint.describe()["managed"]
    assert described["env_names"] == ["HF_TOKEN", "PORT"]
    assert "hf_secret_value" not in str(endpoint.describe())  # env values are never written


def test_bundled_gemma_gets_its_name_and_chat_template(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [endpoints.g]
        launch = "embedded"
        [endpoints.g.embedded]
        model = "gemma3-270m"
        """,
    )
    (endpoint,) = load_endpoints(path, environ={})
    assert endpoint.model == "gemma3-270m"
    assert endpoint.embedded is not None and endpoint.embedded.chat_template == "gemma"


def test_unknown_bundled_model_says_which_exist(tmp_path: Path) -> None:
    path = write(tmp_path, '[endpoints.g]\nlaunch = "embedded"\nembedded = { model = "llama" }\n')
    with pytest.raises(HostsError) as raised:
        load_endpoints(path, environ={})
    assert "unknown bundled model 'llama'; choose one of smollm2, gemma3-270m" in str(raised.value)


BAD_FILES = [
    pytest.param('[endpoints.a]\nmodel = "m"\n', "'a'", "'base_url'", "missing", id="missing-key"),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\n', "'a'", "'model'", "missing", id="missing-model"
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\nmodel = 3\n',
        "'a'",
        "'model'",
        "non-empty string",
        id="wrong-type",
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\nmodel = "m"\ntimeout = 5\n',
        "'a'",
        "'timeout'",
        "unknown key",
        id="unknown-key",
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "gpu-host:8000"\nmodel = "m"\n',
        "'a'",
        "'base_url'",
        "not an http(s) URL",
        id="bad-url",
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\nmodel = "m"\nmodalities = ["smell"]\n',
        "'a'",
        "'modalities'",
        "unknown modality 'smell'",
        id="unknown-modality",
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\nmodel = "m"\n'
        '[endpoints.A]\nbase_url = "http://h/v1"\nmodel = "m"\n',
        "'A'",
        "",
        "duplicate id",
        id="duplicate-id-case",
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\nmodel = "m"\napi_key_env = "NOPE_KEY"\n',
        "'a'",
        "'api_key_env'",
        "NOPE_KEY is not set",
        id="missing-env-var",
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\nmodel = "m"\napi_key_env = "sk-12 34"\n',
        "'a'",
        "'api_key_env'",
        "NAME of an environment variable",
        id="inline-key",
    ),
    pytest.param(
        '[endpoints.a]\nbase_url = "http://h/v1"\nmodel = "m"\ntimeout_s = -1\n',
        "'a'",
        "'timeout_s'",
        "positive number",
        id="negative-timeout",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "docker"\n',
        "'a'",
        "'launch'",
        'must be "embedded" or a table such as { command = [',
        id="bad-launcher",
    ),
    pytest.param(
        '[endpoints.a]\nmodel = "m"\nlaunch = { command = "vllm serve m" }\n',
        "'a'",
        "'launch.command'",
        "non-empty list of strings",
        id="launch-command-not-a-list",
    ),
    pytest.param(
        '[endpoints.a]\nmodel = "m"\nlaunch = { command = ["s"], ready = "health" }\n',
        "'a'",
        "'launch.ready'",
        'a path such as "/health"',
        id="launch-ready-not-a-path",
    ),
    pytest.param(
        '[endpoints.a]\nmodel = "m"\nlaunch = { command = ["s"], wait = 3 }\n',
        "'a'",
        "'launch.wait'",
        "unknown key; allowed keys are command, ready",
        id="launch-unknown-key",
    ),
    pytest.param(
        '[endpoints.a]\nmodel = "m"\nlaunch = { command = ["s"], cwd = "nowhere" }\n',
        "'a'",
        "'launch.cwd'",
        "is not a directory",
        id="launch-missing-cwd",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = { command = ["s", "--port", "{port}"] }\n',
        "'a'",
        "'model'",
        "the model name the launched server serves",
        id="launch-without-model",
    ),
    pytest.param(
        '[endpoints.a]\nmodel = "m"\nbase_url = "http://h:8000/v1"\nlaunch = { command = ["s"] }\n',
        "'a'",
        "'base_url'",
        'must contain "{port}"',
        id="launch-fixed-base-url",
    ),
    pytest.param(
        '[endpoints.a]\nmodel = "m"\nbase_url = "http://h/v1"\ngpu_group = "g"\n',
        "'a'",
        "'gpu_group'",
        "only applies to endpoints with launch = { command",
        id="gpu-group-without-launch",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\n[endpoints.a.embedded]\nthreads = 0\n',
        "'a'",
        "'embedded.threads'",
        "positive integer",
        id="bad-embedded-value",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\n[endpoints.a.embedded]\ngpu = 1\n',
        "'a'",
        "'embedded.gpu'",
        "unknown key",
        id="bad-embedded-key",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\ngpus = [0, 0]\n',
        "'a'",
        "'gpus'",
        "distinct GPU indices",
        id="bad-gpus",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\ntelemetry = { source = "dcgm" }\n',
        "'a'",
        "'telemetry.source'",
        "must be one of auto, nvml, prometheus, none",
        id="bad-telemetry-source",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\ntelemetry = { source = "prometheus" }\n',
        "'a'",
        "'telemetry.url'",
        "exporter URL",
        id="prometheus-without-url",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\ntelemetry = { source = "prometheus", '
        'url = "http://g:9400/metrics", preset = "zeus" }\n',
        "'a'",
        "'telemetry.preset'",
        "unknown preset 'zeus'",
        id="bad-preset",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\ntelemetry = { source = "prometheus", '
        'url = "http://g:9400/metrics", metrics = { watts = "x" } }\n',
        "'a'",
        "'telemetry.metrics.watts'",
        "unknown figure",
        id="bad-metric-field",
    ),
    pytest.param(
        '[endpoints.a]\nlaunch = "embedded"\ntelemetry = { source = "nvml", interval = 1 }\n',
        "'a'",
        "'telemetry.interval'",
        "unknown key",
        id="bad-telemetry-key",
    ),
]


@pytest.mark.parametrize(("text", "endpoint", "key", "problem"), BAD_FILES)
def test_every_mistake_names_file_endpoint_and_key(
    tmp_path: Path, text: str, endpoint: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HostsError) as info:
        load_endpoints(path, environ={})
    message = str(info.value)
    assert message.startswith(f"{path}: endpoint {endpoint}")
    assert key in message
    assert problem in message


def test_toml_duplicate_table_is_reported_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[endpoints.a]\nmodel = "m"\n[endpoints.a]\nmodel = "n"\n')
    with pytest.raises(HostsError, match=r"hosts\.toml: not valid TOML"):
        load_endpoints(path, environ={})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no endpoints"),
        ('[servers.a]\nmodel = "m"\n', "unknown top-level key 'servers'"),
    ],
)
def test_file_level_mistakes(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(HostsError, match=problem):
        load_endpoints(write(tmp_path, text), environ={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(HostsError, match="file not found"):
        load_endpoints(tmp_path / "nope.toml", environ={})

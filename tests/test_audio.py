"""Audio end to end: encoding, request shape, WER and repetition checks, a real server."""

from __future__ import annotations

import base64
import io

import pytest

from pytest_mmbench.request.media import AudioSpec, encode_audio, with_parts
from pytest_mmbench.results.checks import CheckSpecError, evaluate, validate_spec
from pytest_mmbench.spec.cases import load_case_file
from support import REPO, load_report, records_by_case

soundfile = pytest.importorskip("soundfile")
pytest.importorskip("jiwer")


def test_audio_is_resampled_to_mono_and_encoded() -> None:
    part, info = encode_audio(AudioSpec("speech-fox.wav"), REPO / "media")
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    decoded, rate = soundfile.read(io.BytesIO(base64.b64decode(part["input_audio"]["data"])))
    assert rate == 16000 and decoded.ndim == 1  # from 22.05 kHz espeak-ng output
    assert info["seconds"] == pytest.approx(3.44, abs=0.01) and info["sample_rate"] == 16000
    assert info["bytes"] == len(base64.b64decode(part["input_audio"]["data"]))
    flac, flac_info = encode_audio(AudioSpec("tone-440hz.wav", None, "flac"), REPO / "media")
    assert flac["input_audio"]["format"] == "flac" and flac_info["seconds"] == pytest.approx(2.0)
    messages = with_parts([{"role": "user", "content": "Transcribe."}], [part])
    assert messages[0]["content"] == [{"type": "text", "text": "Transcribe."}, part]


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        (
            {"wer": {"reference": "The quick brown fox jumps over the lazy dog.", "max": 0.3}},
            "the quick brown fox jumped over the lazy dog",
            "a slow red cat sleeps",
        ),
        (
            {"max_repetition": 0.3},
            "A steady high-pitched beep, like a tuning fork.",
            "beep beep beep beep beep beep beep beep beep beep beep beep",
        ),
    ],
)
def test_audio_checks(spec: dict[str, object], good: str, bad: str) -> None:
    validate_spec(spec)
    assert evaluate(spec, good).passed, evaluate(spec, good).detail
    assert not evaluate(spec, bad).passed


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"wer": "the fox"}, "must be a table"),
        ({"wer": {"reference": "x", "max": -1}}, "max must be a number >= 0"),
        ({"max_repetition": 2}, "between 0 and 1"),
    ],
)
def test_bad_audio_check_specs(spec: dict[str, object], message: str) -> None:
    with pytest.raises(CheckSpecError, match=message):
        validate_spec(spec)


def test_shipped_audio_cases_pass_right_and_fail_wrong_answers() -> None:
    cases = {c.id: c for c in load_case_file(REPO / "cases" / "mm_audio.toml")}
    answers = {
        "transcription": ("The quick brown fox jumps over the lazy dog.", "Hello world."),
        "audio-qa": ("The capital of France is Paris.", "It is Berlin."),
        "synthetic-tone": (
            "A steady 440 hertz sine tone with no speech.",
            "tone tone tone tone tone tone tone tone tone tone tone",
        ),
    }
    for case_id, (good, bad) in answers.items():
        check = dict(cases[case_id].check)
        assert evaluate(check, good).passed, case_id
        assert not evaluate(check, bad).passed, case_id


def test_audio_case_on_llama_cpp_with_the_tiny_projector(pytester, write_hosts) -> None:
    pytest.importorskip("gguf")
    write_hosts("""
        [endpoints.mm]
        launch = "embedded"
        modalities = ["text", "audio"]
        extra_body = { ignore_eos = true }
        [endpoints.mm.embedded]
        projector = "tiny-random"
        """)
    (pytester.path / "q.wav").write_bytes((REPO / "media" / "speech-question.wav").read_bytes())
    (pytester.path / "mm_a.toml").write_text(
        '[[case]]\nid = "qa"\nmodality = "audio"\nprompt = "Answer it."\nmax_tokens = 4\n'
        'audio = [{ file = "q.wav" }]\ncheck = { contains = "Paris" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_a.toml", "--mm-endpoints=hosts.toml", "-m", "audio")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*case qa failed its check on endpoint mm*", "*answer:*"])
    record = records_by_case(load_report(pytester.path / "mmbench-report.json"))[("mm", "qa")]
    metrics = record["rounds"][0]["metrics"]
    assert record["media"]["audio_clips"] == 1
    assert record["media"]["audio_seconds"] == pytest.approx(2.16, abs=0.01)
    assert metrics["input_tokens"] >= 150  # the encoder pads every clip to 30 s: 150 tokens
    assert metrics["ttft_ms"] > 0 and metrics["output_tokens"] == 4

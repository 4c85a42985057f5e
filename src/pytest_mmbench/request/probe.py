"""What an endpoint really does, found out with a few tiny requests before measuring.

OpenAI-compatible servers differ in ways that change what a benchmark may report:
some reject fields they do not know (``ignore_eos``, ``min_tokens``) with 400 or 422,
some accept an image with HTTP 200 and silently drop it, some send no usage or put it
on the finish chunk, some never send ``[DONE]``.  The probe runs once per endpoint per
process, after its server is up and before its first measured request, outside every
timed or telemetry window.  Each finding keeps its evidence (status, message, token
counts) for the report's ``endpoints[].capabilities``.

Media consumption is judged by the server's own prompt-token count: the same tiny
prompt with and without a small image (or clip, or frame).  Equal counts mean the
model never saw the media.  Without usage counts it cannot be judged, and the verdict
says ``unverified``.
"""

from __future__ import annotations

import base64
import io
import math
import secrets
import struct
import time
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from pytest_mmbench.request.body import build_body, build_headers, chat_url, encode, with_nonce
from pytest_mmbench.request.tokenize import count_tokens
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import Post, stream_sync
from pytest_mmbench.spec.endpoints import Endpoint

PROMPT = "Reply with one word."
CONTROL_WORDS = " Say it twice, in capital letters, then stop."
FIELD_TRIALS = ("ignore_eos", "min_tokens", "seed")


@dataclass
class MediaVerdict:
    """Did the model consume this modality?  ``consumed`` is None when unverifiable."""

    modality: str
    consumed: bool | None
    prompt_tokens_without: int | None = None
    prompt_tokens_with: int | None = None
    status: int | None = None
    message: str | None = None
    note: str = ""

    def reason(self) -> dict[str, Any]:
        """The ``unsupported`` entry of a case this verdict rules out."""
        noun = _NOUNS.get(self.modality, self.modality)
        return {
            "modality": self.modality,
            "message": (
                f"server accepted the {noun} but prompt tokens did not change "
                f"({self.prompt_tokens_without} with and without it): the model never saw it"
            ),
            "evidence": self.describe(),
        }

    def describe(self) -> dict[str, Any]:
        verdict = {True: "consumed", False: "ignored", None: "unverified"}[self.consumed]
        return {
            "verdict": verdict,
            "prompt_tokens_without": self.prompt_tokens_without,
            "prompt_tokens_with": self.prompt_tokens_with,
            "status": self.status,
            "message": self.message,
            "note": self.note,
        }


_NOUNS = {"image": "image", "audio": "audio clip", "video": "video"}


@dataclass
class Capabilities:
    """The probe's findings, each with the evidence it rests on."""

    probed: bool = True
    streams: bool | None = None
    usage: str | None = None  # "separate chunk", "finish chunk", "none"
    done_marker: bool | None = None
    role_chunk: bool | None = None
    reasoning_field: str | None = None
    timings: bool | None = None
    tokenize: bool | None = None
    content_type: str | None = None
    rejected_fields: dict[str, str] = field(default_factory=dict)  # field -> server message
    accepted_fields: list[str] = field(default_factory=list)
    media: dict[str, MediaVerdict] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_s: float | None = None
    error: str | None = None  # the probe itself could not run

    def media_verdict(self, modality: str) -> MediaVerdict | None:
        return self.media.get(modality)

    def describe(self) -> dict[str, Any]:
        return {
            "probed": self.probed,
            "streams": self.streams,
            "usage": self.usage,
            "done_marker": self.done_marker,
            "role_chunk": self.role_chunk,
            "reasoning_field": self.reasoning_field,
            "timings": self.timings,
            "tokenize": self.tokenize,
            "content_type": self.content_type,
            "rejected_fields": dict(self.rejected_fields),
            "accepted_fields": list(self.accepted_fields),
            "media": {name: verdict.describe() for name, verdict in self.media.items()},
            "evidence": dict(self.evidence),
            "duration_s": self.duration_s,
            "error": self.error,
        }


def not_probed(reason: str) -> Capabilities:
    return Capabilities(probed=False, error=reason)


def probe(http: httpx.Client, base_url: str, endpoint: Endpoint) -> Capabilities:
    """Find out what ``endpoint`` does; never raises for server behaviour."""
    started = time.perf_counter()
    found = Capabilities()
    send = _sender(http, base_url, endpoint)
    base = send(PROMPT, {}, frozenset(), None)
    if _rejects(base) and "stream_options" in (base.error or ""):
        found.rejected_fields["stream_options"] = base.error or ""
        base = send(PROMPT, {}, frozenset({"stream_options"}), None)
    found.evidence["base"] = _evidence(base)
    if not base.ok:
        found.error = f"the probe's plain request failed: {base.error}"
        found.duration_s = time.perf_counter() - started
        return found
    _stream_facts(found, base)
    _field_facts(found, send)
    counted = count_tokens(http, base_url, endpoint.model, build_headers(endpoint), "hi")
    found.tokenize = counted is not None
    modalities = [m for m in ("image", "audio", "video") if endpoint.accepts(m)]
    if modalities:
        counts = _counts_track_input(found, send, base)
        for modality in modalities:
            found.media[modality] = _media(found, send, modality, endpoint, base, counts)
    found.duration_s = time.perf_counter() - started
    return found


Send = Callable[[str, Mapping[str, Any], frozenset[str], "list[dict[str, Any]] | None"], Trace]


def _sender(http: httpx.Client, base_url: str, endpoint: Endpoint) -> Send:
    """Every probe request starts with its own tag of the same length, so none is
    served from another's cached prefix and prompt-token counts stay comparable."""
    url, headers = chat_url(base_url), build_headers(endpoint)
    run = secrets.token_hex(3)
    sent = iter(range(100))

    def send(
        prompt: str,
        extra: Mapping[str, Any],
        drop: frozenset[str],
        parts: list[dict[str, Any]] | None,
    ) -> Trace:
        content: Any = prompt if parts is None else [{"type": "text", "text": prompt}, *parts]
        messages = with_nonce(
            [{"role": "user", "content": content}], f"probe-{run}-{next(sent):02d}"
        )
        body = build_body(endpoint, messages, max_tokens=1, drop=drop, extra_body=extra)
        return stream_sync(http, Post(url, encode(body), headers, endpoint.timeout_s))

    return send


def _rejects(trace: Trace) -> bool:
    return trace.status_code in (400, 422) and trace.error is not None


def _stream_facts(found: Capabilities, base: Trace) -> None:
    found.streams = base.data_lines > 0
    found.content_type = base.content_type
    found.done_marker = base.saw_done
    found.role_chunk = base.role_chunk
    found.timings = base.timings is not None
    found.reasoning_field = base.reasoning_field
    if base.usage is None:
        found.usage = "none"
    else:
        found.usage = "finish chunk" if base.usage_on_finish_chunk else "separate chunk"


def _field_facts(found: Capabilities, send: Send) -> None:
    """One request with every optional field; only if it fails, one per field.  A field
    is rejected only on a 400/422 naming no other cause, accepted only on success."""
    trial = {"ignore_eos": True, "min_tokens": 1, "seed": 1}
    drop = frozenset(found.rejected_fields)
    together = send(PROMPT, trial, drop, None)
    if together.ok:
        found.accepted_fields = list(FIELD_TRIALS)
        found.evidence["fields"] = _evidence(together)
        return
    for name in FIELD_TRIALS:
        alone = send(PROMPT, {name: trial[name]}, drop, None)
        found.evidence[f"field {name}"] = _evidence(alone)
        if alone.ok:
            found.accepted_fields.append(name)
        elif _rejects(alone):
            found.rejected_fields[name] = alone.error or ""


def _counts_track_input(found: Capabilities, send: Send, base: Trace) -> bool:
    """A control: the same prompt with a few more words must cost more prompt tokens,
    or equal counts with and without media would prove nothing."""
    control = send(PROMPT + CONTROL_WORDS, {}, frozenset(found.rejected_fields), None)
    found.evidence["control"] = _evidence(control)
    before = _prompt_tokens(base)
    after = _prompt_tokens(control)
    return before is not None and after is not None and 0 < before < after


def _media(
    found: Capabilities, send: Send, modality: str, endpoint: Endpoint, base: Trace, counts: bool
) -> MediaVerdict:
    try:
        parts = _probe_parts(modality, endpoint)
    except ImportError as exc:
        return MediaVerdict(modality, None, note=f"not probed: {exc}")
    trace = send(PROMPT, {}, frozenset(found.rejected_fields), parts)
    verdict = MediaVerdict(
        modality,
        None,
        prompt_tokens_without=_prompt_tokens(base),
        prompt_tokens_with=_prompt_tokens(trace),
        status=trace.status_code,
        message=trace.error,
    )
    without, with_media = verdict.prompt_tokens_without, verdict.prompt_tokens_with
    if not trace.ok:
        verdict.note = "the server refused the probe's media; cases will show its message"
    elif with_media is None or without is None:
        verdict.note = "no usage counts: media consumption cannot be verified"
    elif not counts:
        verdict.note = (
            "prompt-token counts did not grow with a longer prompt (control request): "
            "media consumption cannot be verified"
        )
    elif with_media == without:
        verdict.consumed = False
        verdict.note = "prompt tokens equal with and without the media"
    elif with_media > without:
        verdict.consumed = True
        verdict.note = "prompt tokens compared with and without the media"
    else:
        verdict.note = f"fewer prompt tokens with the media ({with_media} < {without}): unclear"
    return verdict


def _prompt_tokens(trace: Trace) -> int | None:
    value = (trace.usage or {}).get("prompt_tokens") if trace.ok else None
    return value if isinstance(value, int) else None


def _probe_parts(modality: str, endpoint: Endpoint) -> list[dict[str, Any]]:
    if modality == "audio":
        data = base64.b64encode(_tone_wav()).decode("ascii")
        return [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]
    if modality == "video" and endpoint.video.mode == "video_url":
        url = "data:video/mp4;base64," + base64.b64encode(_clip_mp4()).decode("ascii")
        return [{"type": "video_url", "video_url": {"url": url}}]
    url = "data:image/png;base64," + base64.b64encode(_checker_png()).decode("ascii")
    return [{"type": "image_url", "image_url": {"url": url}}]


def _checker_png(size: int = 128) -> bytes:
    from PIL import Image, ImageDraw  # extra "media"

    picture = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    for x in range(0, size, 16):
        for y in range(0, size, 16):
            if (x + y) // 16 % 2:
                draw.rectangle((x, y, x + 15, y + 15), fill=(200, 30, 30))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _tone_wav(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A 440 Hz tone, written with the standard library alone."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(seconds * rate))
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def _clip_mp4(seconds: int = 1, fps: int = 4, size: int = 64) -> bytes:
    import av  # extra "media"
    from PIL import Image

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for n in range(seconds * fps):
            picture = Image.new("RGB", (size, size), (40 * n % 256, 80, 160))
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _evidence(trace: Trace) -> dict[str, Any]:
    usage = trace.usage or {}
    return {
        "status": trace.status_code,
        "message": trace.error,
        "prompt_tokens": usage.get("prompt_tokens"),
        "completion_tokens": usage.get("completion_tokens"),
    }

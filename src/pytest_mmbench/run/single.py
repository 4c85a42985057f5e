"""Running one case on one endpoint: warm-up, recorded rounds, checks.

The runner joins the pieces in the order data flows: build, send and time each request
through the request core (``request.body``, ``request.transport``), derive figures
(``results.metrics``), judge the answer (``results.checks``), and collect the rounds
into a :class:`~pytest_mmbench.results.records.CaseResult`.  The load engine uses the
same core; the two differ only in how they schedule requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_mmbench.request.body import (
    WARMUP_MESSAGES,
    build_body,
    build_headers,
    chat_url,
    encode,
    with_nonce,
)
from pytest_mmbench.request.media import (
    encode_audio,
    encode_image,
    encode_video,
    image_part,
    summarize_media,
    with_parts,
)
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import Post, stream_sync
from pytest_mmbench.results import checks, metrics
from pytest_mmbench.results.cost import request_cost
from pytest_mmbench.results.records import CaseResult, RoundResult
from pytest_mmbench.results.stats import energy_figures
from pytest_mmbench.run.session import BenchSession
from pytest_mmbench.spec.cases import Case
from pytest_mmbench.spec.endpoints import Endpoint
from pytest_mmbench.telemetry.sampler import EndpointTelemetry, Window


def send(
    session: BenchSession,
    endpoint: Endpoint,
    messages: Any,
    *,
    max_tokens: int,
    temperature: float | None,
    seed: int | None,
    extra_body: Mapping[str, Any] | None,
    index: int = 0,
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: Any = None,
) -> Trace:
    """One streamed request; raises EndpointUnavailable only if the endpoint cannot start.

    Fields the benchmark adds and the endpoint's probe found rejected are left out
    (they are listed in the report's capabilities); fields of an ``extra_body`` never are.
    """
    url = chat_url(session.base_url(endpoint))
    body = build_body(
        endpoint,
        messages,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        extra_body=extra_body,
        drop=session.dropped_fields(endpoint),
        tools=tools,
        tool_choice=tool_choice,
    )
    post = Post(url, encode(body), build_headers(endpoint), endpoint.timeout_s)
    return stream_sync(session.http(endpoint), post, Trace(index=index))


def warm_up(session: BenchSession, endpoint: Endpoint, count: int) -> None:
    """Unrecorded requests before an endpoint's first case (once per endpoint per process)."""
    if endpoint.id in session.warmed:
        return
    session.warmed.add(endpoint.id)
    runtime = session.runtime[endpoint.id]
    for _ in range(count):
        raw = send(
            session,
            endpoint,
            WARMUP_MESSAGES,
            max_tokens=8,
            temperature=0.0,
            seed=None,
            extra_body=None,
        )
        runtime.warmup_requests += 1
        if raw.error:
            runtime.warmup_errors.append(raw.error)


class Rounds:
    """One case's recorded rounds, one step at a time.

    Split into open (telemetry edge), request, close (telemetry edge, figures, check) so
    that a driver such as pytest-benchmark's ``pedantic`` can time the request alone.
    """

    def __init__(
        self,
        session: BenchSession,
        endpoint: Endpoint,
        case: Case,
        telemetry: EndpointTelemetry,
        result: CaseResult,
    ) -> None:
        self.session, self.endpoint, self.case = session, endpoint, case
        self.telemetry, self.result = telemetry, result
        self._window: Window | None = None
        self._raw: Trace | None = None
        self.messages: Any = case.messages  # with images encoded in, when the case has any

    def open(self) -> None:
        self._window = self.telemetry.open_window(
            self.case.id, "case", round_=len(self.result.rounds)
        )

    def request(self) -> None:
        case = self.case
        index = len(self.result.rounds)
        tagged = self.endpoint.may_cache_prompts and not case.reuse_prefix
        messages = (
            with_nonce(self.messages, self.session.nonce(self.endpoint, case.id, index))
            if tagged
            else self.messages
        )
        self._raw = send(
            self.session,
            self.endpoint,
            messages,
            index=index,
            max_tokens=case.max_tokens,
            temperature=case.temperature,
            seed=case.seed,
            extra_body=case.extra_body,
            tools=case.tools,
            tool_choice=case.tool_choice,
        )

    def close(self) -> None:
        assert self._window is not None and self._raw is not None, "open() and request() first"
        self.telemetry.close_window(self._window)
        raw, case = self._raw, self.case
        reply = checks.Reply(
            raw.content, [c.to_dict() for c in raw.tool_calls], raw.reasoning, raw.finish_reason
        )
        outcome = checks.evaluate(dict(case.check), reply) if raw.ok and case.check else None
        figures = metrics.compute(raw)
        round_ = RoundResult.from_trace(raw, figures, outcome)
        round_.reasoning_used_budget = raw.ok and reply.reasoning_used_budget
        round_.cost, round_.cost_missing = request_cost(
            self.endpoint.price,
            figures.input_tokens,
            figures.output_tokens,
            None if figures.e2e_ms is None else figures.e2e_ms / 1000,
        )
        idle = (self.result.telemetry_context or {}).get("idle_power_w")
        round_.telemetry = energy_figures(
            self._window.result, figures.output_tokens, figures.output_tok_s, idle
        )
        self.result.rounds.append(round_)
        self._window, self._raw = None, None


Driver = Callable[[Rounds, int], None]


def cache_hygiene(endpoint: Endpoint, case: Case) -> str:
    """What was done so that no round is served from a prefix cache, in words."""
    if case.reuse_prefix:
        return "prefix reuse requested (reuse_prefix = true): every round sends the same prompt"
    if not endpoint.may_cache_prompts:
        return "embedded server with its prompt cache off: prompts sent as written"
    return "each round starts with a unique [run-case-round] tag, so no cached prefix is shared"


def plain_driver(rounds: Rounds, count: int) -> None:
    for _ in range(count):
        rounds.open()
        rounds.request()
        rounds.close()


def run_case(
    session: BenchSession,
    endpoint: Endpoint,
    case: Case,
    *,
    rounds: int,
    warmup: int,
    driver: Driver = plain_driver,
) -> CaseResult:
    """Run ``case`` ``rounds`` times on ``endpoint`` and judge every answer.

    Order matters for the figures: the server is started first, then telemetry takes
    its memory baseline and idle window (model loaded, nothing running), then warm-up,
    then one telemetry window around each recorded request.
    """
    session.base_url(endpoint)
    capabilities = session.capabilities(endpoint)  # outside every timed window
    result = CaseResult(
        endpoint=endpoint.id,
        case_id=case.id,
        marker=case.marker,
        has_check=bool(case.check),
        gate=case.gate or None,
        cache_hygiene=cache_hygiene(endpoint, case),
        category=case.category,
        variant=case.variant,
        variant_of=case.variant_of,
        uses_tools=bool(case.tools),
    )
    modality = result.modality
    if modality != "text" and capabilities is not None:
        found = capabilities.media_verdict(modality)
        if found is not None and found.consumed is False:
            result.unsupported = found.reason()
            return result
        result.media_check = found.describe() if found is not None else None
    telemetry = session.telemetry(endpoint)
    warm_up(session, endpoint, warmup)
    result.telemetry_context = telemetry.context()
    steps = Rounds(session, endpoint, case, telemetry, result)
    if case.images or case.audio or case.video:  # encoded once, outside every timed request
        base = Path(case.source).parent
        images = [encode_image(spec, base) for spec in case.images]
        clips = [encode_audio(spec, base) for spec in case.audio]
        parts = [image_part(url) for url, _ in images] + [part for part, _ in clips]
        infos = [info for _, info in images + clips]
        if case.video:
            video_parts, video_info = encode_video(case.video, base, endpoint.video)
            parts += video_parts
            infos.append(video_info)
        steps.messages = with_parts(case.messages, parts)
        result.media = summarize_media(infos)
    driver(steps, rounds)
    return result

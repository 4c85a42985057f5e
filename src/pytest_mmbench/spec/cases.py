"""Cases as data: the entries of ``cases/mm_*.toml`` files, validated into :class:`Case`.

A user adds a benchmark case by adding a ``[[case]]`` table, no Python needed.  Each
case names its modality (which becomes its pytest marker), its prompt or messages, a
token budget and a deterministic check.  Loading validates everything, so a typo fails
at collection with the file and case id, not halfway through a run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mmbench.decide.gate import RuleError, parse_rules
from pytest_mmbench.modalities import MARKER_MODALITY
from pytest_mmbench.options import DEFAULT_MAX_TOKENS, DEFAULT_SEED
from pytest_mmbench.request.media import AUDIO_FORMATS, FORMATS, AudioSpec, ImageSpec
from pytest_mmbench.results.checks import validate_spec
from pytest_mmbench.results.outcome import CheckSpecError
from pytest_mmbench.spec.tomlfile import TomlFileError, read_toml
from pytest_mmbench.spec.tools_file import read_tools
from pytest_mmbench.spec.variants import Variant, apply_variant, parse_variants

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_CATEGORY = re.compile(r"^[a-z][a-z0-9_]*$")


class CaseError(Exception):
    """A problem in a case file, naming the file and the case."""


@dataclass(frozen=True)
class Case:
    """One benchmark case: what to send and how to judge the answer."""

    id: str
    marker: str
    messages: tuple[Mapping[str, Any], ...]
    check: Mapping[str, Any]
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    seed: int | None = DEFAULT_SEED
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    marks: tuple[str, ...] = ()
    load: Mapping[str, Any] | None = None  # a load case: synthetic prompts, one item per point
    gate: Mapping[str, str] = field(default_factory=dict)  # per-case regression limits
    images: tuple[ImageSpec, ...] = ()
    audio: tuple[AudioSpec, ...] = ()
    video: str | None = None  # a video file; sent the way the endpoint takes video
    reuse_prefix: bool = False  # rounds resend the identical prompt (to measure caching)
    category: str | None = None  # eval category: pass rates are summed per category
    tools: tuple[Mapping[str, Any], ...] = ()  # OpenAI function tools sent with the request
    tool_choice: Any = None
    variants: tuple[Variant, ...] = ()  # expanded by load_case_file into one case each
    variant: str | None = None  # the variant this case runs as
    variant_of: str | None = None  # the case id the variant came from
    source: str = ""

    @property
    def modality(self) -> str:
        return MARKER_MODALITY[self.marker]

    def prompt_text(self) -> str:
        """The prompt as a person would read it, for failure reports."""
        lines = []
        for message in self.messages:
            content = message.get("content")
            text = content if isinstance(content, str) else "[structured content]"
            lines.append(f"{message.get('role', '?')}: {text}")
        return "\n".join(lines)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "modality": self.modality,
            "marker": self.marker,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "check": dict(self.check),
            "category": self.category,
            "variant": self.variant,
            "source": self.source,
        }


_KEYS = {
    "id",
    "category",
    "tools",
    "tool_choice",
    "variants",
    "reuse_prefix",
    "modality",
    "prompt",
    "system",
    "messages",
    "check",
    "max_tokens",
    "temperature",
    "seed",
    "extra_body",
    "description",
    "marks",
    "load",
    "gate",
    "images",
    "audio",
    "video",
}


def load_case_file(path: Path) -> list[Case]:
    """Parse one case file; raise :class:`CaseError` naming the file and case on any problem."""
    try:
        raw = read_toml(path, {"case"}, "cases go in [[case]] tables")
    except TomlFileError as exc:
        raise CaseError(str(exc)) from None
    entries = raw.get("case")
    if not isinstance(entries, list) or not entries:
        raise CaseError(
            f"{path}: no cases; add [[case]] tables with id, modality, prompt and check"
        )
    seen: set[str] = set()
    cases = []
    expanded = [(index, e) for index, entry in enumerate(entries) for e in _sweep(entry)]
    for index, entry in expanded:
        parsed = parse_case(entry, f"{path}: case #{index + 1}", source=str(path))
        for case in [apply_variant(parsed, v) for v in parsed.variants] or [parsed]:
            if case.id in seen:
                raise CaseError(
                    f"{path}: case {case.id!r}: duplicate id; ids must be unique per file"
                )
            seen.add(case.id)
            cases.append(case)
    return cases


def _sweep(entry: Any) -> list[Any]:
    """An image ``size`` given as a list is a sweep: one case per size, ``<id>-<size>px``."""
    if not isinstance(entry, dict) or not isinstance(entry.get("images"), list):
        return [entry]
    for position, image in enumerate(entry["images"]):
        if isinstance(image, dict) and isinstance(image.get("size"), list):
            return [
                {
                    **entry,
                    "id": f"{entry.get('id')}-{size}px",
                    "images": [
                        dict(image, size=size) if i == position else other
                        for i, other in enumerate(entry["images"])
                    ],
                }
                for size in image["size"]
            ]
    return [entry]


def _images(value: Any, fail: Any) -> tuple[ImageSpec, ...]:
    if not isinstance(value, list) or not value:
        raise fail("images", 'must be a list of tables like { file = "media/x.png", size = 512 }')
    specs = []
    for image in value:
        url = image.get("url") if isinstance(image, dict) else None
        if isinstance(url, str):
            if not url.startswith(("http://", "https://")) or set(image) - {"url"}:
                raise fail("images", 'url must be an http(s) URL, alone: { url = "https://..." }')
            specs.append(ImageSpec(url, url=url))
            continue
        if not isinstance(image, dict) or not isinstance(image.get("file"), str):
            raise fail(
                "images",
                'each image needs file = "path" (relative to the case file) or url = "https://..."',
            )
        unknown = sorted(set(image) - {"file", "size", "format"})
        if unknown:
            raise fail("images", f"unknown image key {unknown[0]!r}; use file, size, format")
        size = image.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise fail("images", f"size must be a positive whole number of px, got {size!r}")
        fmt = image.get("format", "png")
        if fmt not in FORMATS:
            raise fail("images", f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        specs.append(ImageSpec(image["file"], size, fmt))
    return tuple(specs)


def _audio(value: Any, fail: Any) -> tuple[AudioSpec, ...]:
    if not isinstance(value, list) or not value:
        raise fail("audio", 'must be a list of tables like { file = "media/speech.wav" }')
    specs = []
    for clip in value:
        if not isinstance(clip, dict) or not isinstance(clip.get("file"), str):
            raise fail("audio", 'each clip needs file = "path" (relative to the case file)')
        unknown = sorted(set(clip) - {"file", "sample_rate", "format"})
        if unknown:
            raise fail("audio", f"unknown audio key {unknown[0]!r}; use file, sample_rate, format")
        rate = clip.get("sample_rate", 16000)
        if isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0:
            raise fail("audio", f"sample_rate must be a positive whole number, got {rate!r}")
        fmt = clip.get("format", "wav")
        if fmt not in AUDIO_FORMATS:
            raise fail("audio", f"format must be one of {', '.join(AUDIO_FORMATS)}, got {fmt!r}")
        specs.append(AudioSpec(clip["file"], rate, fmt))
    return tuple(specs)


def parse_case(entry: Any, where: str, source: str = "", require_check: bool = True) -> Case:
    """Validate one case table (also used for requests made from Python tests).

    Python tests may judge answers with their own asserts, so they pass
    ``require_check=False``; case files always need a check.
    """
    if not isinstance(entry, dict):
        raise CaseError(f"{where}: must be a table")
    case_id = entry.get("id")
    if not isinstance(case_id, str) or not _ID.match(case_id):
        raise CaseError(f"{where}: key 'id': required, letters/digits/'-'/'_'/'.' only")
    where = f"{where.rsplit(': case #', 1)[0]}: case {case_id!r}"

    def fail(key: str, problem: str) -> CaseError:
        return CaseError(f"{where}: key {key!r}: {problem}")

    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown key; allowed keys are {', '.join(sorted(_KEYS))}")
    marker = entry.get("modality")
    if marker not in MARKER_MODALITY:
        raise fail("modality", f"must be one of {', '.join(MARKER_MODALITY)}, got {marker!r}")
    load = entry.get("load")
    if load is not None:
        from pytest_mmbench.spec.load_plan import PlanError, parse_load_table

        try:
            parse_load_table(load)
        except PlanError as exc:
            raise fail("load", str(exc)) from None
    has_prompt = "prompt" in entry or "messages" in entry
    messages = _messages(entry, fail) if load is None or has_prompt else ()
    images = _images(entry["images"], fail) if "images" in entry else ()
    audio = _audio(entry["audio"], fail) if "audio" in entry else ()
    video = entry.get("video")
    if video is not None:
        if (
            not isinstance(video, dict)
            or not isinstance(video.get("file"), str)
            or (set(video) - {"file"})
        ):
            raise fail("video", 'must be a table like { file = "../media/clip-8s.mp4" }')
        video = video["file"]
    gate = entry.get("gate", {})
    if not isinstance(gate, dict) or not all(isinstance(v, str) for v in gate.values()):
        raise fail("gate", 'must be a table of limits, e.g. { tok_s = "-20%" }')
    try:
        parse_rules(",".join(f"{k}:{v}" for k, v in gate.items()))
    except RuleError as exc:
        raise fail("gate", str(exc)) from None
    check: Mapping[str, Any] = {}
    if (require_check and load is None) or "check" in entry:
        try:
            check = validate_spec(entry.get("check"))
        except CheckSpecError as exc:
            raise fail("check", str(exc)) from None
    max_tokens = entry.get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        raise fail("max_tokens", f"must be a positive integer, got {max_tokens!r}")
    temperature = entry.get("temperature", 0.0)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float))
        or temperature < 0
    ):
        raise fail("temperature", f"must be a number >= 0, got {temperature!r}")
    seed = entry.get("seed", DEFAULT_SEED)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise fail("seed", f"must be an integer, got {seed!r}")
    extra_body = entry.get("extra_body", {})
    if not isinstance(extra_body, dict):
        raise fail("extra_body", "must be a table")
    marks = entry.get("marks", [])
    if not isinstance(marks, list) or not all(
        isinstance(m, str) and m.isidentifier() for m in marks
    ):
        raise fail("marks", "must be a list of marker names")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise fail("description", "must be a string")
    reuse_prefix = entry.get("reuse_prefix", False)
    if not isinstance(reuse_prefix, bool):
        raise fail("reuse_prefix", f"must be true or false, got {reuse_prefix!r}")
    tools = read_tools(entry["tools"], Path(source).parent, fail) if "tools" in entry else ()
    tool_choice = entry.get("tool_choice")
    if tool_choice is not None and not (
        tool_choice in ("auto", "required", "none")
        or (isinstance(tool_choice, dict) and isinstance(tool_choice.get("function"), dict))
    ):
        raise fail(
            "tool_choice",
            'must be "auto", "required", "none" or { type = "function", function = { name = '
            '"..." } }',
        )
    if tool_choice is not None and not tools:
        raise fail("tool_choice", "needs tools = [...] in the same case")
    variants = (
        parse_variants(entry["variants"], lambda problem: fail("variants", problem))
        if "variants" in entry
        else ()
    )
    if variants and load is not None:
        raise fail("variants", "load cases take no variants; give each its own case")
    category = entry.get("category")
    if category is not None and (not isinstance(category, str) or not _CATEGORY.match(category)):
        raise fail(
            "category",
            "must be a lower-case name of letters, digits and '_' (e.g. counting), "
            f"got {category!r}",
        )
    return Case(
        id=case_id,
        category=category,
        tools=tools,
        tool_choice=tool_choice,
        variants=variants,
        marker=marker,
        messages=messages,
        check=check,
        max_tokens=max_tokens,
        temperature=float(temperature),
        seed=seed,
        extra_body=extra_body,
        description=description,
        marks=tuple(marks)
        + (("tools",) if tools and "tools" not in marks else ())
        + (("eval",) if category and "eval" not in marks else ()),
        load=load,
        gate=gate,
        images=images,
        audio=audio,
        video=video,
        reuse_prefix=reuse_prefix,
        source=source,
    )


def _messages(entry: dict[str, Any], fail: Any) -> tuple[Mapping[str, Any], ...]:
    has_prompt, has_messages = "prompt" in entry, "messages" in entry
    if has_prompt == has_messages:
        raise fail("prompt", "give exactly one of prompt (a string) or messages (a list)")
    if has_messages:
        messages = entry["messages"]
        if "system" in entry:
            raise fail("system", "put the system message inside messages instead")
        if (
            not isinstance(messages, list)
            or not messages
            or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
                for m in messages
            )
        ):
            raise fail("messages", "must be a list of {role = ..., content = ...} tables")
        return tuple(messages)
    prompt = entry["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise fail("prompt", "must be a non-empty string")
    result: list[Mapping[str, Any]] = []
    system = entry.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise fail("system", "must be a string")
        result.append({"role": "system", "content": system})
    result.append({"role": "user", "content": prompt})
    return tuple(result)

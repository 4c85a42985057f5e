"""Images for cases: loaded, resized to a requested size, encoded, sent as data URLs.

What was sent is recorded (pixels, bytes, format) so a report can relate prompt
tokens and TTFT to image size.  Pillow is imported only when a case has images
(extra ``media``).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg")}


class MediaError(ValueError):
    """A media file that cannot be used; the message names it."""


@dataclass(frozen=True)
class ImageSpec:
    """One image of a case: a file, the size to send it at, the encoding."""

    file: str
    size: int | None = None  # longest side in px; None sends the file's own size
    format: str = "png"
    url: str | None = None  # an http(s) URL the server fetches itself, instead of a file

    def describe(self) -> dict[str, Any]:
        return {"file": self.file, "size": self.size, "format": self.format}


def encode_image(spec: ImageSpec, base_dir: Path) -> tuple[str, dict[str, Any]]:
    """(data URL, what was sent) for one image."""
    if spec.url is not None:  # the server fetches it: nothing to measure here
        return spec.url, {
            "kind": "image",
            "file": spec.url,
            "format": "url",
            "width": None,
            "height": None,
            "pixels": 0,
            "bytes": 0,
        }
    try:
        from PIL import Image
    except ImportError:
        raise MediaError("image cases need Pillow: pip install 'pytest-mmbench[media]'") from None
    path = Path(spec.file) if Path(spec.file).is_absolute() else base_dir / spec.file
    try:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
    except (OSError, ValueError) as exc:
        raise MediaError(f"cannot read image {path}: {exc}") from None
    if spec.size is not None:
        scale = spec.size / max(picture.size)
        target = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(target, Image.Resampling.LANCZOS)
    pil_format, mime = FORMATS[spec.format]
    buffer = io.BytesIO()
    picture.save(buffer, format=pil_format)
    data = buffer.getvalue()
    info = {
        "kind": "image",
        "file": spec.file,
        "format": spec.format,
        "width": picture.width,
        "height": picture.height,
        "pixels": picture.width * picture.height,
        "bytes": len(data),
    }
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", info


AUDIO_FORMATS = {"wav": "WAV", "flac": "FLAC"}


@dataclass(frozen=True)
class AudioSpec:
    """One audio clip of a case: a file, the sample rate to send it at, the encoding."""

    file: str
    sample_rate: int | None = 16000  # Whisper-style encoders expect 16 kHz; None keeps the file's
    format: str = "wav"


def encode_audio(spec: AudioSpec, base_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(``input_audio`` part, what was sent): mono, resampled, WAV or FLAC, base64."""
    try:
        import numpy as np
        import soundfile
    except ImportError:
        raise MediaError(
            "audio cases need soundfile: pip install 'pytest-mmbench[media]'"
        ) from None
    path = Path(spec.file) if Path(spec.file).is_absolute() else base_dir / spec.file
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
        raise MediaError(f"cannot read audio {path}: {exc}") from None
    mono = samples.mean(axis=1)
    if spec.sample_rate and spec.sample_rate != rate:
        # Linear interpolation: enough for speech benchmarks, and no extra dependency.
        count = round(len(mono) * spec.sample_rate / rate)
        mono = np.interp(np.linspace(0, len(mono) - 1, count), np.arange(len(mono)), mono)
        rate = spec.sample_rate
    buffer = io.BytesIO()
    soundfile.write(
        buffer, mono.astype("float32"), rate, format=AUDIO_FORMATS[spec.format], subtype="PCM_16"
    )
    data = buffer.getvalue()
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(data).decode("ascii"), "format": spec.format},
    }
    info = {
        "kind": "audio",
        "file": spec.file,
        "format": spec.format,
        "sample_rate": rate,
        "seconds": len(mono) / rate,
        "bytes": len(data),
    }
    return part, info


def with_parts(messages: Any, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with media parts appended to the last user message's content."""
    result = [dict(m) for m in messages]
    for message in reversed(result):
        if message.get("role") == "user":
            content = message.get("content")
            existing = (
                list(content)
                if isinstance(content, list)
                else [{"type": "text", "text": str(content)}]
            )
            message["content"] = existing + parts
            break
    return result


def image_part(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def with_images(messages: Any, images: list[str]) -> list[dict[str, Any]]:
    """The messages with the images added as ``image_url`` parts to the last user message."""
    return with_parts(messages, [image_part(url) for url in images])


def summarize_media(items: list[dict[str, Any]]) -> dict[str, Any]:
    images = [i for i in items if i["kind"] == "image"]
    audio = [i for i in items if i["kind"] == "audio"]
    videos = [i for i in items if i["kind"] == "video"]
    return {
        "images": len(images),
        "pixels": sum(i["pixels"] for i in images),
        "audio_clips": len(audio),
        "audio_seconds": sum(i["seconds"] for i in audio),
        "videos": len(videos),
        "video_frames_sent": sum(i["frames"] or 0 for i in videos),
        "bytes": sum(i["bytes"] for i in items),
        "items": items,
    }


@dataclass(frozen=True)
class VideoSettings:
    """How an endpoint takes video (hosts.toml ``video``, ``video_fps``, ``video_frame_size``)."""

    mode: str = "video_url"  # "video_url": the file as one part; "frames": sampled images
    fps: float = 1.0  # frames mode: frames sampled per second of video
    frame_size: int = 448  # frames mode: longest side of each sampled frame, px


def encode_video(
    file: str, base_dir: Path, settings: VideoSettings
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(content parts, what was sent) for one video, in the endpoint's chosen shape."""
    path = Path(file) if Path(file).is_absolute() else base_dir / file
    try:
        import av
    except ImportError:
        raise MediaError("video cases need PyAV: pip install 'pytest-mmbench[media]'") from None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            seconds = float(container.duration / 1e6) if container.duration else None
            width, height = stream.codec_context.width, stream.codec_context.height
            frames = _sample_frames(container, settings) if settings.mode == "frames" else []
    except (OSError, ValueError, av.error.FFmpegError) as exc:
        raise MediaError(f"cannot read video {path}: {exc}") from None
    info: dict[str, Any] = {
        "kind": "video",
        "file": file,
        "format": settings.mode,
        "width": width,
        "height": height,
        "seconds": seconds,
    }
    if settings.mode == "video_url":
        data = path.read_bytes()
        url = f"data:video/mp4;base64,{base64.b64encode(data).decode('ascii')}"
        info.update(bytes=len(data), frames=None, fps=None)
        return [{"type": "video_url", "video_url": {"url": url}}], info
    parts, size = [], 0
    for picture in frames:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=85)
        size += buffer.tell()
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        parts.append(image_part(f"data:image/jpeg;base64,{encoded}"))
    info.update(bytes=size, frames=len(parts), fps=settings.fps)
    return parts, info


def _sample_frames(container: Any, settings: VideoSettings) -> list[Any]:
    """One frame per 1/fps seconds, resized so the longest side is ``frame_size``."""
    picked, next_at = [], 0.0
    for frame in container.decode(video=0):
        if frame.time is None or frame.time + 1e-6 < next_at:
            continue
        image = frame.to_image()
        scale = settings.frame_size / max(image.size)
        if scale < 1:
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            )
        picked.append(image)
        next_at += 1.0 / settings.fps
    return picked

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

    def describe(self) -> dict[str, Any]:
        return {"file": self.file, "size": self.size, "format": self.format}


def encode_image(spec: ImageSpec, base_dir: Path) -> tuple[str, dict[str, Any]]:
    """(data URL, what was sent) for one image."""
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


def with_images(messages: Any, images: list[str]) -> list[dict[str, Any]]:
    """The messages with the images added as ``image_url`` parts to the last user message."""
    result = [dict(m) for m in messages]
    for message in reversed(result):
        if message.get("role") == "user":
            content = message.get("content")
            parts = (
                list(content)
                if isinstance(content, list)
                else [{"type": "text", "text": str(content)}]
            )
            parts += [{"type": "image_url", "image_url": {"url": url}} for url in images]
            message["content"] = parts
            break
    return result


def summarize_media(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "images": len(items),
        "pixels": sum(i["pixels"] for i in items),
        "bytes": sum(i["bytes"] for i in items),
        "items": items,
    }

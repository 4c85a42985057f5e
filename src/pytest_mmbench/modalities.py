"""The modality vocabulary shared by cases, endpoints, figures and frontiers."""

from __future__ import annotations

# pytest marker -> the modality an endpoint declares in hosts.toml
MARKER_MODALITY = {"text": "text", "vision": "image", "audio": "audio", "video": "video"}
MODALITIES = ("text", "image", "audio", "video")

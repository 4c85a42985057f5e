"""A tiny random-weight vision + audio projector for the embedded SmolLM2: a plumbing check.

``projector = "tiny-random"`` in an embedded endpoint makes llama.cpp accept images and
audio without any real multimodal model.  Its answers are meaningless; what it proves is
that media, encodings and request shapes work end to end, and that prompt tokens (and
TTFT) grow with image size.

Images: a two-block ViT with random weights and a LLaVA-style ``mlp`` projector into
SmolLM2's 576-wide embeddings, with LLaVA-1.6 "anyres" tiling: 64 px patches, 4 tokens
per 128 px tile plus a base view, tiled up to 2048 px, so prompt tokens grow over the whole
256-2048 px sweep of seed 001 and a 2048 px image still fits a 2048-token context.
Facts checked against llama.cpp's ``tools/mtmd/clip.cpp`` and by running it: the ``mlp``
type needs no special tokens in the text model's vocabulary, needs at least two blocks
and ``image_mean`` / ``image_std``, and its output width must be the text model's
embedding width.

Audio: see :func:`_audio`.  One file holds both encoders, each projector type under its
own key, so one server accepts text, images and audio.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

TEXT_EMBEDDING = 576  # SmolLM2-135M's hidden size
IMAGE_SIZE = 128
PATCH = 64  # 4 tokens per 128 px tile: cheap enough to tile up to 2048 px on a CPU
PINPOINTS = (128, 128, 256, 256, 512, 512, 1024, 1024, 2048, 2048)
AUDIO_STACK = 10  # must divide the 1500 encoder positions (8 crashed the server)
_VERSION = "5"  # bump when the layout below changes, so cached files are rebuilt


def tiny_projector_path(cache_dir: Path | None = None) -> Path:
    """The projector file, generated once into a cache folder (a few MB)."""
    folder = cache_dir or Path(tempfile.gettempdir()) / "pytest-mmbench"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(f"{_VERSION}-{PINPOINTS}".encode()).hexdigest()[:12]
    path = folder / f"tiny-random-mmproj-{digest}.gguf"
    if not path.is_file():
        partial = path.with_suffix(".tmp")
        write_tiny_projector(partial)
        partial.replace(path)
    return path


def write_tiny_projector(path: Path, seed: int = 0) -> None:
    try:
        import gguf
        import numpy as np
    except ImportError:
        raise RuntimeError(
            "the tiny projector needs the gguf package: pip install 'pytest-mmbench[local]'"
        ) from None
    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> Any:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def ones(n: int) -> Any:
        return np.ones(n, np.float32)

    def zeros(n: int) -> Any:
        return np.zeros(n, np.float32)

    n_embd, n_ff, n_layer = 64, 128, 2
    writer = gguf.GGUFWriter(str(path), arch="clip")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.has_audio_encoder", True)
    # One file, two encoders: each projector type under its own key.
    writer.add_string("clip.vision.projector_type", "mlp")
    writer.add_string("clip.audio.projector_type", "ultravox")
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH)
    writer.add_uint32("clip.vision.embedding_length", n_embd)
    writer.add_uint32("clip.vision.feed_forward_length", n_ff)
    writer.add_uint32("clip.vision.projection_dim", TEXT_EMBEDDING)
    writer.add_uint32("clip.vision.attention.head_count", 4)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_uint32("clip.vision.block_count", n_layer)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    writer.add_bool("clip.use_gelu", True)
    writer.add_array("clip.vision.image_grid_pinpoints", list(PINPOINTS))
    writer.add_string("clip.vision.mm_patch_merge_type", "spatial_unpad")
    positions = (IMAGE_SIZE // PATCH) ** 2 + 1
    writer.add_tensor("v.patch_embd.weight", weights(n_embd, 3, PATCH, PATCH))
    writer.add_tensor("v.class_embd", weights(n_embd))
    writer.add_tensor("v.position_embd.weight", weights(positions, n_embd))
    writer.add_tensor("v.pre_ln.weight", ones(n_embd))
    writer.add_tensor("v.pre_ln.bias", zeros(n_embd))
    _blocks(writer, "v", n_layer, n_embd, n_ff, weights, ones, zeros, key_bias=True)
    writer.add_tensor("model.image_newline", weights(TEXT_EMBEDDING))
    writer.add_tensor("mm.0.weight", weights(TEXT_EMBEDDING, n_embd))
    writer.add_tensor("mm.0.bias", weights(TEXT_EMBEDDING))
    writer.add_tensor("mm.2.weight", weights(TEXT_EMBEDDING, TEXT_EMBEDDING))
    writer.add_tensor("mm.2.bias", weights(TEXT_EMBEDDING))
    _audio(writer, weights, ones, zeros)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _blocks(
    writer: Any,
    prefix: str,
    n_layer: int,
    n_embd: int,
    n_ff: int,
    weights: Any,
    ones: Any,
    zeros: Any,
    key_bias: bool,
) -> None:
    """Pre-norm transformer blocks as clip.cpp names them (``<prefix>.blk.<i>.*``).
    The audio encoder has no key bias (Whisper's layout); the vision encoder has one."""
    for i in range(n_layer):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"{prefix}.blk.{i}.{name}.weight", weights(n_embd, n_embd))
            if name != "attn_k" or key_bias:
                writer.add_tensor(f"{prefix}.blk.{i}.{name}.bias", weights(n_embd))
        for name in ("ln1", "ln2"):
            writer.add_tensor(f"{prefix}.blk.{i}.{name}.weight", ones(n_embd))
            writer.add_tensor(f"{prefix}.blk.{i}.{name}.bias", zeros(n_embd))
        writer.add_tensor(f"{prefix}.blk.{i}.ffn_up.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"{prefix}.blk.{i}.ffn_up.bias", weights(n_ff))
        writer.add_tensor(f"{prefix}.blk.{i}.ffn_down.weight", weights(n_embd, n_ff))
        writer.add_tensor(f"{prefix}.blk.{i}.ffn_down.bias", weights(n_embd))


def _audio(writer: Any, weights: Any, ones: Any, zeros: Any) -> None:
    """A Whisper-style encoder and an ``ultravox`` projector (facts checked by running it:
    128 mel bins; convolutions numbered 1 and 2 with biases shaped (n, 1); no key bias;
    1500 positions; ``mm.a.norm_pre`` / ``mm.a.norm_mid`` present; a stack factor that
    divides 1500).  Any clip costs 150 tokens: audio is padded to 30 s."""
    n_embd, n_ff, n_layer, mel, hidden = 64, 128, 2, 128, 256
    writer.add_uint32("clip.audio.num_mel_bins", mel)
    writer.add_uint32("clip.audio.embedding_length", n_embd)
    writer.add_uint32("clip.audio.feed_forward_length", n_ff)
    writer.add_uint32("clip.audio.projection_dim", TEXT_EMBEDDING)
    writer.add_uint32("clip.audio.attention.head_count", 4)
    writer.add_float32("clip.audio.attention.layer_norm_epsilon", 1e-5)
    writer.add_uint32("clip.audio.block_count", n_layer)
    writer.add_uint32("clip.audio.projector.stack_factor", AUDIO_STACK)
    writer.add_tensor("a.conv1d.1.weight", weights(n_embd, mel, 3))
    writer.add_tensor("a.conv1d.1.bias", weights(n_embd, 1))
    writer.add_tensor("a.conv1d.2.weight", weights(n_embd, n_embd, 3))
    writer.add_tensor("a.conv1d.2.bias", weights(n_embd, 1))
    writer.add_tensor("a.position_embd.weight", weights(1500, n_embd))
    _blocks(writer, "a", n_layer, n_embd, n_ff, weights, ones, zeros, key_bias=False)
    writer.add_tensor("a.post_ln.weight", ones(n_embd))
    writer.add_tensor("a.post_ln.bias", zeros(n_embd))
    writer.add_tensor("mm.a.norm_pre.weight", ones(n_embd * AUDIO_STACK))
    writer.add_tensor("mm.a.mlp.1.weight", weights(hidden, n_embd * AUDIO_STACK))
    writer.add_tensor("mm.a.norm_mid.weight", ones(hidden // 2))
    writer.add_tensor("mm.a.mlp.2.weight", weights(TEXT_EMBEDDING, hidden // 2))

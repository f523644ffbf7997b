"""Tiny random TimeSformer and VideoMAE checkpoints (the video families), their frame inputs, and reference
outputs from transformers.

Writes, under OUT (the Fixtures folder):

- `video/frames/pan/frame_00.png … frame_09.png`: 10 frames, 48×40 RGB: a 240×200 window moving right across
  `images/cat.png` (x = 23·i, y = 50), each resized with Pillow (LANCZOS) to 48×40.
- `video/frames/fade/frame_00.png … frame_05.png`: 6 frames, 40×44 RGB: one 200×220 crop of the cat (box
  120, 10, 320, 230) resized with Pillow (LANCZOS), its bytes multiplied by 0.30, 0.44, 0.58, 0.72, 0.86, 1.00
  (`np.round` in float64, half to even).
- `models/timesformer/`: `TimesformerForVideoClassification`, divided space-time attention, 4 frames.
- `models/timesformer-joint/`: the same with joint space-time attention, 3 frames.
- `models/videomae/`: `VideoMAEForVideoClassification` with mean pooling (fc_norm), the published tensor names
  (`…attention.attention.q_bias` / `v_bias`) and the legacy `VideoMAEFeatureExtractor` preprocessor_config.json.
- `models/videomae-nomean/`: `VideoMAEForVideoClassification` without mean pooling (final `layernorm`,
  classifier on token 0), transformers 5's own tensor names (`…attention.attention.query.bias` / `value.bias`),
  a square-resize preprocessor (`size` {"height": 32, "width": 32}, no centre crop).
- `reference/video/<model>/<input>/*.npy` and `reference/video/manifest.json` (every file with shape, dtype and
  a one-line description, plus notes: tensor names, semantics, versions, the decoded clips' CRC-32s).

Inputs per model: the `pan` and `fade` PNG folders and the clips `video/pan.mp4`, `video/zoom.webm` decoded
with PyAV (`container.decode(video=0)`, `frame.to_ndarray(format="rgb24")`, every frame), then sampled:
`np.round(np.linspace(0, n - 1, num_frames)).astype(int)` (numpy rounds halves to even).

Deterministic: fixed seeds, one thread; a second run rewrites the same bytes. Run through
`Fixtures/generate.py gen_video`, or alone: `python Fixtures/gen_video.py`.
"""

from __future__ import annotations

import json
import math
import sys
import zlib
from pathlib import Path

import av
import numpy as np
import PIL
import safetensors
import safetensors.torch
import torch
from PIL import Image
from torch import nn

import transformers
from transformers import (
    AutoImageProcessor,
    TimesformerConfig,
    TimesformerForVideoClassification,
    VideoMAEConfig,
    VideoMAEForVideoClassification,
    VideoMAEImageProcessorPil,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_models import Writer, fresh_dir, reload  # noqa: E402

# Made-up labels (the tiny checkpoints' id2label).
LABELS = ["juggling balls", "petting cat", "panning camera", "fading in", "standing still"]

PAN_FRAMES, PAN_SIZE, PAN_WINDOW, PAN_STEP, PAN_Y = 10, (48, 40), (240, 200), 23, 50
FADE_LEVELS = [0.3 + 0.7 * k / 5 for k in range(6)]
FADE_BOX, FADE_SIZE = (120, 10, 320, 230), (40, 44)

CLIPS = {"pan_mp4": "video/pan.mp4", "zoom_webm": "video/zoom.webm"}
FOLDERS = {"pan": "video/frames/pan", "fade": "video/frames/fade"}

# The published TimeSformer processor (fcakyon's conversion of facebook/timesformer-*: VideoMAEImageProcessor
# with mean 0.45, std 0.225, shortest edge 224, centre crop 224), with the tiny sizes.
TIMESFORMER_PREPROCESSOR = {
    "crop_size": {"height": 32, "width": 32},
    "do_center_crop": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.45, 0.45, 0.45],
    "image_processor_type": "VideoMAEImageProcessor",
    "image_std": [0.225, 0.225, 0.225],
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"shortest_edge": 36},
}

# The legacy form of the MCG-NJU/videomae-* files (written by transformers 4.2x's VideoMAEFeatureExtractor):
# plain ints, no rescale fields. The published files have no crop_size (the class default 224×224 then equals
# their size 224); the tiny one needs "crop_size": 32, else it would be centre-"cropped" (zero-padded) to 224.
VIDEOMAE_PREPROCESSOR = {
    "crop_size": 32,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "VideoMAEFeatureExtractor",
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 2,
    "size": 36,
}


# ---------------------------------------------------------------------- helpers


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def crc(array: np.ndarray) -> str:
    return f"{zlib.crc32(np.ascontiguousarray(array).tobytes()) & 0xFFFFFFFF:08x}"


def randomize_video_(model: nn.Module, seed: int) -> None:
    """Every parameter from a fixed seed, none trivial: linear and convolution (2-D and 3-D) weights
    N(0, 1/fan_in); layer-norm weights 1 + N(0, 0.2²); biases (layer-norm biases too) N(0, 0.2²); class token,
    position and time embeddings N(0, 0.5²). Drawn in `named_parameters()` order."""
    generator = torch.Generator().manual_seed(seed)
    kinds: dict[int, str] = {}
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            kinds[id(module.weight)] = "ln_weight"
        elif isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            kinds[id(module.weight)] = "matrix"
    with torch.no_grad():
        for _, parameter in model.named_parameters():
            kind = kinds.get(id(parameter))
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if kind == "ln_weight":
                parameter.copy_(1.0 + 0.2 * noise)
            elif kind == "matrix":
                parameter.copy_(noise / math.sqrt(math.prod(parameter.shape[1:])))
            elif parameter.ndim == 1:
                parameter.copy_(0.2 * noise)
            else:
                parameter.copy_(0.5 * noise)


def tensor_names(folder: Path) -> dict[str, str]:
    """Every tensor of model.safetensors as "DTYPE [shape]"."""
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        return {k: f"{f.get_slice(k).get_dtype()} {list(f.get_slice(k).get_shape())}" for k in sorted(f.keys())}


def rename_tensors(folder: Path, renames: dict[str, str]) -> None:
    """Rewrite model.safetensors with each key ending in a `renames` key given the new ending."""
    path = folder / "model.safetensors"
    tensors = safetensors.torch.load_file(path)
    out = {}
    for key, value in tensors.items():
        for old, new in renames.items():
            if key.endswith(old):
                key = key[: -len(old)] + new
        out[key] = value
    safetensors.torch.save_file(out, path, metadata={"format": "pt"})


def size_fields(size) -> dict:
    """The set fields of a transformers SizeDict."""
    return {k: getattr(size, k) for k in ("height", "width", "shortest_edge", "longest_edge") if getattr(size, k) is not None}


def sample_indices(n: int, num_frames: int) -> np.ndarray:
    return np.round(np.linspace(0, n - 1, num_frames)).astype(int)


# ---------------------------------------------------------------------- inputs


def write_frames(fixtures: Path) -> dict:
    """The two PNG frame folders, from the real cat photo."""
    cat = Image.open(fixtures / "images" / "cat.png").convert("RGB")
    assert cat.size == (451, 300), cat.size
    pan = fresh_dir(fixtures / FOLDERS["pan"])
    for i in range(PAN_FRAMES):
        x = PAN_STEP * i
        box = (x, PAN_Y, x + PAN_WINDOW[0], PAN_Y + PAN_WINDOW[1])
        cat.crop(box).resize(PAN_SIZE, Image.Resampling.LANCZOS).save(pan / f"frame_{i:02d}.png")
    fade = fresh_dir(fixtures / FOLDERS["fade"])
    face = np.asarray(cat.crop(FADE_BOX).resize(FADE_SIZE, Image.Resampling.LANCZOS), dtype=np.float64)
    for k, level in enumerate(FADE_LEVELS):
        frame = np.clip(np.round(face * level), 0, 255).astype(np.uint8)
        Image.fromarray(frame, "RGB").save(fade / f"frame_{k:02d}.png")
    return {
        "pan": f"{PAN_FRAMES} frames {PAN_SIZE[0]}x{PAN_SIZE[1]} (W x H): cat.png cropped to the {PAN_WINDOW[0]}x{PAN_WINDOW[1]} "
               f"box at x = {PAN_STEP}*i, y = {PAN_Y}, resized with Pillow LANCZOS",
        "fade": f"6 frames {FADE_SIZE[0]}x{FADE_SIZE[1]}: cat.png cropped to box {list(FADE_BOX)}, resized with Pillow LANCZOS, "
                f"bytes times {[round(v, 2) for v in FADE_LEVELS]} (np.round in float64, clipped)",
    }


def read_folder(folder: Path) -> list[np.ndarray]:
    """The frames of a PNG folder in name order, as Pillow's convert('RGB') [H, W, 3] uint8."""
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("frame_*.png"))]


def read_clip(path: Path) -> tuple[list[np.ndarray], dict]:
    """Every frame of the first video stream, decoded with PyAV as rgb24."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        header_frames = stream.frames
        frames, pts = [], []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            pts.append(frame.pts)
        info = {"codec": stream.codec_context.name, "pixel_format": stream.codec_context.format.name,
                "time_base": str(stream.time_base), "average_rate": str(stream.average_rate),
                "header_frame_count": header_frames, "decoded_frames": len(frames),
                "width": frames[0].shape[1], "height": frames[0].shape[0], "pts": pts,
                "rgb24_crc32": [crc(f) for f in frames]}
    return frames, info


def load_inputs(fixtures: Path, writer: Writer) -> dict[str, list[np.ndarray]]:
    inputs = {}
    for key, rel in FOLDERS.items():
        inputs[key] = read_folder(fixtures / rel)
    clips = {}
    for key, rel in CLIPS.items():
        inputs[key], clips[key] = read_clip(fixtures / rel)
        clips[key]["file"] = "Fixtures/" + rel
    writer.note("inputs", folders={k: "Fixtures/" + v for k, v in FOLDERS.items()}, clips=clips,
                frame_crc32={k: [crc(f) for f in inputs[k]] for k in FOLDERS},
                decoding="PyAV (FFmpeg): av.open(path); [f.to_ndarray(format='rgb24') for f in container.decode(video=0)] "
                         "(libswscale yuv420p -> rgb24); PNG frames: np.asarray(Image.open(p).convert('RGB'))",
                sampling="indices = np.round(np.linspace(0, n - 1, num_frames)).astype(int); np.round rounds halves to "
                         "even: 10 frames -> 3 gives [0, 4, 9] (4.5 -> 4), 6 -> 3 gives [0, 2, 5] (2.5 -> 2), "
                         "16 -> 3 gives [0, 8, 15] (7.5 -> 8), 20 -> 3 gives [0, 10, 19] (9.5 -> 10)")
    return inputs


# ---------------------------------------------------------------------- models


def timesformer_config(attention_type: str, num_frames: int) -> TimesformerConfig:
    return TimesformerConfig(
        image_size=32, patch_size=8, num_channels=3, num_frames=num_frames, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, hidden_act="gelu", hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, initializer_range=0.02, layer_norm_eps=1e-6, qkv_bias=True,
        attention_type=attention_type, drop_path_rate=0,
        id2label=dict(enumerate(LABELS)), label2id={v: k for k, v in enumerate(LABELS)},
        architectures=["TimesformerForVideoClassification"])


def videomae_config(use_mean_pooling: bool) -> VideoMAEConfig:
    return VideoMAEConfig(
        image_size=32, patch_size=8, num_channels=3, num_frames=4, tubelet_size=2, hidden_size=32,
        num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, hidden_act="gelu",
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, initializer_range=0.02, layer_norm_eps=1e-12,
        qv_bias=True, use_mean_pooling=use_mean_pooling,
        id2label=dict(enumerate(LABELS)), label2id={v: k for k, v in enumerate(LABELS)},
        architectures=["VideoMAEForVideoClassification"])


def build(cls, config, folder: Path, seed: int):
    torch.manual_seed(seed)
    model = cls(config)
    randomize_video_(model, seed=1000 + seed)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    return model


def check_reload(cls, model, folder: Path, name: str):
    loaded, info = cls.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32,
                                       output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), (name, info)
    loaded.eval()
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), (name, key)
    return loaded


def processor_for(folder: Path, name: str):
    processor = AutoImageProcessor.from_pretrained(folder)
    # torchvision is not installed, so the VideoMAEImageProcessor of the file resolves to the PIL backend.
    assert type(processor) is VideoMAEImageProcessorPil, (name, type(processor))
    return processor


# ---------------------------------------------------------------------- references


def temporal_probs(layer) -> tuple[dict, object]:
    """Forward pre-hook on a divided layer's temporal attention: its eager probabilities [P, heads, F, F],
    recomputed from the same input by the same module (transformers does not return them)."""
    captured = {}

    def hook(module, args):
        with torch.no_grad():
            captured["probs"] = module.forward(args[0], output_attentions=True)[1].clone()

    return captured, layer.temporal_attention.attention.register_forward_pre_hook(hook)


def check_embedding_layout(model, pixel_values: torch.Tensor, embeddings: torch.Tensor, family: str) -> None:
    """The token order the notes state, recomputed from the weights.

    TimeSformer: token 0 = cls_token + position_embeddings[0] (no time embedding); token 1 + p·F + f = patch p
    (row-major) of frame f: conv(frame f)[p] + position_embeddings[1 + p] + time_embeddings[f] (patch-major,
    frame-minor). VideoMAE: token t·N + p = Conv3d over frames 2t, 2t+1 at patch p + sinusoid[t·N + p]
    (time-major), no CLS."""
    with torch.no_grad():
        if family == "timesformer":
            emb = model.timesformer.embeddings
            frames = pixel_values[0]
            conv = emb.patch_embeddings.projection(frames).flatten(2).transpose(1, 2)  # [F, N, D]
            f, n, _ = conv.shape
            expect = conv + emb.position_embeddings[0, 1:][None] + emb.time_embeddings[0, :f][:, None]
            expect = torch.cat([(emb.cls_token + emb.position_embeddings[:, :1])[0], expect.transpose(0, 1).reshape(n * f, -1)])
        else:
            emb = model.videomae.embeddings
            conv = emb.patch_embeddings.projection(pixel_values.permute(0, 2, 1, 3, 4))[0]  # [D, T', H', W']
            expect = conv.flatten(1).T + emb.position_embeddings[0]
    torch.testing.assert_close(embeddings[0], expect, rtol=1e-6, atol=1e-6)


def model_refs(writer: Writer, name: str, model, processor, inputs: dict[str, list[np.ndarray]], *, family: str):
    config = model.config
    num_frames, layers = config.num_frames, config.num_hidden_layers
    for key, frames in inputs.items():
        out_dir = f"{name}/{key}"
        indices = sample_indices(len(frames), num_frames)
        video = [frames[i] for i in indices]
        pixel_values = processor(video, return_tensors="pt")["pixel_values"]
        assert pixel_values.shape == (1, num_frames, 3, 32, 32), pixel_values.shape
        writer.npy(out_dir, "indices", indices.astype(np.int64),
                   f"frames sampled from the {len(frames)} of {key}: round(linspace(0, {len(frames) - 1}, {num_frames})), halves to even [F]")
        writer.npy(out_dir, "pixel_values", pixel_values[0],
                   f"{type(processor).__name__} output for the sampled frames [F, 3, H, W]")
        hooks = []
        if family == "timesformer" and config.attention_type == "divided_space_time":
            hooks = [temporal_probs(layer) for layer in model.timesformer.encoder.layer]
        with torch.no_grad():
            out = model(pixel_values, output_hidden_states=True, output_attentions=True)
            base = (model.timesformer if family == "timesformer" else model.videomae)(pixel_values)
        for _, handle in hooks:
            handle.remove()
        assert len(out.hidden_states) == layers + 1 and len(out.attentions) == layers
        check_embedding_layout(model, pixel_values, out.hidden_states[0], family)
        tokens = out.hidden_states[0].shape[1]
        for i, hidden in enumerate(out.hidden_states):
            what = "the embeddings" if i == 0 else f"output of layer {i}"
            if i == layers:
                final = "timesformer.layernorm" if family == "timesformer" else "videomae.layernorm"
                if family == "videomae" and config.use_mean_pooling:
                    what += " (= last_hidden_state: no final layernorm with mean pooling)"
                else:
                    what += f" BEFORE {final}"
            writer.npy(out_dir, f"hidden_states_{i}", hidden[0], f"output_hidden_states[{i}]: {what} [{tokens}, D]")
        if family == "timesformer":
            what = "TimesformerModel last_hidden_state, after its final layernorm (eps 1e-6) [T, D]"
        elif config.use_mean_pooling:
            what = "VideoMAEModel last_hidden_state, no final layernorm (use_mean_pooling) [T, D]"
        else:
            what = "VideoMAEModel last_hidden_state, after its final layernorm (eps 1e-12) [T, D]"
        writer.npy(out_dir, "last_hidden_state", base.last_hidden_state[0], what)
        writer.npy(out_dir, "logits", out.logits[0], "classifier logits [num_labels]")
        if family == "videomae":
            if config.use_mean_pooling:
                torch.testing.assert_close(out.hidden_states[-1], base.last_hidden_state, rtol=0, atol=0)
                pooled = model.fc_norm(base.last_hidden_state.mean(1))
                torch.testing.assert_close(model.classifier(pooled), out.logits, rtol=0, atol=0)
                writer.npy(out_dir, "pooled", pooled[0],
                           "fc_norm(mean over all tokens of last_hidden_state); fc_norm eps is 1e-5 (nn.LayerNorm's "
                           "default), not config.layer_norm_eps [D]")
            else:
                torch.testing.assert_close(model.classifier(base.last_hidden_state[:, 0]), out.logits, rtol=0, atol=0)
        else:
            torch.testing.assert_close(model.classifier(base.last_hidden_state[:, 0]), out.logits, rtol=0, atol=0)
        for layer, attn in enumerate(out.attentions):
            if family == "timesformer" and config.attention_type == "divided_space_time":
                assert attn.shape[0] == num_frames
                writer.npy(out_dir, f"attentions_{layer}", attn,
                           f"layer {layer} SPATIAL attention probabilities (what output_attentions returns): per frame, "
                           f"the CLS copy and that frame's patches [F, heads, 1+N, 1+N]")
            else:
                writer.npy(out_dir, f"attentions_{layer}", attn[0],
                           f"layer {layer} attention probabilities over all tokens, eager softmax [heads, T, T]")
        for layer, (captured, _) in enumerate(hooks):
            writer.npy(out_dir, f"temporal_attentions_{layer}", captured["probs"],
                       f"layer {layer} TEMPORAL attention probabilities (not returned by transformers; recomputed by a "
                       f"pre-hook): per patch position p (row-major), its F frames, no CLS [N, heads, F, F]")
        if family == "videomae":
            with torch.no_grad():
                sdpa = type(model).from_pretrained(writer.models / name, attn_implementation="sdpa",
                                                   dtype=torch.float32).eval()(pixel_values).logits
            writer.sdpa_diff[name] = max(writer.sdpa_diff.get(name, 0.0), (sdpa - out.logits).abs().max().item())


def gen_timesformer(fixtures: Path, writer: Writer, inputs, *, name: str, attention_type: str, num_frames: int,
                    seed: int) -> None:
    folder = fresh_dir(fixtures / "models" / name)
    config = timesformer_config(attention_type, num_frames)
    model = build(TimesformerForVideoClassification, config, folder, seed)
    write_json(folder / "preprocessor_config.json", TIMESFORMER_PREPROCESSOR)
    loaded = check_reload(TimesformerForVideoClassification, model, folder, name)
    names = tensor_names(folder)
    assert set(names) == set(model.state_dict()), "TimeSformer names changed on save"
    processor = processor_for(folder, name)
    patches = (32 // 8) ** 2
    writer.note(name, modelled_on="facebook/timesformer-base-finetuned-k400" + (
                    "" if attention_type == "divided_space_time" else " with attention_type joint_space_time"),
                attention_type=attention_type, num_frames=num_frames, tokens=1 + patches * num_frames,
                tensors=names, image_processor=type(processor).__name__,
                preprocessor="published TimeSformer form (VideoMAEImageProcessor, shortest edge 36, centre crop 32, "
                             "bilinear, mean 0.45 / std 0.225)")
    model_refs(writer, name, loaded, processor, inputs, family="timesformer")


def gen_videomae(fixtures: Path, writer: Writer, inputs, *, name: str, use_mean_pooling: bool, seed: int) -> None:
    folder = fresh_dir(fixtures / "models" / name)
    model = build(VideoMAEForVideoClassification, videomae_config(use_mean_pooling), folder, seed)
    saved = tensor_names(folder)
    # transformers 5.24's save_pretrained reverses its load-time renaming (conversion_mapping.py "videomae"):
    # the file gets the published q_bias / v_bias although the modules are query.bias / value.bias.
    assert any(k.endswith("attention.attention.q_bias") for k in saved), saved
    assert not any(k.endswith("query.bias") or k.endswith("key.bias") for k in saved), saved
    if use_mean_pooling:
        write_json(folder / "preprocessor_config.json", VIDEOMAE_PREPROCESSOR)
        form = "published (q_bias, v_bias), as save_pretrained writes them"
    else:
        rename_tensors(folder, {"attention.attention.q_bias": "attention.attention.query.bias",
                                "attention.attention.v_bias": "attention.attention.value.bias"})
        form = "transformers 5 module names (query.bias, value.bias): save_pretrained's file rewritten"
        VideoMAEImageProcessorPil(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32},
                                  do_center_crop=False, resample=2).save_pretrained(folder)
        written = json.loads((folder / "preprocessor_config.json").read_text())
        assert written["image_processor_type"] == "VideoMAEImageProcessor", written
    loaded = check_reload(VideoMAEForVideoClassification, model, folder, name)
    names = tensor_names(folder)
    processor = processor_for(folder, name)
    writer.note(name, modelled_on="MCG-NJU/videomae-base-finetuned-kinetics" + (
                    "" if use_mean_pooling else " with use_mean_pooling false"),
                tensor_names=form, tensors=names, state_dict_names=sorted(model.state_dict()),
                image_processor=type(processor).__name__,
                processor_config={"size": size_fields(processor.size), "crop_size": size_fields(processor.crop_size),
                                  "do_center_crop": processor.do_center_crop, "resample": int(processor.resample),
                                  "image_mean": list(processor.image_mean), "image_std": list(processor.image_std)},
                tokens=(4 // 2) * (32 // 8) ** 2)
    model_refs(writer, name, loaded, processor, inputs, family="videomae")


def main(out_dir) -> None:
    fixtures = Path(out_dir)
    torch.set_num_threads(1)
    writer = Writer(fresh_dir(fixtures / "reference" / "video"))
    writer.models = fixtures / "models"
    writer.sdpa_diff = {}
    writer.note("generator", versions={
        "torch": torch.__version__, "transformers": transformers.__version__, "av": av.__version__,
        "ffmpeg_libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "Pillow": PIL.__version__, "numpy": np.__version__, "safetensors": safetensors.__version__},
        attention="eager, float32, one thread, weights as stored (float32)",
        image_processor="torchvision is not installed: AutoImageProcessor resolves both the modern "
                        "'VideoMAEImageProcessor' and the legacy 'VideoMAEFeatureExtractor' files to "
                        "VideoMAEImageProcessorPil (Pillow resize on uint8, then rescale in float64 -> float32, "
                        "normalize in float32)")
    frames = write_frames(fixtures)
    writer.note("frames", **frames)
    inputs = load_inputs(fixtures, writer)
    gen_timesformer(fixtures, writer, inputs, name="timesformer", attention_type="divided_space_time", num_frames=4, seed=41)
    gen_timesformer(fixtures, writer, inputs, name="timesformer-joint", attention_type="joint_space_time", num_frames=3, seed=42)
    gen_videomae(fixtures, writer, inputs, name="videomae", use_mean_pooling=True, seed=43)
    gen_videomae(fixtures, writer, inputs, name="videomae-nomean", use_mean_pooling=False, seed=44)
    # VideoMAE's fixed sinusoidal position table (not stored in the checkpoint): [T, D], both VideoMAE models.
    table = loaded_table = VideoMAEForVideoClassification.from_pretrained(
        fixtures / "models" / "videomae", dtype=torch.float32).videomae.embeddings.position_embeddings[0]
    writer.npy("videomae", "position_embeddings", loaded_table,
               "VideoMAE's sinusoid table (get_sinusoid_encoding_table, float64 numpy then float32), added to the "
               "patch embeddings; not in model.safetensors; the same for videomae-nomean [T, D]")
    del table
    writer.note("sdpa", videomae_logits_max_abs_diff_sdpa_vs_eager={k: float(f"{v:.3g}") for k, v in writer.sdpa_diff.items()})
    writer.finish()
    for root in [fixtures / "reference" / "video", fixtures / "video" / "frames"] + [
            fixtures / "models" / n for n in ("timesformer", "timesformer-joint", "videomae", "videomae-nomean")]:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


if __name__ == "__main__":
    torch.manual_seed(0)
    main(HERE)

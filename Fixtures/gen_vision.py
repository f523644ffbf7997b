"""Reference outputs for mmattn's image front-end (Sources/MMAttn/Vision).

Writes, under OUT (the Fixtures folder):
  images/kinds/*.png              small PNGs of every colour type, bit depth and interlacing
  reference/vision/versions.json  the versions of the reference implementations
  reference/vision/decode.json    Pillow's Image.open(p).convert("RGB") of each test PNG
                                  (shape and CRC-32 of the bytes) and decode/<kind>.npy (uint8)
  reference/vision/resize.json    Pillow's Image.resize for every filter, up and down
                                  (CRC-32 of the whole result, a stored crop in resize/*.npy)
  reference/vision/processors.json
                                  transformers' ViT/DeiT (PIL backend) image processors:
                                  CRC-32 of the resized uint8 image, pixel_values rows or whole
                                  tensors in processors/*.npy, and the configs they ran with

Run with the project's virtualenv: venv/bin/python Fixtures/gen_vision.py
(or from a driver: gen_vision.main("Fixtures")). Deterministic: the same versions write the
same bytes.
"""

import io
import json
import os
import platform
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image
import transformers
from transformers import DeiTImageProcessorPil, ViTImageProcessorPil

REAL_IMAGES = ["cat.png", "camera.png", "horse.png", "logo.png"]
# Read in place by the tests when present (see shared/badinputs/README.md).
BADINPUTS = os.path.join(os.environ.get("MMATTN_SHARED", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")), "badinputs", "png")

PIL_FILTERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def crc(array):
    return zlib.crc32(np.ascontiguousarray(array).tobytes()) & 0xFFFFFFFF


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# A small PNG writer: every filter type (cycling per row), Adam7 interlacing, 1..16-bit samples.

def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _pack_row(samples, depth):
    """One row of samples (W, C) as PNG bytes."""
    flat = samples.reshape(-1).astype(np.uint32)
    if depth == 16:
        return flat.astype(">u2").tobytes()
    if depth == 8:
        return flat.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    out = bytearray((len(flat) + per_byte - 1) // per_byte)
    for i, v in enumerate(flat):
        out[i // per_byte] |= int(v) << (8 - depth * (i % per_byte + 1))
    return bytes(out)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _filter_rows(rows, bpp):
    out = bytearray()
    prev = bytes(len(rows[0])) if rows else b""
    for n, row in enumerate(rows):
        kind = n % 5
        line = bytearray([kind])
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line.append((x - predictor) & 0xFF)
        out += line
        prev = row
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(samples, depth, color_type, interlace=False, plte=None, extra=()):
    """PNG bytes for samples (H, W, C) of `depth` bits; `extra` chunks go after PLTE, before IDAT."""
    h, w, c = samples.shape
    bpp = max(1, c * depth // 8)
    if interlace:
        raw = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += _filter_rows([_pack_row(r, depth) for r in sub], bpp)
    else:
        raw = _filter_rows([_pack_row(r, depth) for r in samples], bpp)
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    if plte is not None:
        png += _chunk(b"PLTE", plte)
    for kind, data in extra:
        png += _chunk(kind, data)
    return png + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def kinds():
    """(name, png bytes) for each kind of PNG the decoder must handle."""
    rng = np.random.default_rng(20261130)
    out = []

    def samples(h, w, c, depth):
        return rng.integers(0, 1 << depth, size=(h, w, c), dtype=np.uint32)

    def gray16(h, w):
        # Pillow reads 16-bit gray as I;16 and clamps it to 255 for RGB: mix values on both sides.
        s = samples(h, w, 1, 16)
        s[::2] %= 300
        return s

    size = (11, 13)
    for depth in (1, 2, 4, 8):
        out.append((f"gray{depth}", write_png(samples(*size, 1, depth), depth, 0)))
    out.append(("gray16", write_png(gray16(*size), 16, 0)))
    for depth in (1, 2):
        out.append((f"gray{depth}_interlaced", write_png(samples(*size, 1, depth), depth, 0, interlace=True)))
    out.append(("gray16_interlaced", write_png(gray16(*size), 16, 0, interlace=True)))
    out.append(("gray8_trns_gama", write_png(samples(*size, 1, 8), 8, 0, extra=[
        (b"gAMA", struct.pack(">I", 45455)), (b"tRNS", struct.pack(">H", 7))])))
    out.append(("gray_alpha8", write_png(samples(*size, 2, 8), 8, 4)))
    out.append(("gray_alpha16", write_png(samples(*size, 2, 16), 16, 4)))
    out.append(("gray_alpha8_interlaced", write_png(samples(*size, 2, 8), 8, 4, interlace=True)))
    for depth in (1, 2, 4, 8):
        entries = 1 << depth
        plte = rng.integers(0, 256, size=entries * 3, dtype=np.uint8).tobytes()
        out.append((f"palette{depth}", write_png(samples(*size, 1, depth), depth, 3, plte=plte)))
    plte = rng.integers(0, 256, size=16 * 3, dtype=np.uint8).tobytes()
    out.append(("palette4_interlaced", write_png(samples(*size, 1, 4), 4, 3, interlace=True, plte=plte)))
    # Indices past a 3-entry palette (libpng warns, Pillow shows black).
    plte = rng.integers(0, 256, size=3 * 3, dtype=np.uint8).tobytes()
    out.append(("palette2_short", write_png(samples(*size, 1, 2), 2, 3, plte=plte)))
    plte = rng.integers(0, 256, size=256 * 3, dtype=np.uint8).tobytes()
    out.append(("palette8_trns", write_png(samples(*size, 1, 8), 8, 3, plte=plte, extra=[(b"tRNS", bytes(range(0, 256, 3)))])))
    out.append(("rgb8", write_png(samples(*size, 3, 8), 8, 2)))
    out.append(("rgb16", write_png(samples(*size, 3, 16), 16, 2)))
    out.append(("rgb8_interlaced", write_png(samples(*size, 3, 8), 8, 2, interlace=True)))
    out.append(("rgb16_interlaced", write_png(samples(*size, 3, 16), 16, 2, interlace=True)))
    out.append(("rgb8_srgb_sbit_trns", write_png(samples(*size, 3, 8), 8, 2, extra=[
        (b"sRGB", b"\x00"), (b"sBIT", b"\x05\x06\x05"), (b"tRNS", struct.pack(">HHH", 1, 2, 3))])))
    out.append(("rgba8", write_png(samples(*size, 4, 8), 8, 6)))
    out.append(("rgba16", write_png(samples(*size, 4, 16), 16, 6)))
    out.append(("rgba8_interlaced", write_png(samples(*size, 4, 8), 8, 6, interlace=True)))
    out.append(("rgba16_interlaced", write_png(samples(*size, 4, 16), 16, 6, interlace=True)))
    # Odd shapes: a single pixel, and sizes smaller than the Adam7 block.
    out.append(("rgb8_1x1", write_png(samples(1, 1, 3, 8), 8, 2)))
    out.append(("gray1_3x17_interlaced", write_png(samples(3, 17, 1, 1), 1, 0, interlace=True)))
    out.append(("rgb8_17x2_interlaced", write_png(samples(17, 2, 3, 8), 8, 2, interlace=True)))
    return out


# ---------------------------------------------------------------------------------------------
# References


def pillow_rgb(path_or_bytes):
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(source) as im:
        return np.asarray(im.convert("RGB"))


def gen_decode(out_dir, ref_dir):
    kinds_dir = os.path.join(out_dir, "images", "kinds")
    npy_dir = os.path.join(ref_dir, "decode")
    os.makedirs(kinds_dir, exist_ok=True)
    os.makedirs(npy_dir, exist_ok=True)
    entries = {}
    for name, png in kinds():
        with open(os.path.join(kinds_dir, name + ".png"), "wb") as f:
            f.write(png)
        rgb = pillow_rgb(png)
        np.save(os.path.join(npy_dir, name + ".npy"), rgb)
        entries["kinds/" + name + ".png"] = {"height": rgb.shape[0], "width": rgb.shape[1], "crc32": crc(rgb),
                                             "npy": "decode/" + name + ".npy"}
    for name in REAL_IMAGES:
        rgb = pillow_rgb(os.path.join(out_dir, "images", name))
        entries[name] = {"height": rgb.shape[0], "width": rgb.shape[1], "crc32": crc(rgb)}
    # The corpus's decodable files: what Pillow makes of them (tests read them in place).
    badinputs = {}
    if os.path.isdir(BADINPUTS):
        for name in sorted(os.listdir(BADINPUTS)):
            if name.endswith(".png") and (name.startswith("valid_") or name.startswith("either_")):
                try:
                    rgb = pillow_rgb(os.path.join(BADINPUTS, name))
                    badinputs[name] = {"height": rgb.shape[0], "width": rgb.shape[1], "crc32": crc(rgb)}
                except Exception as e:  # Pillow refuses it: record why
                    badinputs[name] = {"pillow_error": f"{type(e).__name__}: {e}"}
    write_json(os.path.join(ref_dir, "decode.json"), {"images": entries, "badinputs": badinputs})


# (width, height) targets: down to 224×224, anisotropic 100×37, up to 600×500, one axis only.
RESIZE_SIZES = [(224, 224), (100, 37), (600, 500), (451, 150), (200, 300)]
CROP = 32  # side of the stored crop of larger results


def gen_resize(out_dir, ref_dir):
    npy_dir = os.path.join(ref_dir, "resize")
    os.makedirs(npy_dir, exist_ok=True)
    cases = []
    for name in ("cat.png", "camera.png"):
        with Image.open(os.path.join(out_dir, "images", name)) as im:
            rgb = im.convert("RGB")
        for pil_id, fname in PIL_FILTERS.items():
            for w, h in RESIZE_SIZES:
                result = np.asarray(rgb.resize((w, h), pil_id))
                case = {"image": name, "filter": pil_id, "width": w, "height": h, "crc32": crc(result)}
                if (w, h) in [(224, 224), (100, 37), (600, 500)]:
                    # The whole of a small result, else a crop away from the borders.
                    x0, y0 = (0, 0) if w * h <= 4000 else (w // 3, h // 2)
                    cw, ch = (w, h) if w * h <= 4000 else (CROP, CROP)
                    file = f"resize/{name[:-4]}_{fname}_{w}x{h}.npy"
                    np.save(os.path.join(ref_dir, file), result[y0:y0 + ch, x0:x0 + cw])
                    case["crop"] = {"x": x0, "y": y0, "width": cw, "height": ch, "npy": file}
                cases.append(case)
    # A very narrow image made narrower still in height than width: columns 100..101 of cat.png
    # (2×300) to 3×40, widened by one pass and shortened by the other, vertical pass first.
    with Image.open(os.path.join(out_dir, "images", "cat.png")) as im:
        tall = Image.fromarray(np.ascontiguousarray(np.asarray(im.convert("RGB"))[:, 100:102]))
    for pil_id, fname in PIL_FILTERS.items():
        result = np.asarray(tall.resize((3, 40), pil_id))
        file = f"resize/cat_tall_{fname}_3x40.npy"
        np.save(os.path.join(ref_dir, file), result)
        cases.append({"image": "cat.png", "source_columns": [100, 102], "filter": pil_id, "width": 3, "height": 40,
                      "crc32": crc(result), "crop": {"x": 0, "y": 0, "width": 3, "height": 40, "npy": file}})
    write_json(os.path.join(ref_dir, "resize.json"), {"cases": cases})


# Configs beside the families' defaults: each exercises a branch of the preprocessing.
PROCESSOR_CONFIGS = {
    "vit_default": ("vit", {"image_processor_type": "ViTImageProcessor"}),
    "deit_default": ("deit", {"image_processor_type": "DeiTImageProcessor"}),
    "vit_int_size_lanczos_imagenet": ("vit", {
        "image_processor_type": "ViTImageProcessor", "size": 40, "resample": 1,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}),
    "deit_shortest_edge_crop_padded": ("deit", {
        "image_processor_type": "DeiTImageProcessor", "size": {"shortest_edge": 30}, "resample": 3,
        "do_center_crop": True, "crop_size": {"height": 36, "width": 50}}),
    "vit_nearest_no_rescale_odd_crop": ("vit", {
        "image_processor_type": "ViTImageProcessor", "size": {"height": 41, "width": 33}, "resample": 0,
        "do_rescale": False, "do_center_crop": True, "crop_size": {"height": 20, "width": 31}}),
    "vit_box_list_size_no_normalize": ("vit", {
        "image_processor_type": "ViTImageProcessor", "size": [27, 35], "resample": 4, "do_normalize": False}),
    "vit_hamming_shortest_longest": ("vit", {
        "image_processor_type": "ViTImageProcessor", "size": {"shortest_edge": 40, "longest_edge": 50},
        "resample": 5, "image_mean": 0.25, "image_std": 0.75}),
    "deit_no_resize_crop": ("deit", {
        "image_processor_type": "DeiTImageProcessor", "do_resize": False, "crop_size": 64}),
}
ROWS = 8  # rows of pixel_values stored for the full-size defaults


def run_processor(processor, pil_rgb):
    """transformers' steps one by one (for the uint8 image before rescaling), then the real call."""
    image = processor.process_image(pil_rgb)  # [3, H, W] uint8
    if processor.do_resize:
        image = processor.resize(image, size=processor.size, resample=processor.resample)
    if processor.do_center_crop:
        image = processor.center_crop(image, processor.crop_size)
    pixel_values = processor(pil_rgb, return_tensors="np")["pixel_values"][0]  # [3, H, W] float32
    return np.moveaxis(image, 0, -1), pixel_values


def gen_processors(out_dir, ref_dir):
    cfg_dir = os.path.join(ref_dir, "processors")
    os.makedirs(cfg_dir, exist_ok=True)
    classes = {"vit": ViTImageProcessorPil, "deit": DeiTImageProcessorPil}
    cases = []
    for cfg_name, (family, config) in PROCESSOR_CONFIGS.items():
        cfg_file = f"processors/{cfg_name}.json"
        write_json(os.path.join(ref_dir, cfg_file), config)
        processor = classes[family].from_dict(config)
        full_size = cfg_name.endswith("_default")
        for name in (REAL_IMAGES if full_size else ["cat.png", "camera.png"]):
            with Image.open(os.path.join(out_dir, "images", name)) as im:
                rgb = im.convert("RGB")
            resized, pv = run_processor(processor, rgb)
            assert pv.dtype == np.float32 and pv.shape[1:] == resized.shape[:2]
            row0 = pv.shape[1] // 2 if full_size else 0
            rows = ROWS if full_size else pv.shape[1]
            file = f"processors/{cfg_name}_{name[:-4]}.npy"
            np.save(os.path.join(ref_dir, file), pv[:, row0:row0 + rows])
            cases.append({
                "config": cfg_file, "family": family, "image": name, "shape": list(pv.shape),
                "resized_crc32": crc(resized), "pixel_values_crc32": crc(pv.astype("<f4")),
                "pixel_values_sum": float(pv.astype(np.float64).sum()),
                "rows": [row0, row0 + rows], "npy": file})
    write_json(os.path.join(ref_dir, "processors.json"), {"cases": cases})


def main(out_dir="Fixtures"):
    ref_dir = os.path.join(out_dir, "reference", "vision")
    os.makedirs(ref_dir, exist_ok=True)
    write_json(os.path.join(ref_dir, "versions.json"), {
        "python": platform.python_version(), "numpy": np.__version__, "pillow": PIL.__version__,
        "transformers": transformers.__version__,
        "processors": "ViTImageProcessorPil / DeiTImageProcessorPil (transformers' PIL backend)"})
    gen_decode(out_dir, ref_dir)
    gen_resize(out_dir, ref_dir)
    gen_processors(out_dir, ref_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__))))

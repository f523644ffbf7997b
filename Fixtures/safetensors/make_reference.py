#!/usr/bin/env python3
"""Write reference.safetensors with the real safetensors + torch writers (run with /work/venv/bin/python).

Each tensor NAME in F16, BF16, F64 or F32 comes with NAME.as_f32, torch's own `.float()` of it, so the
Swift reader's conversions are checked against torch bit for bit. Values cover normals, subnormals,
signed zeros, infinities and NaN. The file is a few hundred bytes.
"""
import os

import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
special = [0.0, -0.0, 1.0, -2.5, 1 / 3, 65504.0, 6.1e-5, 6e-8, -6e-8, 1e-40, float("inf"), float("-inf"), float("nan"), 3.0e38]
base = torch.tensor(special, dtype=torch.float64)
tensors = {
    "half": base.to(torch.float16).reshape(2, 7),
    "bf16": base.to(torch.bfloat16).reshape(7, 2),
    "f64": base.clone(),
    "f32": base.to(torch.float32).reshape(14, 1),
}
for name in list(tensors):
    tensors[name + ".as_f32"] = tensors[name].float().clone()
save_file(tensors, os.path.join(here, "reference.safetensors"), metadata={"format": "pt", "source": "make_reference.py"})

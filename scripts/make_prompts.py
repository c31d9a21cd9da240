#!/usr/bin/env python3
"""Synthesise the IVR prompts with espeak-ng (run at build time; the results are committed).

Writes src/moot/callbridge/prompts/<name>.pcm: 8 kHz mono signed 16-bit little-endian,
the call bridge's prompt format. Needs espeak-ng (Debian package) and PyAV; no network.
Usage: .venv/bin/python scripts/make_prompts.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

from moot.callbridge.prompts import PROMPT_TEXTS

OUT = Path(__file__).resolve().parent.parent / "src" / "moot" / "callbridge" / "prompts"


def synthesise(text: str) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", wav.name, text], check=True)
        chunks = []
        with av.open(wav.name) as container:
            resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    pcm = np.concatenate(chunks).astype("<i2")
    return pcm.tobytes()


def main() -> int:
    for name, text in PROMPT_TEXTS.items():
        data = synthesise(text)
        (OUT / f"{name}.pcm").write_bytes(data)
        print(f"{name}: {len(data) / 16000:.2f} s  {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Image-folder loading for training_throughput.py: a folder of synthetic PNGs loaded into memory
(one process, as before; several processes) and through the on-disk cache (first load, later
load), each in a fresh process, with its time and memory (Linux: /proc/self/status).

    python experiments/benchmarks/image_folder_loads.py '{"root": DIR, "cache": true}'   # one load

The module imports nothing heavy at its top: decoding processes import the main module again
(as they do the `nas` command's), so this one stays as light as that.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def write_folder(root: Path, images: int, side: int, seed: int) -> None:
    """``images`` random smooth PNG images of ``side`` pixels in 10 class folders."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(images):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        low = rng.integers(0, 256, size=(side // 8, side // 8, 3), dtype=np.uint8)
        image = Image.fromarray(low).resize((side, side), Image.Resampling.BILINEAR)
        image.save(folder / f"{i:05d}.png")


def memory() -> dict[str, int]:
    """VmHWM (peak), RssAnon and RssFile of this process, in MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmHWM", "RssAnon", "RssFile")}


def measure(options: dict[str, Any]) -> dict[str, Any]:
    """Load the folder with ``options`` (image_folder's), then one pass of training batches."""
    import torch

    from nas.data import iterate_batches
    from nas.data.image_folder import image_folder

    torch.set_num_threads(1)
    before = memory()
    start = time.perf_counter()
    data = image_folder(**options)
    seconds = time.perf_counter() - start
    loaded = memory()
    shuffle = torch.Generator().manual_seed(0)
    for _ in iterate_batches(
        data.train, 256, mean=data.mean, std=data.std, device=torch.device("cpu"), generator=shuffle
    ):
        pass
    after = memory()
    return {
        "seconds": seconds,
        "peak_before": before["VmHWM"],
        "peak_after": loaded["VmHWM"],
        "anon_before": before["RssAnon"],
        "anon_after": after["RssAnon"],
        "file_after": after["RssFile"],
    }


def loads(
    images: int, source_size: int, image_size: int, workers: int, seed: int
) -> list[dict[str, Any]]:
    """Each way of loading a generated folder, each in a fresh process."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        start = time.perf_counter()
        write_folder(root, images, source_size, seed)
        print(f"wrote {images} PNGs in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        base = {"root": str(root), "image_size": image_size}
        cache = {**base, "cache": True, "cache_dir": f"{tmp}/cache"}
        for label, options in [
            ("into memory, 1 process (as before)", {**base, "workers": 1}),
            (f"into memory, {workers} processes", {**base, "workers": workers}),
            ("cache, first load (decoding), 1 process", {**cache, "workers": 1}),
            (
                f"cache, first load (decoding), {workers} processes",
                {**cache, "cache_dir": f"{tmp}/c", "workers": workers},
            ),
            ("cache, later load", {**cache, "workers": 1}),
        ]:
            command = [sys.executable, __file__, json.dumps(options)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append({"load": label, **json.loads(done.stdout.splitlines()[-1])})
            print(rows[-1], file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The rows as markdown lines, with what the columns mean."""
    lines = [
        "Each row in a fresh process; MiB from /proc/self/status: the peak resident memory (VmHWM) "
        "after the imports and after loading, then anonymous memory (RssAnon) after the imports and "
        "after one pass of training batches, and file-backed memory (RssFile: shared libraries, and "
        "the mapped cache, which the kernel can drop) after the pass.",
        "",
        "| load | seconds | peak before MiB | peak after MiB | anon before MiB | anon after a pass MiB "
        "| file after a pass MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = ("peak_before", "peak_after", "anon_before", "anon_after", "file_after")
    return lines + [
        f"| {r['load']} | {r['seconds']:.2f} | " + " | ".join(str(r[k]) for k in keys) + " |"
        for r in rows
    ]


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))

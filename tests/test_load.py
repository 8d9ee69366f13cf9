"""Load: concurrent gradio_client clients against `python app.py` (a small run of benchmarks/load.py), and the
fix for the failures the full run found (output images rewritten in place while being downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from benchmarks.load import run_load

# The bundled model peaks at 1.4-1.6 GB here (benchmarks/README.md, "Load") whatever the number of clients:
# one clip runs at a time and the queue holds the rest. 2500 MB leaves room for another platform's
# allocator and libraries, and still fails on memory that grows with the requests served or queued (a
# model, a decoded clip or its frames kept per request: 100-300 MB each with this model).
PEAK_RSS_MB = 2500


def test_concurrent_clients_all_served_memory_bounded_nothing_left(tmp_path):
    report = run_load(tmp_path, clients=4, requests=3)
    assert report["failures"] == 0, report["errors"]
    assert report["answers_after"], "the server stopped answering after the load"
    assert report["server_log_errors"] == 0, (tmp_path / "app" / "server.log").read_text()[-3000:]
    assert report["server_peak_rss_mb"] < PEAK_RSS_MB, report
    assert report["server_exit_code"] == 0 and report["files_left_after_stop"] == 0, report


def test_an_output_image_being_downloaded_is_replaced_not_truncated(tmp_path):
    """A second request with the same frames writes the same content-addressed file: a download of the first
    one that is under way keeps reading a complete file (gradio 6.31 truncated it in place)."""
    from gradio import processing_utils as pu

    from hybrid.app.gradio_compat import write_output_images_atomically

    write_output_images_atomically()
    frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    path = Path(pu.save_img_array_to_cache(frame, str(tmp_path)))  # what gr.Gallery's postprocess calls
    data = path.read_bytes()
    with path.open("rb") as download:
        assert pu.save_img_array_to_cache(frame, str(tmp_path)) == str(path)
        assert os.fstat(download.fileno()).st_ino != path.stat().st_ino  # a new file, renamed into place
        assert download.read() == data == path.read_bytes() and data
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging file left behind

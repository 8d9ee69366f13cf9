"""Hostile media files, generated: files FFmpeg would open that name other files or URLs, lie about their
length or size, or are damaged in ways that once got the wrong words. Used by test_bad_inputs.py and
test_security.py; see synth.py for the well-formed clips they start from.
"""

from __future__ import annotations

import struct
from pathlib import Path

import synth

CONTAINER_PATH = (b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref")


def _boxes(data: bytes, start: int, end: int) -> list[tuple[int, int, bytes]]:
    """(offset, size, type) of the boxes in data[start:end] (32-bit sizes only: small test files)."""
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size < 8:
            break
        out.append((pos, size, kind))
        pos += size
    return out


def external_dref_mp4(src: Path, dst: Path, target: str) -> Path:
    """An MP4 whose video track says its samples lie in `target` (a dref `url ` entry without the
    self-contained flag, holding that location), made from a well-formed MP4 with its index at the end."""
    data = bytearray(src.read_bytes())
    chain, start, end = [], 0, len(data)
    for kind in CONTAINER_PATH:
        box = next(b for b in _boxes(bytes(data), start, end) if b[2] == kind)
        chain.append(box)
        start, end = box[0] + (16 if kind == b"dref" else 8), box[0] + box[1]  # dref: version, flags, count
    url_at, url_size, url_kind = _boxes(bytes(data), start, end)[0]
    assert url_kind == b"url " and url_size == 12, "expected one self-contained url entry"
    location = target.encode() + b"\0"
    data[url_at + 8 : url_at + 12] = b"\0\0\0\0"  # flags 0: not self-contained
    data[url_at : url_at + 4] = struct.pack(">I", url_size + len(location))
    data[url_at + 12 : url_at + 12] = location
    for pos, size, _ in chain:  # every enclosing box grows by the inserted bytes
        data[pos : pos + 4] = struct.pack(">I", size + len(location))
    dst.write_bytes(bytes(data))
    return dst


def write_corpus(d: Path, segment: Path) -> dict[str, Path]:
    """Every hostile file, in folder d; `segment` is a real clip on this machine that playlists point at."""
    files: dict[str, Path] = {}

    def put(name: str, body: bytes | str) -> None:
        path = d / name
        path.write_bytes(body.encode() if isinstance(body, str) else body)
        files[name] = path

    put("self.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nself.m3u8\n#EXT-X-ENDLIST\n")  # names itself
    vod = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n{}\n#EXT-X-ENDLIST\n"
    put("local.m3u8", vod.format(segment.resolve()))  # a server-side file as its segment
    put("live.m3u8", "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\nhttp://127.0.0.1:9/seg.ts\n")  # no ENDLIST
    put("playlist.mp4", vod.format(segment.resolve()))  # a playlist renamed .mp4
    put("list.m3u", f"{segment.resolve()}\n")  # a bare M3U: one path per line
    put("concat.mp4", f"ffconcat version 1.0\nfile '{segment.resolve()}'\n")
    put("stream.sdp", "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n")
    put("manifest.mpd", '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"></MPD>\n')
    put("huge.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + struct.pack(">II", 65535, 65535) + b"\x08\x02\0\0\0")
    gif = synth.lavfi_gif(d / "small.gif")
    big = bytearray(gif.read_bytes())
    big[6:10] = struct.pack("<HH", 65535, 65535)  # the logical screen a GIF declares
    put("huge.gif", bytes(big))
    ts = synth.lavfi_clip(d / "full.ts", 3, size=(128, 96)).read_bytes()
    put("headless.ts", ts[len(ts) // 3 :])  # its first third cut off
    mp4 = synth.lavfi_clip(d / "plain.mp4", 3, size=(128, 96))
    files["dref.mp4"] = external_dref_mp4(mp4, d / "dref.mp4", str(segment.resolve()))
    blank = bytearray(mp4.read_bytes())
    at, size, _ = next(b for b in _boxes(bytes(blank), 0, len(blank)) if b[2] == b"mdat")
    blank[at + 8 : at + size] = bytes(size - 8)  # every frame's data zeroed: H.264 with nothing decodable
    put("blank.mp4", bytes(blank))
    files["sparse.mkv"] = synth.sparse_clip(d / "sparse.mkv", 300, seconds_apart=120)  # 300 frames over 10 h
    return files

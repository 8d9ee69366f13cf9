"""What a file is, decided from its first bytes before FFmpeg opens it, and how FFmpeg may open it.

FFmpeg (behind OpenCV) opens much more than self-contained video: HLS/DASH playlists, ffconcat scripts,
SDP descriptions and image sequences name other files or URLs, which it then reads. A playlist that
names itself recursed until the server ran out of memory, one that names a server-side file decoded
that file, a live one held a request for 90 s. So a file is read only when its bytes are one of
CONTAINERS (`sniff`), and FFmpeg itself is held to those demuxers and the local-file protocol
(FFMPEG_OPTIONS, for OpenCV; FFMPEG_DICT, for PyAV; FFMPEG_CLI_OPTIONS, for the ffmpeg command), so that a file
which passes the sniff still cannot reach out. An MP4/MOV whose sample data lies in another file
(a `dref` entry that is not self-contained) is refused too.

`diagnose` words why FFmpeg could not open a file that passed the sniff.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

HEAD_BYTES = 1 << 16  # how much of the file the sniff and the diagnosis read
MAX_MOOV_BYTES = 64 << 20  # an MP4 index larger than this is not searched for external references


@dataclass(frozen=True)
class Container:
    kind: str  # short name people know: "MP4/MOV", "WebM/Matroska", ...
    demuxer: str  # the FFmpeg demuxer that reads it (its short name)


MP4 = Container("MP4/MOV", "mov")
MATROSKA = Container("WebM/Matroska", "matroska")
AVI = Container("AVI", "avi")
MPEG_TS = Container("MPEG-TS", "mpegts")
MPEG_PS = Container("MPEG-PS", "mpeg")
MPEG_VIDEO = Container("MPEG video", "mpegvideo")
OGG = Container("Ogg", "ogg")
GIF = Container("GIF", "gif")
FLV = Container("FLV", "flv")
ASF = Container("WMV/ASF", "asf")
CONTAINERS = (MP4, MATROSKA, AVI, MPEG_TS, MPEG_PS, MPEG_VIDEO, OGG, GIF, FLV, ASF)
ACCEPTED = "MP4/MOV, WebM/MKV, AVI, MPEG-TS/PS, Ogg, GIF, FLV or WMV"

_DEMUXERS = ",".join(c.demuxer for c in CONTAINERS)
# how FFmpeg may open a file: the local-file protocol, these demuxers, no external MP4 data references
FFMPEG_DICT = {"protocol_whitelist": "file", "format_whitelist": _DEMUXERS, "enable_drefs": "0"}  # for PyAV
# OpenCV's FFmpeg backend reads OPENCV_FFMPEG_CAPTURE_OPTIONS ("key;value|key;value") at every open
FFMPEG_OPTIONS = "|".join(f"{k};{v}" for k, v in FFMPEG_DICT.items())
FFMPEG_CLI_OPTIONS = ("-protocol_whitelist", "file", "-format_whitelist", _DEMUXERS)  # before -i

MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"  # the EBML header every Matroska/WebM file starts with
_MP4_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"}
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_IMAGES = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


class RefusedFile(Exception):
    """The file is not a self-contained video; the message says what it is (VideoError is raised from it)."""


def _ts_offset(head: bytes) -> int | None:
    """Where MPEG-TS packets start (0x47 every 188 bytes, or 192 for M2TS/Blu-ray), None when they don't."""
    for packet in (188, 192):
        for start in range(min(packet, len(head))):
            hits = [start + k * packet for k in range(4) if start + k * packet < len(head)]
            if len(hits) >= 2 and all(head[i] == 0x47 for i in hits):
                return start
    return None


def _is_mp4(head: bytes) -> bool:
    if len(head) < 8 or head[4:8] not in _MP4_TOP:
        return False
    size = int.from_bytes(head[:4], "big")
    return size in (0, 1) or size >= 8


def _text_kind(head: bytes) -> str | None:
    """What a text file is (playlists and friends by name), or None when the bytes are not text."""
    try:
        text = head[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or not all(c.isprintable() or c.isspace() for c in text):
        return None
    low = text.lstrip("\ufeff \t\r\n").lower()
    if low.startswith("#extm3u") or "#ext-x-" in low:
        return "an HLS/M3U playlist: it names other files or URLs instead of holding the video"
    if "<mpd" in low:
        return "a DASH manifest (.mpd): it names other files or URLs instead of holding the video"
    if low.startswith("ffconcat"):
        return "an FFmpeg concat script: it names other files instead of holding the video"
    if re.match(r"v=0\s", low):
        return "an SDP session description (a network stream), not a video file"
    if low.startswith(("<?xml", "<smil", "<asx", "[playlist]")):
        return "a playlist or XML file, not a video"
    return "a text file, not a video"


def sniff(path: str | os.PathLike) -> Container:
    """The container a file's bytes say it is, or RefusedFile saying what it is instead."""
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if _is_mp4(head):
        _refuse_external_data(path)
        return MP4
    if head[:4] == MATROSKA_MAGIC:
        return MATROSKA
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return AVI
    if head[:4] == b"OggS":
        return OGG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:3] == b"FLV":
        return FLV
    if head[:16] == _ASF_GUID:
        return ASF
    if head[:4] == b"\x00\x00\x01\xba":
        return MPEG_PS
    if head[:4] == b"\x00\x00\x01\xb3":
        return MPEG_VIDEO
    if _ts_offset(head) is not None:
        return MPEG_TS
    raise RefusedFile(_what_else(head))


def declared_size(path: str | os.PathLike, found: Container) -> tuple[int, int] | None:
    """(width, height) a GIF's header declares, checked before FFmpeg allocates frames of that size."""
    if found is not GIF:
        return None
    with open(path, "rb") as f:
        head = f.read(10)
    return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")


def _what_else(head: bytes) -> str:
    if head[:3] == b"ID3" or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2") or head[:4] == b"fLaC":
        return "is an audio file, not a video"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "is an audio file (WAV), not a video"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "is a still image (WebP), not a video"
    for magic, name in _IMAGES.items():
        if head.startswith(magic):
            return f"is a still image ({name}), not a video"
    text = _text_kind(head)
    if text:
        return f"is {text}"
    return f"is not a video file this app reads (its bytes are none of {ACCEPTED})"


# ---------------------------------------------------------------- ISO-BMFF (mp4/mov) boxes


def mp4_boxes(f, size: int) -> dict[bytes, tuple[int, int]]:
    """Top-level boxes of an ISO-BMFF (mp4/mov) file: type -> (offset, size), walking box headers only."""
    found, pos = {}, 0
    while pos + 8 <= size and len(found) < 64:
        f.seek(pos)
        hdr = f.read(16)
        n, kind = int.from_bytes(hdr[:4], "big"), hdr[4:8]
        if n == 1 and len(hdr) == 16:
            n = int.from_bytes(hdr[8:16], "big")
        elif n == 0:
            n = size - pos
        if n < 8:
            break
        found.setdefault(kind, (pos, n))
        pos += n
    return found


def _refuse_external_data(path: str | os.PathLike) -> None:
    """An MP4/MOV whose tracks read their samples from another file or URL (a `dref` entry without the
    self-contained flag) is refused: the app reads the uploaded file only."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        moov = mp4_boxes(f, size).get(b"moov")
        if moov is None or moov[1] > MAX_MOOV_BYTES:
            return  # no index (diagnosed later) or too big to search; FFmpeg opens no drefs (enable_drefs 0)
        f.seek(moov[0])
        data = f.read(moov[1])
    for m in re.finditer(rb"dref", data):
        at = m.start() - 4  # the box starts with its 32-bit size
        if at < 0:
            continue
        box_size = int.from_bytes(data[at : at + 4], "big")
        if not 16 <= box_size <= len(data) - at:
            continue
        count = int.from_bytes(data[at + 12 : at + 16], "big")
        pos, end = at + 16, at + box_size
        for _ in range(min(count, 64)):
            if pos + 12 > end:
                break
            n, kind, flags = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], data[pos + 11]
            if n < 12:
                break
            if kind in (b"url ", b"urn ", b"alis", b"rsrc") and not flags & 1:
                raise RefusedFile("is an MP4/MOV whose video data lies in another file or URL (an external reference)")
            pos += n


def diagnose(path: str | os.PathLike) -> str:
    """Why FFmpeg could not open (or found no video in) a file that passed the sniff, in words."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
        if _is_mp4(head):
            boxes = mp4_boxes(f, size)
            if b"moov" not in boxes:
                return "is an incomplete MP4/MOV: its index (the 'moov' box) is missing; was the file cut off?"
            f.seek(boxes[b"moov"][0])
            moov = f.read(min(boxes[b"moov"][1], 16 << 20))
            if b"vide" not in moov and b"soun" in moov:  # track handler types
                return "has no video track (it is audio only)"
    codec_ids = re.findall(rb"\x86[\x80-\xff]([AV])_", head)  # Matroska/WebM CodecID elements
    if head[:4] == MATROSKA_MAGIC and b"A" in codec_ids and b"V" not in codec_ids:
        return "has no video track (it is audio only)"
    offset = _ts_offset(head)
    if offset is not None and offset > 0:
        return "is a damaged MPEG-TS file: it starts in the middle of a packet (the beginning is missing?)"
    try:
        kind = sniff(path).kind
    except RefusedFile as e:
        return str(e)
    return f"is a damaged or unreadable {kind} file: FFmpeg found no video stream it can decode in it"

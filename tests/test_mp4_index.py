"""A proxy's own MP4 index gives the frame count and durations ffprobe counts in it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from axiomd.consumers.ffmpeg_args import audio_proxy_args, proxy_args
from axiomd.consumers.mp4_index import tracks
from tests.helpers import PICTURE, X264, ffmpeg

SINE = ["-f", "lavfi", "-i", "sine=frequency=440"]


def _counted_by_ffprobe(path: Path) -> list[tuple[str, int, float]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-print_format", "json",
                          "-show_entries", "stream=codec_type,nb_read_packets,duration",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return [(s["codec_type"], int(s["nb_read_packets"]), float(s["duration"]))
            for s in json.loads(out)["streams"]]


def _agrees_with_ffprobe(path: Path) -> None:
    found = tracks(path)
    assert found is not None
    expected = _counted_by_ffprobe(path)
    assert [(t.kind, t.samples) for t in found] == [(k, n) for k, n, _ in expected]
    for track, (_, _, duration) in zip(found, expected, strict=True):
        assert track.duration == pytest.approx(duration, abs=0.001)


def test_a_proxy_with_sound_reads_as_ffprobe_counts_it(tmp_path: Path) -> None:
    source = tmp_path / "in.mov"
    ffmpeg(*PICTURE, *SINE, "-t", "2", *X264, "-c:a", "pcm_s16le", str(source))
    proxy = tmp_path / "proxy.mp4"
    subprocess.run(proxy_args(source, proxy, {}), check=True, capture_output=True)
    _agrees_with_ffprobe(proxy)


def test_two_sound_tracks_at_ntsc_rate_read_as_ffprobe_counts_them(tmp_path: Path) -> None:
    clip = tmp_path / "two.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30000/1001",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", *SINE, "-t", "3",
           "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-c:a", "aac",
           "-movflags", "+faststart", str(clip))
    _agrees_with_ffprobe(clip)


def test_picture_and_sound_of_different_lengths_read_as_ffprobe_counts_them(tmp_path: Path) -> None:
    clip = tmp_path / "uneven.mp4"
    ffmpeg(*PICTURE, *SINE, "-t", "2.3", "-frames:v", "40", *X264, "-c:a", "aac",
           "-movflags", "+faststart", str(clip))
    _agrees_with_ffprobe(clip)


def test_a_sound_proxy_reads_as_ffprobe_counts_it(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    ffmpeg(*SINE, "-t", "1.5", str(source))
    proxy = tmp_path / "proxy.m4a"
    subprocess.run(audio_proxy_args(source, proxy, {}), check=True, capture_output=True)
    _agrees_with_ffprobe(proxy)


def test_a_delayed_track_is_left_to_ffprobe(tmp_path: Path) -> None:
    """An empty edit (sound starting late) is a layout this reader does not interpret."""
    clip = tmp_path / "late.mp4"
    ffmpeg(*PICTURE, "-itsoffset", "0.5", *SINE, "-t", "2", "-map", "0", "-map", "1",
           *X264, "-c:a", "aac", str(clip))
    assert tracks(clip) is None


def test_a_file_that_is_not_mp4_is_left_to_ffprobe(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    ffmpeg(*PICTURE, "-t", "1", *X264, str(clip))
    assert tracks(clip) is None


def test_an_mp4_cut_before_its_index_is_left_to_ffprobe(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    ffmpeg(*PICTURE, "-t", "1", *X264, str(whole))  # no +faststart: the index is last
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert tracks(cut) is None


def test_a_fragmented_mp4_is_left_to_ffprobe(tmp_path: Path) -> None:
    clip = tmp_path / "fragments.mp4"
    ffmpeg(*PICTURE, "-t", "1", *X264, "-movflags", "frag_keyframe+empty_moov", str(clip))
    assert tracks(clip) is None

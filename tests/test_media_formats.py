"""Studio media of every kind, made here by ffmpeg, through the real jobs: review media
that never lies (issue 13)."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from axiomd.app import App
from axiomd.catalog import schema
from axiomd.catalog.versions import get_version
from axiomd.config import load_config
from tests.helpers import (
    ALL_JOBS,
    ASSET,
    PICTURE,
    QUIET,
    X264,
    ffmpeg,
    outputs,
    probe,
    run_all_jobs,
    versioned,
    video_of,
)


def signalstats(picture: Path) -> dict[str, float]:
    out = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(picture), "-vf",
                          "signalstats,metadata=mode=print:file=-", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stdout
    return {k.removeprefix("lavfi.signalstats."): float(v) for k, _, v in
            (line.partition("=") for line in out.splitlines()) if v}


def corrupt_video_packets(good: Path, bad: Path) -> None:
    """Random bytes over the middle third of the mdat box; the header stays intact."""
    data = bytearray(good.read_bytes())
    start = data.find(b"mdat") + 8
    span = len(data) - start
    rng = random.Random(13)
    for at in range(start + span // 4, start + span // 4 + span // 3):
        data[at] = rng.randrange(256)
    bad.write_bytes(bytes(data))


# --- never mark wrong output complete ---------------------------------------------------

def test_undecodable_source_fails_the_version_with_the_decoders_reason(
        app: App, tmp_path: Path) -> None:
    """Corrupt H.264 that ffmpeg 5.1 transcodes with exit 0 fails the version, and says why."""
    good = tmp_path / "good.mov"
    ffmpeg(*PICTURE, "-t", "2", *X264, "-g", "12", str(good))
    bad = tmp_path / f"{ASSET}_v001.mov"
    corrupt_video_packets(good, bad)
    bare = subprocess.run([*QUIET, "-i", str(bad), "-f", "null", "-"], capture_output=True,
                          text=True)
    assert bare.returncode == 0 and "rror while decoding" in bare.stderr  # what ffmpeg does
    version = versioned(app, bad)
    assert version.status == "failed"
    assert version.error is not None and "does not decode cleanly" in version.error
    assert "proxy_h264" not in outputs(app)
    assert not list(app.store.root.rglob("proxy/*.mp4"))


def test_flat_thumbnail_of_a_busy_source_is_a_qc_finding(app: App, tmp_path: Path) -> None:
    """The middle frame is one flat colour while the clip is not: a finding on the version."""
    clip = tmp_path / f"{ASSET}_v001.mov"
    ffmpeg(*PICTURE, "-t", "2", "-vf", "drawbox=c=green:t=fill:enable='between(t,0.7,1.3)'",
           *X264, str(clip))
    version = versioned(app, clip)
    assert version.status == "complete"
    [warning] = version.media["qc_thumbnail"]["warnings"]
    assert warning.startswith("thumbnail is a single flat colour")


def test_a_normal_clip_gets_no_flat_thumbnail_finding(app: App, tmp_path: Path) -> None:
    """A busy middle frame is not flagged."""
    clip = tmp_path / f"{ASSET}_v001.mov"
    ffmpeg(*PICTURE, "-t", "1", *X264, str(clip))
    version = versioned(app, clip)
    assert version.status == "complete" and "qc_thumbnail" not in version.media


# --- audio-only -------------------------------------------------------------------------

def test_wav_gets_metadata_an_aac_proxy_and_a_waveform_thumbnail(
        app: App, tmp_path: Path) -> None:
    """A 24-bit WAV completes: probe metadata, AAC .m4a proxy, waveform picture."""
    wav = tmp_path / f"{ASSET}_v001.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1.5",
           "-c:a", "pcm_s24le", str(wav))
    version = versioned(app, wav)
    assert version.status == "complete", version.error
    assert version.media["kind"] == "audio" and version.media["audio_bit_depth"] == 24
    made = outputs(app)
    assert made["proxy_h264"].suffix == ".m4a"
    [audio] = probe(made["proxy_h264"])["streams"]
    assert audio["codec_name"] == "aac"
    assert float(audio["duration"]) == pytest.approx(1.5, abs=0.05)
    thumb = probe(made["thumbnail"])["streams"][0]
    assert (thumb["width"], thumb["height"]) == (640, 240)


# --- stills and one-frame clips --------------------------------------------------------

@pytest.mark.parametrize("ext", ["jpg", "exr", "mov"])
def test_still_or_one_frame_clip_gets_a_thumbnail_and_a_one_frame_proxy(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path, ext: str) -> None:
    """A JPG, a single EXR or a one-frame MOV: complete, and no fps finding from QC."""
    app = App(load_config(write_config(sqlite_url, jobs=ALL_JOBS,
                                       extra="[qc.TST]\nfps = 24\npolicy = \"warn\"\n")))
    schema.upgrade(app.engine)
    still = tmp_path / f"{ASSET}_v001.{ext}"
    codec = {"jpg": [], "exr": ["-pix_fmt", "gbrpf32le"], "mov": ["-c:v", "prores_ks"]}[ext]
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "1", *codec,
           str(still))
    version = versioned(app, still)
    assert version.status == "complete", version.error
    assert version.media["kind"] == "still" and version.media["frames"] == 1
    assert version.media["qc"]["warnings"] == []
    made = outputs(app)
    assert int(video_of(made["proxy_h264"])["nb_read_packets"]) == 1
    assert made["thumbnail"].stat().st_size > 0


# --- sequences with gaps ---------------------------------------------------------------

def _sequence(folder: Path, numbers: list[int]) -> list[Path]:
    folder.mkdir()
    ffmpeg(*PICTURE, "-frames:v", str(max(numbers) - 1000), "-start_number", "1001",
           str(folder / f"{ASSET}_v001.%04d.png"))
    kept = []
    for path in sorted(folder.iterdir()):
        if int(path.name.split(".")[-2]) in numbers:
            kept.append(path)
        else:
            path.unlink()
    return kept


def test_sequence_gap_keeps_the_proxys_length_and_is_a_qc_finding(
        app: App, tmp_path: Path) -> None:
    """1001-1012 without 1006: a 12-frame proxy (1005 held) and a gap finding."""
    frames = _sequence(tmp_path / "render", [n for n in range(1001, 1013) if n != 1006])
    rule = app.ingestor.rule_for_path(frames[0], "comp")
    from axiomd.sequences import frame_of

    outcome = app.ingestor.ingest_sequence([(p, frame_of(p.name)) for p in frames], rule,
                                           link=False, token="gap-test", origin=frames[0])
    assert outcome.status == "accepted"
    run_all_jobs(app)
    version = get_version(app.engine, ASSET, 1)
    assert version.status == "complete", version.error
    assert (version.media["frames"], version.media["first_frame"]) == (12, 1001)
    assert version.media["qc"]["warnings"] == [
        "sequence is missing 1 frame (1006); the proxy holds the previous frame there"]
    video = video_of(outputs(app)["proxy_h264"])
    assert int(video["nb_read_packets"]) == 12
    assert float(video["duration"]) == pytest.approx(0.5, abs=0.01)


# --- anamorphic, rotation, interlace ---------------------------------------------------

def test_anamorphic_source_gets_square_pixel_outputs_at_display_aspect(
        app: App, tmp_path: Path) -> None:
    """320x240 at pixel aspect 4:3 displays 427x240: proxy and thumbnail are 426x240, SAR 1."""
    clip = tmp_path / f"{ASSET}_v001.mp4"
    ffmpeg(*PICTURE, "-t", "1", "-vf", "setsar=4/3", *X264, str(clip))
    version = versioned(app, clip)
    assert version.status == "complete", version.error
    assert (version.media["pixel_aspect"], version.media["display_aspect"]) == ("4:3", "16:9")
    assert (version.media["display_width"], version.media["display_height"]) == (427, 240)
    for made in outputs(app).values():
        video = probe(made)["streams"][0]
        assert (video["width"], video["height"]) == (426, 240)
        assert video.get("sample_aspect_ratio", "1:1") in ("1:1", "0:1")


def test_rotated_clip_records_rotation_and_qc_sees_the_turned_size(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """A 320x240 clip turned 90°: display 240x320, QC against 320x240 finds it portrait."""
    app = App(load_config(write_config(
        sqlite_url, jobs=ALL_JOBS, extra="[qc.TST]\nwidth = 320\nheight = 240\n")))
    schema.upgrade(app.engine)
    plain = tmp_path / "plain.mov"
    ffmpeg(*PICTURE, "-t", "1", *X264, str(plain))
    clip = tmp_path / f"{ASSET}_v001.mov"
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(clip))
    version = versioned(app, clip)
    assert version.status == "complete", version.error
    assert version.media["rotation"] == 90
    assert (version.media["display_width"], version.media["display_height"]) == (240, 320)
    assert version.media["qc"]["warnings"] == ["width is 240 (spec for TST: 320)",
                                               "height is 320 (spec for TST: 240)"]
    proxy = video_of(outputs(app)["proxy_h264"])
    assert (proxy["width"], proxy["height"]) == (240, 320)


def test_interlaced_source_is_deinterlaced_by_field_order(app: App, tmp_path: Path) -> None:
    """Top-field-first H.264: field order recorded; the proxy is progressive, same frames."""
    clip = tmp_path / f"{ASSET}_v001.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=50", "-t", "1", "-vf",
           "tinterlace=interleave_top,setfield=tff", "-flags", "+ilme+ildct", "-top", "1",
           *X264, str(clip))
    version = versioned(app, clip)
    assert version.status == "complete", version.error
    assert version.media["field_order"] == "tt"
    proxy = video_of(outputs(app)["proxy_h264"])
    assert proxy.get("field_order", "progressive") == "progressive"
    assert int(proxy["nb_read_packets"]) == 25


# --- audio tracks ----------------------------------------------------------------------

def _two_track_clip(path: Path) -> Path:
    ffmpeg(*PICTURE, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
           "-f", "lavfi", "-i", "sine=frequency=880:sample_rate=48000", "-t", "1",
           "-map", "0:v", "-map", "1:a", "-map", "2:a", *X264, "-c:a", "aac",
           "-ac:a:1", "2", "-metadata:s:a:0", "handler_name=dialogue",
           "-metadata:s:a:1", "handler_name=M&E", str(path))
    return path


def test_every_audio_track_is_kept_with_titles_and_layouts_recorded(
        app: App, tmp_path: Path) -> None:
    """Dialogue and M&E: two AAC tracks in the proxy; titles and layouts in the metadata."""
    version = versioned(app, _two_track_clip(tmp_path / f"{ASSET}_v001.mov"))
    assert version.status == "complete", version.error
    audio = [s for s in version.media["streams"] if s["type"] == "audio"]
    assert [(a["title"], a["channel_layout"]) for a in audio] == [("dialogue", "mono"),
                                                                  ("M&E", "stereo")]
    tracks = [s for s in probe(outputs(app)["proxy_h264"])["streams"]
              if s["codec_type"] == "audio"]
    assert [t["tags"].get("handler_name") for t in tracks] == ["dialogue", "M&E"]


def test_audio_mix_preset_mixes_every_track_into_one(
        write_config: Callable[..., Path], sqlite_url: str, tmp_path: Path) -> None:
    """`audio = "mix"` on the proxy preset: one track made of both."""
    app = App(load_config(write_config(
        sqlite_url, jobs=ALL_JOBS,
        extra='[transcode.presets.proxy_h264]\nkind = "proxy"\naudio = "mix"\n')))
    schema.upgrade(app.engine)
    version = versioned(app, _two_track_clip(tmp_path / f"{ASSET}_v001.mov"))
    assert version.status == "complete", version.error
    tracks = [s for s in probe(outputs(app)["proxy_h264"])["streams"]
              if s["codec_type"] == "audio"]
    assert len(tracks) == 1

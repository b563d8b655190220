"""The pure parts of the media jobs: ffmpeg command lines, probe summaries, output checks.

No process is started here; every case is a few microseconds.
"""

from __future__ import annotations

from pathlib import Path

from axiomd.consumers.checks import (
    OutputFacts,
    bits_per_pixel,
    held_frames,
    is_decode_error,
    is_flat,
    proxy_problems,
    source_is_busy,
)
from axiomd.consumers.exr_header import parse as parse_exr
from axiomd.consumers.ffmpeg_args import (
    audio_proxy_args,
    picture_filters,
    proxy_args,
    thumbnail_args,
    thumbnail_time,
    waveform_args,
)
from axiomd.consumers.probe_summary import Shape, shape_of, summarize_probe, with_frame_hdr

SRC, OUT = Path("/store/in.mov"), Path("/store/out.mp4")


def _video(**extra: object) -> dict[str, object]:
    return {"index": 0, "codec_type": "video", "codec_name": "h264", "width": 1920,
            "height": 1080, "pix_fmt": "yuv420p", "avg_frame_rate": "24/1",
            "r_frame_rate": "24/1", "nb_frames": "48", "duration": "2.0", **extra}


def _raw(*streams: dict[str, object], fmt: str = "mov,mp4,m4a,3gp,3g2,mj2") -> dict:
    return {"format": {"format_name": fmt, "duration": "2.0"}, "streams": list(streams)}


# --- decode errors ---------------------------------------------------------------------

def test_decoder_complaints_count_as_decode_errors() -> None:
    """The lines ffmpeg 5.1 writes for a damaged H.264 picture are recognised."""
    for line in ["[h264 @ 0x55] error while decoding MB 17 11",
                 "Error while decoding stream #0:0: Invalid data found when processing input",
                 "[h264 @ 0x55] concealing 120 DC, 120 AC, 120 MV errors in P frame",
                 "[h264 @ 0x55] Invalid NAL unit size (-2128550692 > 9833)."]:
        assert is_decode_error(line), line


def test_demuxer_and_encoder_notes_are_not_decode_errors() -> None:
    """A short file is caught by the frame count, not mistaken for a decoder failure."""
    assert not is_decode_error("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5] stream 0, offset 0x1d45d: "
                               "partial file")
    assert not is_decode_error("[libx264 @ 0x5] using cpu capabilities: MMX2 SSE2Fast")


# --- proxy against source --------------------------------------------------------------

def test_proxy_within_one_frame_of_the_source_passes() -> None:
    source = Shape("movie", fps=24.0, frames=48, duration=2.0, audio_tracks=1)
    assert proxy_problems(source, OutputFacts(47, 1.98, 2.0, 1)) == []


def test_proxy_two_frames_short_is_a_problem() -> None:
    source = Shape("movie", fps=24.0, frames=48, duration=2.0)
    assert proxy_problems(source, OutputFacts(46, 2.0)) == [
        "the proxy has 46 frames, the source 48"]


def test_proxy_duration_more_than_a_frame_off_is_a_problem() -> None:
    source = Shape("movie", fps=24.0, frames=48, duration=2.0)
    [problem] = proxy_problems(source, OutputFacts(48, 2.1))
    assert problem.startswith("the proxy lasts 2.100 s, the source 2.000 s")


def test_vfr_source_is_judged_by_duration_only() -> None:
    """A variable-rate source is made constant: its frame count may change, not its length."""
    source = Shape("movie", fps=16.7, frames=32, duration=1.92, vfr=True)
    assert proxy_problems(source, OutputFacts(46, 1.92)) == []


def test_proxy_that_lost_an_audio_track_is_a_problem() -> None:
    source = Shape("movie", fps=24.0, frames=24, duration=1.0, audio_tracks=2)
    assert proxy_problems(source, OutputFacts(24, 1.0, 1.0, 1)) == [
        "the proxy has 1 audio tracks, the source 2"]


def test_audio_proxy_is_judged_by_its_audio_length() -> None:
    source = Shape("audio", duration=1.5, audio_tracks=1)
    assert proxy_problems(source, OutputFacts(audio_duration=1.52, audio_tracks=1)) == []
    assert proxy_problems(source, OutputFacts(audio_duration=1.0, audio_tracks=1))


# --- flat pictures ---------------------------------------------------------------------

def test_flat_picture_and_busy_source() -> None:
    """One colour within a few code values is flat; a real picture is not."""
    flat = {"YMIN": 76, "YMAX": 76, "UMIN": 86, "UMAX": 86, "VMIN": 73, "VMAX": 77}
    busy = {**flat, "YMIN": 29, "YMAX": 211}
    assert is_flat(flat) and not is_flat(busy)
    summary = {"width": 320, "height": 240, "size": 131967, "frames": 48}
    assert source_is_busy(bits_per_pixel(summary))
    assert not source_is_busy(bits_per_pixel({**summary, "size": 2000}))


# --- sequences -------------------------------------------------------------------------

def test_missing_frames_hold_the_frame_before() -> None:
    assert held_frames([1001, 1002, 1005, 1006]) == [1001, 1002, 1002, 1002, 1005, 1006]


def test_sequence_summary_runs_first_to_last_with_gaps() -> None:
    """Twelve frames from 1001 with 1006 missing: 12 frames long, first frame 1001."""
    summary = summarize_probe(_raw(_video(nb_frames=None), fmt="image2"),
                              {"first": 1001, "last": 1012, "fps": 24})
    assert (summary["kind"], summary["frames"], summary["first_frame"]) == ("sequence", 12, 1001)
    assert summary["duration"] == 0.5


# --- probe summaries -------------------------------------------------------------------

def test_rotation_turns_the_display_size() -> None:
    summary = summarize_probe(_raw(_video(side_data_list=[
        {"side_data_type": "Display Matrix", "rotation": -90}])))
    assert summary["rotation"] == 270
    assert (summary["display_width"], summary["display_height"]) == (1080, 1920)


def test_anamorphic_records_pixel_and_display_aspect() -> None:
    summary = summarize_probe(_raw(_video(width=1440, sample_aspect_ratio="4:3",
                                          display_aspect_ratio="16:9")))
    assert (summary["pixel_aspect"], summary["display_aspect"]) == ("4:3", "16:9")
    assert (summary["display_width"], summary["display_height"]) == (1920, 1080)


def test_vfr_is_flagged_when_average_and_real_rates_differ() -> None:
    summary = summarize_probe(_raw(_video(avg_frame_rate="384/23")))
    assert summary["vfr"] is True and summary["fps"] == 16.696
    assert "vfr" not in summarize_probe(_raw(_video()))


def test_frame_count_worked_out_when_the_container_has_none() -> None:
    assert summarize_probe(_raw(_video(nb_frames=None)))["frames"] == 48


def test_matroska_track_length_tag_gives_frames_and_the_pictures_length() -> None:
    """MKV has no stream duration; its DURATION tag is the picture's, not the audio's."""
    video = _video(nb_frames=None, duration=None, tags={"DURATION": "00:00:02.000000000"})
    audio = {"index": 1, "codec_type": "audio", "tags": {"DURATION": "00:00:02.050000000"}}
    summary = summarize_probe({"format": {"format_name": "matroska,webm", "duration": "2.05"},
                               "streams": [video, audio]})
    assert summary["frames"] == 48
    assert shape_of(summary).duration == 2.0


def test_still_has_one_frame_and_no_frame_rate() -> None:
    summary = summarize_probe(_raw(_video(nb_frames=None, codec_name="mjpeg"), fmt="image2"))
    assert (summary["kind"], summary["frames"]) == ("still", 1)
    assert "fps" not in summary


def test_audio_tracks_keep_bit_depth_layout_and_title() -> None:
    audio = {"index": 1, "codec_type": "audio", "codec_name": "pcm_s24le", "channels": 2,
             "channel_layout": "stereo", "sample_rate": "48000", "bits_per_sample": 24,
             "tags": {"handler_name": "M&E"}}
    summary = summarize_probe(_raw(audio, fmt="wav"))
    assert (summary["kind"], summary["audio_bit_depth"], summary["audio_tracks"]) == (
        "audio", 24, 1)
    [track] = summary["streams"]
    assert (track["title"], track["channel_layout"]) == ("M&E", "stereo")


def test_cover_art_does_not_make_a_sound_file_a_still() -> None:
    cover = _video(disposition={"attached_pic": 1}, codec_name="mjpeg")
    audio = {"index": 1, "codec_type": "audio", "codec_name": "aac"}
    assert summarize_probe(_raw(cover, audio))["kind"] == "audio"


def test_generic_handler_name_is_not_a_title() -> None:
    audio = {"index": 1, "codec_type": "audio", "tags": {"handler_name": "SoundHandler"}}
    assert "title" not in summarize_probe(_raw(audio))["streams"][0]


def test_field_order_gives_the_deinterlace_parity() -> None:
    assert shape_of(summarize_probe(_raw(_video(field_order="tt")))).parity == "tff"
    assert shape_of(summarize_probe(_raw(_video(field_order="bb")))).parity == "bff"
    assert shape_of(summarize_probe(_raw(_video(field_order="progressive")))).parity is None


def test_hdr_mastering_comes_from_the_first_frame() -> None:
    summary = summarize_probe(_raw(_video(color_transfer="smpte2084")))
    frames = {"frames": [{"side_data_list": [
        {"side_data_type": "Content light level metadata", "max_content": 1000,
         "max_average": 400}]}]}
    hdr = with_frame_hdr(summary, frames)["hdr"]
    assert hdr == {"transfer": "PQ",
                   "content_light_level": {"max_content": 1000, "max_average": 400}}


# --- command lines ---------------------------------------------------------------------

def test_pictures_are_square_pixel_at_display_aspect() -> None:
    assert "iw*sar" in picture_filters(1920) and picture_filters(1920).endswith("setsar=1")


def test_interlaced_picture_is_deinterlaced_first_by_its_parity() -> None:
    assert picture_filters(1920, "bff").startswith("bwdif=mode=send_frame:parity=bff")


def test_proxy_keeps_every_audio_track() -> None:
    args = proxy_args(SRC, OUT, {}, audio_tracks=2)
    assert args[args.index("-map", args.index("0:v:0")) + 1] == "0:a?"


def test_proxy_mixes_tracks_when_the_preset_says_mix() -> None:
    args = proxy_args(SRC, OUT, {"audio": "mix"}, audio_tracks=2)
    graph = args[args.index("-filter_complex") + 1]
    assert graph == "[0:a:0][0:a:1]amix=inputs=2:normalize=0[mix]"


def test_sound_file_proxy_is_aac_without_video() -> None:
    args = audio_proxy_args(Path("/s/a.wav"), Path("/s/a.m4a"), {})
    assert "-vn" in args and args[args.index("-c:a") + 1] == "aac"


def test_sound_file_thumbnail_is_its_waveform() -> None:
    args = waveform_args(Path("/s/a.wav"), Path("/s/a.jpg"), {"max_width": 640})
    assert "showwavespic=s=640x240" in args[args.index("-filter_complex") + 1]


def test_still_thumbnail_does_not_seek() -> None:
    """A one-frame source is read from its start: a seek would land past its only frame."""
    assert thumbnail_time(0.04, 25.0, 1) == 0.0
    assert thumbnail_time(None, None, None) == 0.0
    assert "-ss" not in thumbnail_args(SRC, OUT, {}, at_seconds=0.0)


def test_thumbnail_time_never_passes_the_last_frame() -> None:
    assert thumbnail_time(2.0, 24.0, 48) == 1.0
    assert thumbnail_time(0.08, 25.0, 2) == 0.04


def test_held_sequence_is_read_through_numbered_links() -> None:
    args = proxy_args(SRC, OUT, {}, {"fps": 24, "pattern": "/tmp/x/%06d.png"})
    assert args[args.index("-start_number") + 1] == "0"
    assert args[args.index("-i") + 1] == "/tmp/x/%06d.png"


# --- EXR header ------------------------------------------------------------------------

def _exr(pixel_type: int) -> bytes:
    channel = b"R\0" + pixel_type.to_bytes(4, "little") + bytes(4) + (1).to_bytes(4, "little") * 2
    chlist = channel + b"\0"
    return (b"\x76\x2f\x31\x01" + (2).to_bytes(4, "little")
            + b"channels\0chlist\0" + len(chlist).to_bytes(4, "little") + chlist
            + b"compression\0compression\0" + (1).to_bytes(4, "little") + b"\x03" + b"\0")


def test_exr_header_says_half_or_float() -> None:
    assert parse_exr(_exr(1)) == {"channels": {"R": "half"}, "compression": "zip",
                                  "pixel_type": "half"}
    assert parse_exr(_exr(2))["pixel_type"] == "float"
    assert parse_exr(b"not an exr") is None


def test_media_jobs_do_not_import_the_handler_registry() -> None:
    """The registry imports the jobs, never the other way round: no import cycle."""
    import subprocess
    import sys

    code = ("import sys, axiomd.consumers.media; "
            "assert 'axiomd.consumers.handlers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)

"""Every config key is checked at load, and all mistakes are reported at once, one line each."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from axiomd.config import (
    ApiSettings,
    NamingSpec,
    QcTable,
    StatusSettings,
    StoreSettings,
    TranscodeSettings,
    WatchSettings,
    WorkerSettings,
    load_config,
)
from axiomd.config_presets import ProxyOptions, ThumbnailOptions
from axiomd.config_schema import ConfigProblems
from axiomd.errors import ConfigError
from axiomd.qc import CHECKED
from tests.helpers import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"

DOCUMENTED_SHAPE = """
[database]
url = "sqlite:///var/catalog.db"
[broker]
url = ""
prefix = "axiom"
[store]
root = "var/store"
[watch]
settle_seconds = 2.0
rescan_seconds = 60
ignore = [".*", "*.tmp", "*.part", "~*", "*.crdownload"]
ingest_threads = 4
sequence_settle_seconds = 10
receipt_days = 7
[[watch.roots]]
name = "comp"
path = "drop/comp"
naming = "shot"
poll = false
recursive = true
color_inputs = { exr = "Linear Rec.709 (sRGB)" }
[naming.shot]
template = "{show}_{seq}_{shot}_{task}_v{version}.{ext}"
identity = ["show", "seq", "shot", "task"]
version_policy = "reject"
example = "TST_SQ010_SH0010_comp_v001.mov"
[naming.shot.fields]
show = "[A-Z][A-Z0-9]{1,7}"
seq = "SQ[0-9]{3,4}"
shot = "SH[0-9]{4}"
task = "[a-z][a-z0-9]{1,15}"
version = "[0-9]{3,4}"
ext = ["mov", "mp4", "mxf", "exr", "dpx", "png", "jpg", "tif", "wav"]
[worker]
concurrency = 2
max_attempts = 3
job_timeout_seconds = 3600
lease_seconds = 60
retry_delays = [5, 30, 120]
early_ack_seconds = 900
shutdown_grace_seconds = 30
prefetch = 1
[transcode]
jobs = ["probe", "proxy_h264", "thumbnail", "review"]
sequence_fps = 24
[transcode.presets.proxy_h264]
max_width = 1920
crf = 23
[transcode.presets.review]
kind = "proxy"
max_width = 1280
bitrate = "8M"
x264_preset = "medium"
pix_fmt = "yuv420p"
audio = false
audio_bitrate = "128k"
burn_in = true
stall_seconds = 60
[transcode.presets.thumbnail]
kind = "thumbnail"
format = "png"
max_width = 320
[transcode.presets.smoke]
kind = "noop"
sleep_seconds = 1
fail_message = "always"
[logging]
format = "auto"
level = "info"
[qc.TST]
fps = 24
width = 1920
height = 1080
codec = "h264"
pix_fmt = "yuv420p"
color_space = "bt709"
policy = "warn"
[color]
config = "ocio://studio-config-latest"
display = "sRGB - Display"
view = "ACES 2.0 - SDR 100 nits (Rec.709)"
[color.inputs]
exr = "ACEScg"
[[events.webhooks]]
url = "https://chat.example/hook"
events = ["version.complete", "version.reviewed"]
secret = "s3cret"
[api]
listen = "127.0.0.1:8750"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "axiomd.toml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    """The problem lines loading `text` gives, each without the file-name prefix."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigProblems) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path.resolve()}: ") for line in lines)
    return [line.removeprefix(f"{path.resolve()}: ") for line in lines]


def test_preset_crf_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    """`crf = "high"` fails at load, not at every proxy."""
    assert _problems(tmp_path, '[transcode.presets.proxy_h264]\ncrf = "high"\n') == [
        "transcode.presets.proxy_h264.crf: expected a whole number, got 'high'"]


def test_preset_crf_outside_x264_range_is_refused(tmp_path: Path) -> None:
    """crf runs from 0 to 51."""
    assert _problems(tmp_path, "[transcode.presets.proxy_h264]\ncrf = 60\n") == [
        "transcode.presets.proxy_h264.crf: must be between 0 and 51, got 60"]


def test_misspelled_preset_option_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    """An unknown option names the key and the option it was probably meant to be."""
    path = _write(tmp_path, "[transcode.presets.proxy_h264]\nmax_widht = 1280\n")
    with pytest.raises(ConfigProblems) as info:
        load_config(path)
    assert str(info.value) == (f"{path.resolve()}: transcode.presets.proxy_h264.max_widht: "
                               "unknown key (did you mean max_width?)")


def test_option_of_another_kind_is_refused(tmp_path: Path) -> None:
    """A thumbnail preset does not take proxy options; the message lists what it takes."""
    assert _problems(tmp_path, '[transcode.presets.thumbnail]\ncrf = 20\n') == [
        "transcode.presets.thumbnail.crf: unknown key (known: format, max_width, stall_seconds)"]


def test_unknown_job_kind_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    """`kind = "proxxy"` is not a kind any worker runs."""
    [line] = _problems(tmp_path, '[transcode.presets.review]\nkind = "proxxy"\n')
    assert line.startswith("transcode.presets.review.kind: must be one of noop, probe, proxy, "
                           "thumbnail, got 'proxxy'")
    assert line.endswith("(did you mean proxy?)")


def test_new_preset_without_kind_is_refused(tmp_path: Path) -> None:
    """Only the built-in presets know their kind; a new one must say it."""
    assert _problems(tmp_path, "[transcode.presets.review]\nmax_width = 640\n") == [
        "transcode.presets.review.kind: missing: one of noop, probe, proxy, thumbnail"]


def test_crf_and_bitrate_together_are_refused(tmp_path: Path) -> None:
    """Constant quality or a bitrate: giving both would silently drop one."""
    assert _problems(tmp_path, '[transcode.presets.proxy_h264]\ncrf = 20\nbitrate = "8M"\n') == [
        "transcode.presets.proxy_h264.bitrate: give crf (constant quality) or bitrate, not both"]


def test_fractional_concurrency_is_refused(tmp_path: Path) -> None:
    """A whole-number setting refuses 2.7 rather than rounding it."""
    assert _problems(tmp_path, "[worker]\nconcurrency = 2.7\n") == [
        "worker.concurrency: expected a whole number, got 2.7"]


def test_whole_number_setting_refuses_true(tmp_path: Path) -> None:
    """TOML's true is not the number 1."""
    assert _problems(tmp_path, "[worker]\nprefetch = true\n") == [
        "worker.prefetch: expected a whole number, got true"]


def test_zero_concurrency_is_refused(tmp_path: Path) -> None:
    """A worker runs at least one job at a time."""
    assert _problems(tmp_path, "[worker]\nconcurrency = 0\n") == [
        "worker.concurrency: must be at least 1, got 0"]


def test_seconds_setting_accepts_a_whole_number(tmp_path: Path) -> None:
    """A number-of-seconds setting takes `60` as well as `60.0`, and stores a float."""
    config = load_config(_write(tmp_path, "[watch]\nrescan_seconds = 60\nsettle_seconds = 1\n"))
    assert config.watch.rescan_seconds == 60.0
    assert isinstance(config.watch.settle_seconds, float)


def test_bad_field_regex_names_its_field(tmp_path: Path) -> None:
    """A naming field whose pattern does not compile is named, with the regex error."""
    text = ('[naming.shot]\ntemplate = "{show}_{task}"\nidentity = ["show"]\n'
            '[naming.shot.fields]\nshow = "[A-Z"\ntask = "[a-z]+"\n')
    [line] = _problems(tmp_path, text)
    assert line.startswith("naming.shot.fields.show: not a valid regular expression: ")
    assert "unterminated character set" in line


def test_unknown_section_suggests_the_close_one(tmp_path: Path) -> None:
    """A misspelled section is an error naming the section it was probably meant to be."""
    assert _problems(tmp_path, "[wokrer]\nconcurrency = 2\n") == [
        "wokrer: unknown section (did you mean worker?)"]


def test_unknown_key_in_a_drop_root_suggests_the_close_one(tmp_path: Path) -> None:
    """Keys of `[[watch.roots]]` entries are checked too, by index."""
    text = '[[watch.roots]]\nname = "comp"\npath = "drop"\npol = true\n'
    assert _problems(tmp_path, text) == ["watch.roots[0].pol: unknown key (did you mean poll?)"]


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    """Five mistakes in five places give five lines, in one error."""
    text = ("[wacth]\n[worker]\nconcurrency = 2.7\n"
            '[transcode.presets.proxy_h264]\ncrf = "high"\nmax_widht = 100\n'
            '[transcode.presets.review]\nkind = "proxxy"\n')
    keys = [line.split(": ", 1)[0] for line in _problems(tmp_path, text)]
    assert sorted(keys) == sorted(["wacth", "worker.concurrency",
                                   "transcode.presets.proxy_h264.crf",
                                   "transcode.presets.proxy_h264.max_widht",
                                   "transcode.presets.review.kind"])


def test_documented_shape_loads_cleanly_and_keeps_new_sections(tmp_path: Path) -> None:
    """Every key README and the design document show loads; colour, webhooks, API are kept."""
    config = load_config(_write(tmp_path, DOCUMENTED_SHAPE))
    assert config.watch.receipt_days == 7.0
    assert config.root("comp").color_inputs == {"exr": "Linear Rec.709 (sRGB)"}
    assert config.color.inputs == {"exr": "ACEScg"}
    assert config.color.view == "ACES 2.0 - SDR 100 nits (Rec.709)"
    [hook] = config.events_webhooks
    assert (hook.url, hook.events, hook.secret) == (
        "https://chat.example/hook", ("version.complete", "version.reviewed"), "s3cret")
    assert config.api.listen == "127.0.0.1:8750"
    assert config.transcode.presets["review"].options["bitrate"] == "8M"
    assert config.qc["TST"].expected["fps"] == 24.0


def test_readme_documented_keys_are_allowed() -> None:
    """Each key in README's configuration table is a field of the dataclass that checks it."""
    sections = {"watch": WatchSettings, "worker": WorkerSettings, "transcode": TranscodeSettings,
                "naming.NAME": NamingSpec, "store": StoreSettings, "status": StatusSettings,
                "api": ApiSettings}
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `\[([a-z.A-Z]+)\] ?([a-z_]*)` \|[^|]*\|([^\n]*)\|$", table, re.M)
    assert len(rows) >= 10
    for section, key, meaning in rows:
        if section == "transcode.presets.NAME":
            proxy, thumbnail = meaning.split("`proxy` takes")[1].split("; `thumbnail` takes")
            expected = {ProxyOptions: re.findall(r"`([a-z_0-9]+)`", proxy),
                        ThumbnailOptions: re.findall(r"`([a-z_0-9]+)`", thumbnail)}
        elif section == "qc.SHOW":
            expected = {QcTable: re.findall(r"`([a-z_]+)`", meaning.split(" = ")[0])}
        else:
            expected = {sections[section]: [key]}
        for cls, keys in expected.items():
            names = {f.name for f in dataclasses.fields(cls)}
            assert keys and set(keys) <= names, (section, keys)


def test_qc_table_holds_exactly_the_checked_values() -> None:
    """`[qc.SHOW]` accepts what qc compares, plus the policy: the two lists stay in step."""
    assert [f.name for f in dataclasses.fields(QcTable)] == [*CHECKED, "policy"]


def test_preset_options_carry_every_default(tmp_path: Path) -> None:
    """Overriding one proxy option keeps the other defaults, written once in the dataclass."""
    preset = load_config(_write(tmp_path, "[transcode.presets.proxy_h264]\ncrf = 18\n")
                         ).transcode.presets["proxy_h264"]
    assert preset.kind == "proxy"
    assert preset.options["crf"] == 18
    assert preset.options["max_width"] == ProxyOptions.max_width == 1920
    assert "bitrate" not in preset.options


def test_relative_ocio_config_resolves_against_the_config_folder(tmp_path: Path) -> None:
    """A studio's own config.ocio is a path like any other, read at load: a missing one is
    a config error naming the resolved path."""
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "ocio" / "config.ocio"))):
        load_config(_write(tmp_path, '[color]\nconfig = "ocio/config.ocio"\n'))


def test_cli_status_with_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    """`axiomd status` on a broken config lists every problem, one a line, no traceback."""
    path = _write(tmp_path, '[worker]\nconcurrency = 2.7\n[transcode.presets.proxy_h264]\n'
                            'max_widht = 1280\n')
    result = run_cli("status", config=path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("worker.concurrency: expected a whole number, got 2.7")
    assert lines[1] == (f"{path.resolve()}: transcode.presets.proxy_h264.max_widht: "
                        "unknown key (did you mean max_width?)")


def test_bitrate_that_is_not_a_bitrate_says_what_one_looks_like(tmp_path: Path) -> None:
    """A string option with a shape gives an example of the shape."""
    assert _problems(tmp_path, '[transcode.presets.proxy_h264]\nbitrate = "fast"\n') == [
        "transcode.presets.proxy_h264.bitrate: expected a bitrate such as 8M or 192k, got 'fast'"]

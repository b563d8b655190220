"""The systemd units: accepted by systemd, hardened, tied to one target, shipped in the wheel."""

from __future__ import annotations

import configparser
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import config_file, run_cli, wait_for

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("axiomd-watcher.service", "axiomd-relay.service", "axiomd-worker@.service",
            "axiomd-api.service", "axiomd-metrics.service")
DAEMONS = ("axiomd-watcher.service", "axiomd-relay.service", "axiomd-worker@.service",
           "axiomd-api.service")
MAX_EXPOSURE = 4.0


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The units `axiomd install-units` writes for a config with a textfile folder (the
    config's folder is `units.parent`); written once, the tests only read them."""
    folder = tmp_path_factory.mktemp("units-config")
    config = config_file(folder, f"sqlite:///{folder / 'var' / 'catalog.db'}",
                         extra=f'[status]\ntextfile_dir = "{folder / "textfile"}"\n')
    dest = folder / "units"
    run_cli("install-units", "--dest", str(dest), config=config, check=True)
    return dest


def _unit(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_rendered_units_pass_systemd_analyze_verify(units: Path) -> None:
    """systemd itself accepts every unit, the target and the timer included."""
    files = sorted(str(p) for p in units.iterdir())
    assert len(files) == 7
    result = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True,
                            text=True, cwd=units)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_rated_4_or_better_by_systemd_analyze_security(
        units: Path, name: str) -> None:
    """`systemd-analyze security --offline` rates the unit's exposure at most 4.0 (was 7.7)."""
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                             str(units / name)], capture_output=True, text=True, cwd=units)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, result.stdout


@pytest.mark.parametrize("name", DAEMONS)
def test_daemons_wait_for_their_mounts_and_belong_to_axiomd_target(
        units: Path, name: str) -> None:
    """Store and drop roots are required mounts; the unit is PartOf and WantedBy axiomd.target."""
    unit = _unit(units / name)
    mounts = unit["Unit"]["RequiresMountsFor"].split()
    folder = units.parent
    assert str(folder / "store") in mounts and str(folder / "drop" / "comp") in mounts
    assert unit["Unit"]["PartOf"] == "axiomd.target"
    assert unit["Install"]["WantedBy"] == "axiomd.target"
    assert unit["Service"]["SyslogIdentifier"] == name.split("@")[0].removesuffix(".service")
    assert unit["Service"]["UMask"] == "0027"


def test_the_api_unit_runs_axiomd_serve_with_the_config(units: Path) -> None:
    """`axiomd-api.service` starts `axiomd --config CONFIG serve`."""
    exec_start = _unit(units / "axiomd-api.service")["Service"]["ExecStart"]
    assert exec_start.endswith(f"--config {units.parent / 'axiomd.toml'} serve")


def test_the_metrics_timer_writes_the_textfile_folder_from_the_config(
        units: Path) -> None:
    """The oneshot writes `[status] textfile_dir`/axiomd.prom through status --output, every minute."""
    service = _unit(units / "axiomd-metrics.service")["Service"]
    assert service["Type"] == "oneshot"
    textfile = units.parent / "textfile"
    assert service["ExecStart"].endswith(
        f"status --format prometheus --output {textfile / 'axiomd.prom'}")
    assert f"-{textfile}" in service["ReadWritePaths"].split()
    timer = _unit(units / "axiomd-metrics.timer")
    assert timer["Timer"]["OnUnitActiveSec"] == "60s"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """axiomd built as a wheel from this source tree, as `pip wheel` would for a release."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    [built] = dist.glob("axiomd-*.whl")
    return built


def test_the_wheel_carries_the_unit_templates(wheel: Path) -> None:
    """A wheel built from the source tree contains every unit template as package data."""
    names = set(zipfile.ZipFile(wheel).namelist())
    for unit in (*SERVICES, "axiomd.target", "axiomd-metrics.timer"):
        assert f"axiomd/systemd_units/{unit}" in names


def test_units_install_from_the_installed_wheel(
        wheel: Path, write_config: Callable[..., Path], tmp_path: Path) -> None:
    """`install-units` works from a wheel install, with no source checkout beside it."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    config = write_config(f"sqlite:///{tmp_path / 'catalog.db'}")
    env = {"PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import axiomd; print(axiomd.__file__)"],
                           capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    result = run_cli("install-units", "--dest", str(tmp_path / "units"), config=config,
                     env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "units").iterdir())) == 7


MDWE_EXEC = """
import ctypes, os, sys
PR_SET_MDWE, MDWE_REFUSE_EXEC_GAIN = 65, 1
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MDWE, MDWE_REFUSE_EXEC_GAIN, 0, 0, 0):
    sys.exit(f"PR_SET_MDWE: errno {ctypes.get_errno()}")
os.execvp(sys.argv[1], sys.argv[1:])
"""


def _syscall_group(name: str) -> set[str]:
    """A systemd system-call group, nested groups expanded, as systemd-analyze lists it."""
    listing = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager"],
                             capture_output=True, text=True, check=True).stdout
    groups: dict[str, list[str]] = {}
    current = ""
    for line in listing.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = []
        elif current and line.strip() and not line.strip().startswith("#"):
            groups[current].append(line.strip())

    def expand(group: str) -> set[str]:
        calls: set[str] = set()
        for item in groups[group]:
            calls |= expand(item) if item.startswith("@") else {item}
        return calls

    return expand(name)


def test_a_whole_pipeline_runs_within_the_units_limits(
        write_config: Callable[..., Path], tmp_path: Path) -> None:
    """Watcher, worker, ffprobe, x264 proxy, thumbnail: under W^X memory, /proc limited to
    pids, and only @system-service system calls, as MemoryDenyWriteExecute=, ProcSubset=pid
    and SystemCallFilter= allow."""
    config = write_config(f"sqlite:///{tmp_path / 'catalog.db'}",
                          jobs='["probe", "proxy_h264", "thumbnail"]')
    run_cli("db", "upgrade", config=config, check=True)
    clip = tmp_path / "clip.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24",
                    "-f", "lavfi", "-i", "sine", "-t", "1", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(clip)], check=True)
    (tmp_path / "mdwe.py").write_text(MDWE_EXEC)
    summary = tmp_path / "syscalls.txt"
    inner = (f"mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec "
             f"{sys.executable} {tmp_path / 'mdwe.py'} strace -f -c -o {summary} "
             f"{sys.executable} -m axiomd --config {config} run")
    log = (tmp_path / "run.log").open("w")
    limited = subprocess.Popen(["unshare", "--mount", "sh", "-c", inner], stdout=log,
                               stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_for(lambda: '"watch.started"' in (tmp_path / "run.log").read_text(), 60,
                 "axiomd run to start under the units' limits")
        (tmp_path / "drop" / "comp" / "TST_SQ010_SH0010_comp_v001.mov").write_bytes(
            clip.read_bytes())

        def complete() -> bool:
            shown = run_cli("versions", "TST_SQ010_SH0010_comp", "--json", config=config)
            return shown.returncode == 0 and json.loads(shown.stdout)[0]["status"] == "complete"

        wait_for(complete, 90, "the version to complete under the units' limits")
    finally:
        children = subprocess.run(["pgrep", "-P", str(limited.pid)], capture_output=True,
                                  text=True).stdout.split()
        for pid in children:
            os.kill(int(pid), signal.SIGTERM)
        limited.wait(timeout=60)
        log.close()
    used = {line.split()[-1] for line in summary.read_text().splitlines()
            if line.strip() and line.split()[0][0].isdigit()} - {"total"}
    assert used and used <= _syscall_group("@system-service"), used - _syscall_group(
        "@system-service")

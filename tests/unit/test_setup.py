"""`workshop setup` (workshop.setup, packages in workshop.infra.setup): install a missing Debian package when we may, else say how.

The machine is faked: a PATH of our own with (or without) an ``apt-get`` and a
``sudo`` that record what they were asked, and a pretend user id.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from workshop import setup as command
from workshop.infra import dotenv, setup, updown

LAB_PACKAGES = "coturn patroni etcd-server redis-sentinel"
LAB_PROGRAMS = ("turnserver", "patroni", "etcd", "redis-sentinel")
ALL_TEST_PACKAGES = (
    "coturn chromium chromium-driver docker-compose podman debootstrap nodejs npm patroni etcd-server redis-sentinel"
)


def _program(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def machine(tmp_path):
    """``(bin, record)``: an empty PATH directory, and the file the fakes write their arguments to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return bin_dir, tmp_path / "calls"


def fake_apt(bin_dir: Path, record: Path) -> None:
    """An apt-get that records its arguments and "installs" the lab's packages (fake programs appear)."""
    fakes = "; ".join(f'printf "#!/bin/sh\\n" > {bin_dir}/{p}; chmod +x {bin_dir}/{p}' for p in LAB_PROGRAMS)
    _program(bin_dir, "apt-get", f'echo "$*" >> {record}\ncase "$*" in *coturn*) {fakes};; esac')


def test_nothing_missing_nothing_installed(machine, tmp_path):
    bin_dir, record = machine
    fake_apt(bin_dir, record)
    for program in LAB_PROGRAMS:
        _program(bin_dir, program, "")
    said: list[str] = []
    assert setup.ensure_packages("lab", tmp_path / "log", said.append, path=str(bin_dir), euid=0)
    assert said == [f"Debian packages: all present ({LAB_PACKAGES.replace(' ', ', ')})"]
    assert not record.exists()


def test_root_with_apt_get_installs_what_the_lab_needs_in_one_line(machine, tmp_path):
    bin_dir, record = machine
    fake_apt(bin_dir, record)
    said: list[str] = []
    assert setup.ensure_packages("lab", tmp_path / "log", said.append, path=str(bin_dir), euid=0)
    assert record.read_text().splitlines() == [
        "update -qq",
        f"install -y -qq {LAB_PACKAGES}",
    ]  # update once, then install
    assert len(said) == 1 and said[0].startswith(
        "Debian packages: installing coturn (the TURN server of chapter 5 (WebRTC)); patroni"
    )
    assert (bin_dir / "turnserver").exists()


def test_passwordless_sudo_installs_through_sudo(machine, tmp_path):
    bin_dir, record = machine
    fake_apt(bin_dir, record)
    _program(bin_dir, "sudo", f'echo "sudo $*" >> {record}\n[ "$1" = -n ] && shift\nexec "$@"')
    said: list[str] = []
    assert setup.ensure_packages("lab", tmp_path / "log", said.append, path=str(bin_dir), euid=1000)
    calls = record.read_text().splitlines()
    assert calls[0] == "sudo -n true"  # may we? (-n: never ask for a password)
    assert f"sudo -n env DEBIAN_FRONTEND=noninteractive {bin_dir}/apt-get install -y -qq {LAB_PACKAGES}" in calls
    assert f"install -y -qq {LAB_PACKAGES}" in calls


@pytest.mark.parametrize("why", ["no apt-get", "not root, sudo wants a password", "not root, no sudo"])
def test_cannot_install_prints_the_one_command_that_would(machine, tmp_path, why):
    bin_dir, record = machine
    if why != "no apt-get":
        fake_apt(bin_dir, record)
    if why == "not root, sudo wants a password":
        _program(bin_dir, "sudo", f'echo "sudo $*" >> {record}\nexit 1')
    said: list[str] = []
    ok = setup.ensure_packages(
        "test", tmp_path / "log", said.append, path=str(bin_dir), euid=0 if why == "no apt-get" else 1000
    )
    assert not ok
    assert len(said) == 1
    assert said[0].startswith("Debian packages: missing coturn (the TURN server of chapter 5 (WebRTC)); chromium")
    assert said[0].endswith(f"Install with: sudo apt-get install -y {ALL_TEST_PACKAGES}")
    assert "install" not in (record.read_text() if record.exists() else "")  # apt-get never ran


def test_a_failing_apt_get_is_reported_with_the_command_to_try(machine, tmp_path, capsys):
    bin_dir, record = machine
    _program(bin_dir, "apt-get", 'echo "E: Unable to locate package coturn"; exit 100')
    said: list[str] = []
    assert not setup.ensure_packages("lab", tmp_path / "log", said.append, path=str(bin_dir), euid=0)
    assert "`apt-get update -qq` failed" in said[-1] and "sudo apt-get install -y coturn" in said[-1]
    assert "E: Unable to locate package coturn" in capsys.readouterr().err  # the error is shown, not hidden


@pytest.fixture
def no_packages(monkeypatch, machine, tmp_path):
    """A machine without apt-get and without any of the packages; the later steps replaced by recorders."""
    bin_dir, _ = machine
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("WORKSHOP_STATE_DIR", str(tmp_path / "state"))
    steps: list[str] = []
    monkeypatch.setattr(dotenv, "main", lambda argv: steps.append("env") or 0)
    monkeypatch.setattr(updown, "up_main", lambda argv: steps.append("up") or 1)  # coturn cannot start
    monkeypatch.setattr(command, "install_kernel", lambda log: steps.append("kernel") or True)
    return steps


def test_make_test_stops_with_that_one_line(no_packages, capsys):
    assert command.main(["test"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].endswith(f"sudo apt-get install -y {ALL_TEST_PACKAGES}")
    assert no_packages == []  # nothing else was attempted


def test_make_lab_goes_on_and_opens_the_lab(no_packages, capsys):
    assert command.main(["lab"]) == 0
    out = capsys.readouterr().out
    assert f"sudo apt-get install -y {LAB_PACKAGES}" in out and "chromium" not in out  # not the tests' browser
    assert "the lab opens anyway" in out
    assert no_packages == ["env", "up", "kernel"]

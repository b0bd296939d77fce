"""scripts/setup.sh's decisions, with a PATH of stub commands (nothing is installed here).

The stub apt-get records what it was asked and "installs" a package by adding a stub of
the command it provides, so a second run shows what a machine set up sees: no apt work.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "setup.sh"
BASH = shutil.which("bash") or "/bin/bash"
CHMOD = shutil.which("chmod") or "/bin/chmod"  # the stubs' own tools, outside the stub PATH
# The commands the script looks for, and the Debian package of each.
PROVIDES = {
    "redis-server": "redis-server",
    "redis-sentinel": "redis-sentinel",
    "java": "openjdk-17-jre-headless",
    "mvn": "maven",
    "openssl": "openssl",
    "make": "make",
    "prometheus": "prometheus",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "python3": "python3",
}
APT_GET = f"""#!{BASH}
echo "apt-get $*" >> "$APT_LOG"
if [ "$1" = install ]; then
  for pkg in "$@"; do
    case "$pkg" in
{chr(10).join(f"      {pkg}) cmd={cmd} ;;" for cmd, pkg in PROVIDES.items())}
      python3-venv) : > "$STUBS/.ensurepip"; continue ;;
      *) continue ;;
    esac
    printf '#!{BASH}\\nexit 0\\n' > "$STUBS/$cmd"; {CHMOD} +x "$STUBS/$cmd"
  done
fi
"""
PYTHON3 = f"""#!{BASH}
# `python3 -c 'import ensurepip, venv'` works once python3-venv is "installed".
[ "$1" = -c ] && {{ [ -e "$STUBS/.ensurepip" ]; exit; }}
exit 0
"""
SUDO = f"""#!{BASH}
[ "$1" = -n ] && shift
[ "$1" = true ] && exit 0
echo "sudo $*" >> "$APT_LOG"
exec "$@"
"""


class Machine:
    def __init__(self, tmp: Path, lacking: set[str], apt: bool = True, sudo: bool = False):
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.log = tmp / "apt.log"
        self.log.touch()
        for cmd in PROVIDES:
            if cmd not in lacking:
                self.stub(cmd, PYTHON3 if cmd == "python3" else f"#!{BASH}\nexit 0\n")
        if "helm" not in lacking:  # not an apt package: built from its Go module
            self.stub("helm", f"#!{BASH}\nexit 0\n")
        (self.bin / ".ensurepip").touch()
        if "ensurepip" in lacking:
            (self.bin / ".ensurepip").unlink()
        if apt:
            self.stub("apt-get", APT_GET)
        if sudo:
            self.stub("sudo", SUDO)

    def stub(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)

    def run(self, *args: str, euid: int = 0, script: Path = SCRIPT) -> subprocess.CompletedProcess:
        env = {
            "PATH": str(self.bin), "APT_LOG": str(self.log), "STUBS": str(self.bin),
            "LIVEGATE_SETUP_EUID": str(euid), "PYTHON": "python3",
        }  # fmt: skip
        return subprocess.run(
            [BASH, str(script), *args], env=env, capture_output=True, text=True, timeout=30
        )

    def apt(self) -> list[str]:
        return self.log.read_text().splitlines()


def test_nothing_missing_means_no_apt_work(tmp_path: Path):
    m = Machine(tmp_path, lacking=set())
    done = m.run("--no-venv")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert m.apt() == []


def test_as_root_it_installs_what_is_missing_once(tmp_path: Path):
    m = Machine(tmp_path, lacking={"redis-server", "chromedriver", "ensurepip"})
    done = m.run("--no-venv")
    assert done.returncode == 0, done.stderr
    assert "setup: installing redis-server chromium-driver python3-venv" in done.stdout
    assert m.apt() == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends redis-server chromium-driver python3-venv",
    ]
    again = m.run("--no-venv")
    assert (again.returncode, again.stdout) == (0, "")
    assert len(m.apt()) == 2  # the second call did no apt work


def test_a_user_without_sudo_gets_the_exact_command(tmp_path: Path):
    m = Machine(tmp_path, lacking={"java", "mvn", "prometheus"})
    done = m.run("--no-venv", euid=1000)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "setup: missing: java (Kafka), mvn (fetching Kafka's jars), prometheus (make "
        "check-deploy and the monitoring tests (promtool too))",
        "setup: install them (needs root), then run the command again:",
        "  sudo apt-get update && sudo apt-get install -y --no-install-recommends "
        "openjdk-17-jre-headless maven prometheus",
    ]
    assert m.apt() == []


def test_a_user_with_passwordless_sudo_installs_through_it(tmp_path: Path):
    m = Machine(tmp_path, lacking={"make"}, sudo=True)
    done = m.run("--no-venv", euid=1000)
    assert done.returncode == 0, done.stderr
    assert m.apt() == [
        "sudo apt-get update -qq",
        "apt-get update -qq",
        "sudo apt-get install -y -qq --no-install-recommends make",
        "apt-get install -y -qq --no-install-recommends make",
    ]


def test_dry_run_says_what_it_would_do_and_does_nothing(tmp_path: Path):
    m = Machine(tmp_path, lacking={"redis-server", "chromium"})
    done = m.run("--dry-run", "--no-venv", euid=1000)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "setup: missing: redis-server (the local stack), chromium (browser tests)",
        "setup: would run: apt-get update -qq && apt-get install -y -qq "
        "--no-install-recommends redis-server chromium",
    ]
    assert m.apt() == []


def test_without_apt_get_it_names_what_is_missing(tmp_path: Path):
    m = Machine(tmp_path, lacking={"redis-server"}, apt=False)
    done = m.run("--no-venv")
    assert done.returncode == 1
    assert "setup: missing: redis-server (the local stack)" in done.stderr
    assert "no apt-get here" in done.stderr and "redis-server" in done.stderr.splitlines()[1]


def copy_of_the_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "scripts" / "setup.sh")
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return project / "scripts" / "setup.sh"


@pytest.mark.parametrize(
    ("venv", "expected"),
    [
        ("none", "setup: would create .venv (python3 -m venv) and install '.[dev]'"),
        ("stale", "setup: would install '.[dev]' into .venv"),
        ("fresh", "setup: nothing to do"),
    ],
)
def test_the_venv_is_made_once_and_again_when_pyproject_changes(
    tmp_path: Path, venv: str, expected: str
):
    m = Machine(tmp_path, lacking=set())
    script = copy_of_the_project(tmp_path)
    project = script.parent.parent
    if venv != "none":
        (project / ".venv" / "bin").mkdir(parents=True)
        (project / ".venv" / "bin" / "python").write_text(f"#!{BASH}\n")
        (project / ".venv" / "bin" / "python").chmod(0o755)
        stamp = project / ".venv" / ".installed"
        stamp.touch()
        pyproject = (project / "pyproject.toml").stat().st_mtime
        offset = -10 if venv == "stale" else 10
        os.utime(stamp, (pyproject + offset, pyproject + offset))
    done = m.run("--dry-run", script=script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [expected]


def test_make_and_ci_call_the_one_script():
    makefile = (ROOT / "Makefile").read_text()
    assert "dev: setup\n" in makefile and "test: setup " in makefile
    assert "scripts/setup.sh" in makefile
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/setup.sh\nmake test\n" in ci and "apt-get" not in ci


def test_helm_is_built_from_its_go_module_once(tmp_path: Path):
    m = Machine(tmp_path, lacking={"helm"})
    mkdir = shutil.which("mkdir") or "/bin/mkdir"  # go install makes GOBIN
    m.stub("go", f'#!{BASH}\necho "go $* GOBIN=$GOBIN" >> "$APT_LOG"; {mkdir} -p "$GOBIN"\n')
    script = copy_of_the_project(tmp_path)
    project = script.parent.parent
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").write_text(f"#!{BASH}\n")
    (project / ".venv" / "bin" / "python").chmod(0o755)
    (project / ".venv" / ".installed").touch()
    os.utime(project / ".venv" / ".installed", (4e9, 4e9))  # newer than pyproject.toml
    dry = m.run("--dry-run", script=script)
    assert dry.stdout.splitlines()[0].startswith("setup: would build helm v4.3.2 into .livegate")
    done = m.run(script=script)
    assert done.returncode == 0, done.stderr
    tools = project / ".livegate" / "tools"
    assert m.apt() == [f"go install helm.sh/helm/v4/cmd/helm@v4.3.2 GOBIN={tools}"]
    assert m.run(script=script).stdout == ""  # built once: found by its version stamp
    assert len(m.apt()) == 1

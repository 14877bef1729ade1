"""Obtain and cache the binaries of the local bed: kube-apiserver and kube-controller-manager built from
Debian's own ``kubernetes`` source package, etcd and etcdctl from Debian's ``etcd-server``/``etcd-client``.

Everything lands in ``<user cache>/kbmc/kube-<debian version>/bin`` with a manifest of SHA-256 sums; a
missing or corrupt cache is rebuilt. Nothing is installed system-wide: apt runs with private lists and
caches, and .deb files are unpacked with ``dpkg -x``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from kbmc.errors import ToolchainError

#: The Debian bookworm source package that carries Kubernetes 1.20.2 (vendor/ included).
KUBE_DEB_VERSION = "1.20.5+really1.20.2-1.1+deb12u1"
#: Binary packages unpacked next to the source: the Go toolchain, rsync for the build, the reflect2 fix, etcd.
DEB_PACKAGES = (
    "golang-1.19-go",
    "golang-1.19-src",
    "rsync",
    "libpopt0",
    "golang-github-modern-go-reflect2-dev",
    "etcd-server",
    "etcd-client",
)
#: Bumped whenever the build recipe changes, so caches built by an older recipe are rebuilt.
BUILD_REVISION = "kbmc2"
#: Source fixes applied before building: (file, text, replacement). Go >= 1.18 changed reflect.Value's
#: internals, so the vendored OpenAPI validators took every empty string for null and rejected "" in
#: custom resources ("must be of type string: null"); upstream kube-openapi later reduced the check to nil.
SOURCE_PATCHES = tuple(
    (path, "if data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data)) {",
     "if data == nil {")
    for path in ("vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go",
                 "vendor/github.com/go-openapi/validate/type.go")
)
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd", "etcdctl")
APT_SOURCES = "".join(
    f"{kind} [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/{repo} main\n"
    for repo in ("debian bookworm", "debian-security bookworm-security")
    for kind in ("deb", "deb-src")
)


@dataclass(frozen=True)
class Step:
    """One stage of the first-time build, shown to the user with how long it usually takes."""

    title: str
    usual: str


STEPS = (
    Step("fetch Debian package lists", "about 5 s"),
    Step("download the kubernetes source package, Go 1.19 and etcd", "about 10 s"),
    Step("unpack and patch the source for Go 1.19 (reflect2, OpenAPI validation)", "about 10 s"),
    Step("compile kube-apiserver and kube-controller-manager", "6 to 10 min on 2 cores"),
    Step("install into the cache", "a second"),
)

Progress = Callable[[Step, int], None]


def cache_root() -> Path:
    """Where versioned toolchains live (``KBMC_CACHE_DIR`` overrides the user cache directory)."""
    base = os.environ.get("KBMC_CACHE_DIR") or platformdirs.user_cache_dir("kbmc")
    return Path(base)


def toolchain_dir(version: str = KUBE_DEB_VERSION) -> Path:
    return cache_root() / f"kube-{version}-{BUILD_REVISION}"


@dataclass(frozen=True)
class Toolchain:
    """Paths of the bed's binaries."""

    bin_dir: Path

    def path(self, name: str) -> Path:
        return self.bin_dir / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(directory: Path) -> str | None:
    """Return why the cached toolchain in ``directory`` cannot be used, or None when it is sound."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return f"no manifest at {manifest}"
    try:
        sums: dict[str, str] = json.loads(manifest.read_text())["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"manifest {manifest} is unreadable ({exc})"
    for name in BINARIES:
        binary = directory / "bin" / name
        if not binary.is_file():
            return f"{binary} is missing"
        if sums.get(name) != _sha256(binary):
            return f"{binary} does not match its recorded checksum"
    return None


def bin_dir_override() -> str | None:
    """``KBMC_KUBE_BIN_DIR``: use binaries from there instead of building them."""
    return os.environ.get("KBMC_KUBE_BIN_DIR") or None


def ensure(progress: Progress | None = None, version: str = KUBE_DEB_VERSION) -> Toolchain:
    """Return a usable toolchain, building it first when the cache is missing or corrupt.

    ``KBMC_KUBE_BIN_DIR`` points at a directory that already holds the binaries (no build, no checks
    beyond their presence). Concurrent callers wait for one another through a lock file.
    """
    override = bin_dir_override()
    if override:
        missing = [n for n in BINARIES if not (Path(override) / n).is_file()]
        if missing:
            raise ToolchainError(f"KBMC_KUBE_BIN_DIR={override} lacks {', '.join(missing)}")
        return Toolchain(Path(override))
    target = toolchain_dir(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".kube-{version}.lock"):
        if verify(target) is None:
            return Toolchain(target / "bin")
        _build(target, version, progress or (lambda step, index: None))
    return Toolchain(target / "bin")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(target: Path, version: str, progress: Progress) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-source") is None:
        raise ToolchainError(
            "building the local clusters needs apt-get and dpkg-source (Debian or Ubuntu); elsewhere set "
            "KBMC_KUBE_BIN_DIR to a directory holding kube-apiserver, kube-controller-manager, etcd, etcdctl"
        )
    work = target.with_name(target.name + ".build")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        _build_in(work, target, version, progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_in(work: Path, target: Path, version: str, progress: Progress) -> None:
    runner = _Runner(target.parent / f"build-{version}.log")
    apt = _apt_options(work)
    root = work / "root"
    tree = work / "src" / "kubernetes"

    progress(STEPS[0], 0)
    runner.run("apt-get", *apt, "update", step=STEPS[0])

    progress(STEPS[1], 1)
    (work / "src").mkdir()
    (work / "debs").mkdir()
    runner.run("apt-get", *apt, "source", "--download-only", f"kubernetes={version}",
               cwd=work / "src", step=STEPS[1])
    runner.run("apt-get", *apt, "download", *DEB_PACKAGES, cwd=work / "debs", step=STEPS[1])

    progress(STEPS[2], 2)
    for deb in sorted((work / "debs").glob("*.deb")):
        runner.run("dpkg", "-x", str(deb), str(root), step=STEPS[2])
    dsc = next((work / "src").glob("kubernetes_*.dsc"))
    runner.run("dpkg-source", "--no-check", "-x", str(dsc), str(tree), step=STEPS[2])
    reflect2 = tree / "vendor/github.com/modern-go/reflect2"
    shutil.rmtree(reflect2)
    shutil.copytree(root / "usr/share/gocode/src/github.com/modern-go/reflect2", reflect2)
    for path, text, replacement in SOURCE_PATCHES:
        source = tree / path
        content = source.read_text()
        if text not in content:
            raise ToolchainError(f"step '{STEPS[2].title}' failed: {source} does not contain the code to patch")
        source.write_text(content.replace(text, replacement))
    gopath = work / "gopath"
    (gopath / "src/k8s.io").mkdir(parents=True)
    (gopath / "src/k8s.io/kubernetes").symlink_to(tree)

    progress(STEPS[3], 3)
    goroot = root / "usr/lib/go-1.19"
    env = {
        **os.environ,
        "GOROOT": str(goroot),
        "GOPATH": str(gopath),
        "GO111MODULE": "off",
        "GOFLAGS": "",
        "GOCACHE": str(work / "gocache"),
        "PATH": f"{goroot / 'bin'}:{root / 'usr/bin'}:{os.environ.get('PATH', '')}",
        "LD_LIBRARY_PATH": f"{root / 'usr/lib/x86_64-linux-gnu'}:{root / 'lib/x86_64-linux-gnu'}:"
        f"{root / 'usr/lib/aarch64-linux-gnu'}:{root / 'lib/aarch64-linux-gnu'}",
    }
    runner.run("make", "WHAT=cmd/kube-apiserver cmd/kube-controller-manager",
               cwd=gopath / "src/k8s.io/kubernetes", env=env, step=STEPS[3])

    progress(STEPS[4], 4)
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    built = next((tree / "_output/local/bin").glob("linux/*"))
    sources = {
        "kube-apiserver": built / "kube-apiserver",
        "kube-controller-manager": built / "kube-controller-manager",
        "etcd": root / "usr/bin/etcd",
        "etcdctl": root / "usr/bin/etcdctl",
    }
    for name, source in sources.items():
        shutil.copy2(source, staging / "bin" / name)
    manifest = {
        "debian_version": version,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sha256": {name: _sha256(staging / "bin" / name) for name in BINARIES},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    staging.rename(target)


def _apt_options(work: Path) -> list[str]:
    apt_dir = work / "apt"
    for sub in ("lists/partial", "cache/archives/partial"):
        (apt_dir / sub).mkdir(parents=True, exist_ok=True)
    sources = apt_dir / "sources.list"
    sources.write_text(APT_SOURCES)
    return [
        "-q",
        "-o", f"Dir::Etc::SourceList={sources}",
        "-o", "Dir::Etc::SourceParts=/dev/null",
        "-o", f"Dir::State::Lists={apt_dir / 'lists'}",
        "-o", f"Dir::Cache={apt_dir / 'cache'}",
        "-o", "Debug::NoLocking=1",
        "-o", "APT::Sandbox::User=root",
    ]


class _Runner:
    """Runs build commands with their output appended to one log file."""

    def __init__(self, log: Path) -> None:
        self.log = log
        log.write_text("")

    def run(self, *argv: str, step: Step, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        with self.log.open("a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            try:
                code = subprocess.call(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            except OSError as exc:
                raise ToolchainError(f"step '{step.title}' failed: {exc}; log: {self.log}") from exc
        if code != 0:
            raise ToolchainError(
                f"step '{step.title}' failed: `{' '.join(argv[:3])} ...` exited {code}; log: {self.log}"
            )

"""Obtain and cache the binaries of the local bed: kube-apiserver and kube-controller-manager built from
Debian's own ``kubernetes`` source package, etcd and etcdctl from Debian's ``etcd-server``/``etcd-client``;
and, in a cache of its own, redis-server, redis-sentinel and redis-cli from Debian's ``redis-tools``.

The kube binaries land in ``<user cache>/kbmc/kube-<debian version>-<revision>/bin``, Redis in
``<user cache>/kbmc/redis-<version>-<revision>/`` (``bin/`` wrappers, ``libexec/`` the programs, ``lib/`` the
libraries the host lacks), each with a manifest of SHA-256 sums; a missing or corrupt cache is rebuilt.
Nothing is installed system-wide: apt runs with private lists and caches, and .deb files are unpacked with
``dpkg -x``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
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
#: Redis as Debian bookworm ships it (``5:7.0.15-1~debNNuN``): the newest Debian revision of this upstream version
#: is fetched (bookworm-security keeps only its latest), and the versions fetched are recorded in the manifest.
REDIS_VERSION = "7.0.15"
#: Bumped whenever the Redis recipe changes (its cache only: the kube toolchain is not rebuilt).
REDIS_REVISION = "kbmc1"
#: ``redis-tools`` holds every program (``redis-check-rdb`` is the server, its mode taken from argv[0]'s name);
#: the two libraries it needs that a Debian host without Redis lacks.
REDIS_PACKAGES = ("redis-tools", "liblzf1", "libjemalloc2")
REDIS_LIBRARIES = ("liblzf.so.1", "libjemalloc.so.2")
#: The wrappers in ``bin/`` and what each runs from ``libexec/``.
REDIS_BINARIES = {"redis-server": "redis-check-rdb", "redis-sentinel": "redis-check-rdb", "redis-cli": "redis-cli"}
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

REDIS_STEPS = (
    Step("fetch Debian package lists", "about 5 s"),
    Step(f"download redis-tools {REDIS_VERSION}, liblzf1 and libjemalloc2", "a few seconds"),
    Step("unpack into the cache, with wrappers", "a second"),
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
    return _verify(directory, _kube_files())


def _kube_files() -> dict[str, Path]:
    return {name: Path("bin", name) for name in BINARIES}


def _verify(directory: Path, files: Mapping[str, Path]) -> str | None:
    """Why ``directory`` fails its manifest: every file of ``files`` (manifest key -> path in it) present with
    its recorded SHA-256."""
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        return f"no manifest at {manifest}"
    try:
        sums: dict[str, str] = json.loads(manifest.read_text())["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"manifest {manifest} is unreadable ({exc})"
    for key, relative in files.items():
        path = directory / relative
        if not path.is_file():
            return f"{path} is missing"
        if sums.get(key) != _sha256(path):
            return f"{path} does not match its recorded checksum"
    return None


def _install(staging: Path, target: Path, files: Mapping[str, Path], info: Mapping[str, object]) -> None:
    """Write ``staging``'s manifest (``info``, the time, the sums of ``files``) and rename it to ``target``."""
    manifest = {
        **info,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sha256": {key: _sha256(staging / relative) for key, relative in files.items()},
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    staging.rename(target)


def bin_dir_override() -> str | None:
    """``KBMC_KUBE_BIN_DIR``: use binaries from there instead of building them."""
    return os.environ.get("KBMC_KUBE_BIN_DIR") or None


def ensure(progress: Progress | None = None, version: str = KUBE_DEB_VERSION) -> Toolchain:
    """Return a usable toolchain, building it first when the cache is missing or corrupt.

    ``KBMC_KUBE_BIN_DIR`` points at a directory that already holds the binaries (no build, no checks
    beyond their presence). Concurrent callers wait for one another through a lock file.
    """
    override = _overridden("KBMC_KUBE_BIN_DIR", BINARIES)
    if override:
        return Toolchain(override)
    target = toolchain_dir(version)
    _cached(target, f".kube-{version}.lock", verify, lambda work: _build_in(
        work, target, version, progress or (lambda step, index: None)), (
        "building the local clusters needs apt-get and dpkg-source (Debian or Ubuntu); elsewhere set "
        "KBMC_KUBE_BIN_DIR to a directory holding kube-apiserver, kube-controller-manager, etcd, etcdctl"
    ), ("apt-get", "dpkg-source"))
    return Toolchain(target / "bin")


def redis_dir(version: str = REDIS_VERSION) -> Path:
    """The Redis cache: ``bin/`` (the wrappers), ``libexec/``, ``lib/``, ``manifest.json``."""
    return cache_root() / f"redis-{version}-{REDIS_REVISION}"


def redis_bin_dir_override() -> str | None:
    """``KBMC_REDIS_BIN_DIR``: use redis-server, redis-sentinel and redis-cli from there instead of Debian's."""
    return os.environ.get("KBMC_REDIS_BIN_DIR") or None


def cached_redis() -> Path | None:
    """The directory of redis-server, redis-sentinel and redis-cli if they are there already (never fetched)."""
    override = redis_bin_dir_override()
    directory = Path(override) if override else redis_dir() / "bin"
    return directory if all((directory / b).is_file() for b in REDIS_BINARIES) else None


def verify_redis(directory: Path) -> str | None:
    """Return why the Redis cache in ``directory`` cannot be used, or None when it is sound."""
    problem = _verify(directory, _redis_files())
    if problem is None:
        for name in REDIS_BINARIES:
            if (directory / "bin" / name).read_text() != _redis_wrapper(directory, name):
                return f"{directory / 'bin' / name} runs Redis from another directory"
    return problem


def ensure_redis(progress: Progress | None = None, version: str = REDIS_VERSION) -> Path:
    """Return the directory of the ``redis-server``, ``redis-sentinel`` and ``redis-cli`` wrappers, fetching
    Debian's packages into the cache first when it is missing or corrupt (as ``ensure``: lock, manifest).

    ``KBMC_REDIS_BIN_DIR`` points at a directory that already holds the three (no fetch, no checks beyond their
    presence).
    """
    override = _overridden("KBMC_REDIS_BIN_DIR", REDIS_BINARIES)
    if override:
        return override
    target = redis_dir(version)
    _cached(target, f".redis-{version}.lock", verify_redis, lambda work: _fetch_redis(
        work, target, version, progress or (lambda step, index: None)), (
        "fetching Redis for the local clusters needs apt-get and dpkg (Debian or Ubuntu); elsewhere set "
        "KBMC_REDIS_BIN_DIR to a directory holding redis-server, redis-sentinel, redis-cli"
    ), ("apt-get", "dpkg"))
    return target / "bin"


def _overridden(variable: str, binaries: Iterable[str]) -> Path | None:
    """The directory the environment variable names instead of the cache, once it holds every one of
    ``binaries`` (no other check); None when the variable is not set."""
    override = os.environ.get(variable)
    if not override:
        return None
    missing = [n for n in binaries if not (Path(override) / n).is_file()]
    if missing:
        raise ToolchainError(f"{variable}={override} lacks {', '.join(missing)}")
    return Path(override)


def _cached(target: Path, lock: str, check: Callable[[Path], str | None], build: Callable[[Path], None],
            needs: str, tools: tuple[str, ...]) -> None:
    """Under the lock file ``lock`` (beside ``target``): nothing when ``check(target)`` finds it sound, else
    ``build(work)`` in a fresh work directory (removed after; ``target`` removed before), which installs
    ``target``. ``tools`` must be on PATH, or the error is ``needs``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / lock):
        if check(target) is None:
            return
        if any(shutil.which(tool) is None for tool in tools):
            raise ToolchainError(needs)
        work = target.with_name(target.name + ".build")
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            build(work)
        finally:
            shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
    _install(staging, target, _kube_files(), {"debian_version": version})


def _redis_files() -> dict[str, Path]:
    programs = {*REDIS_BINARIES, *REDIS_BINARIES.values()}
    return {str(path): path for path in (*(Path("bin", n) for n in REDIS_BINARIES),
                                         *(Path("libexec", n) for n in sorted(programs)),
                                         *(Path("lib", n) for n in REDIS_LIBRARIES))}


def _redis_wrapper(directory: Path, name: str) -> str:
    """``bin/<name>``: ``libexec/<name>`` (a link to the program, so that argv[0] names the mode) with ``lib/``
    first on the library path. Absolute paths: the bed binds the wrapper alone into a pod's /kbmc/bin."""
    return (f"#!/bin/sh\n# {name} from Debian's redis-tools, cached by kbmc (kbmc.dev.toolchain.ensure_redis)\n"
            f"export LD_LIBRARY_PATH={shlex.quote(str(directory / 'lib'))}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}\n"
            f'exec {shlex.quote(str(directory / "libexec" / name))} "$@"\n')


def _fetch_redis(work: Path, target: Path, version: str, progress: Progress) -> None:
    runner = _Runner(target.parent / f"build-redis-{version}.log")
    apt = _apt_options(work)
    root = work / "root"

    progress(REDIS_STEPS[0], 0)
    runner.run("apt-get", *apt, "update", step=REDIS_STEPS[0])

    progress(REDIS_STEPS[1], 1)
    step = REDIS_STEPS[1]
    # "redis-tools | 5:7.0.15-1~deb12u10 | http://... Packages", newest first
    offered = [line.split("|")[1].strip() for line in runner.run(
        "apt-cache", *apt, "madison", "redis-tools", step=step, capture=True).splitlines()
        if line.split("|")[0].strip() == "redis-tools"]
    wanted = [v for v in offered if v.split(":")[-1].startswith(f"{version}-")]
    if not wanted:
        raise ToolchainError(f"step '{step.title}' failed: Debian offers no redis-tools {version} (only "
                             f"{', '.join(offered) or 'none'}); log: {runner.log}")
    (work / "debs").mkdir()
    runner.run("apt-get", *apt, "download", f"redis-tools={wanted[0]}", *REDIS_PACKAGES[1:],
               cwd=work / "debs", step=step)

    progress(REDIS_STEPS[2], 2)
    step = REDIS_STEPS[2]
    packages: dict[str, str] = {}
    for deb in sorted((work / "debs").glob("*.deb")):
        name, _, deb_version = runner.run("dpkg-deb", "--show", "--showformat=${Package} ${Version}", str(deb),
                                          step=step, capture=True).strip().partition(" ")
        packages[name] = deb_version
        runner.run("dpkg", "-x", str(deb), str(root), step=step)
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    for sub in ("bin", "libexec", "lib"):
        (staging / sub).mkdir(parents=True)
    for library in REDIS_LIBRARIES:
        found = sorted(root.glob(f"usr/lib/*/{library}")) + sorted(root.glob(f"lib/*/{library}"))
        if not found:
            raise ToolchainError(f"step '{step.title}' failed: no {library} in {', '.join(REDIS_PACKAGES[1:])}; "
                                 f"log: {runner.log}")
        shutil.copy2(found[0], staging / "lib" / library)  # the file the link names
    for name, program in REDIS_BINARIES.items():
        if not (staging / "libexec" / program).exists():
            shutil.copy2(root / "usr/bin" / program, staging / "libexec" / program)
        if name != program:
            (staging / "libexec" / name).symlink_to(program)
        wrapper = staging / "bin" / name
        wrapper.write_text(_redis_wrapper(target, name))
        wrapper.chmod(0o755)
    _install(staging, target, _redis_files(), {"redis_version": version, "debian_packages": packages})


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

    def run(self, *argv: str, step: Step, cwd: Path | None = None, env: dict[str, str] | None = None,
            capture: bool = False) -> str:
        """Run ``argv``; its output goes to the log (and is returned, with ``capture``: standard output)."""
        with self.log.open("a") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            out.flush()
            try:
                done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE if capture else out,
                                      stderr=out, stdin=subprocess.DEVNULL, text=True, check=False)
            except OSError as exc:
                raise ToolchainError(f"step '{step.title}' failed: {exc}; log: {self.log}") from exc
            out.write(done.stdout or "")
        if done.returncode != 0:
            raise ToolchainError(
                f"step '{step.title}' failed: `{' '.join(argv[:3])} ...` exited {done.returncode}; log: {self.log}"
            )
        return done.stdout or ""

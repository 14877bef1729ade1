"""``kbmc dev``: local clusters on real kube-apiservers, for the demo and the tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from kbmc.dev import toolchain
from kbmc.dev.bed import DEFAULT_BASE_PORT, Bed, BedState, default_dir, describe
from kbmc.errors import UsageError

app = typer.Typer(no_args_is_help=True, help="Local control-plane and data-plane clusters (no Docker needed).")
console = Console()

DirOption = Annotated[Path, typer.Option("--dir", help="Where the bed keeps its state and logs.",
                                         default_factory=default_dir, show_default="user state dir/kbmc/dev")]
NameArg = Annotated[str, typer.Argument(help="Cluster name: control, k8s-1, k8s-2, ...")]


def _progress(steps: tuple[toolchain.Step, ...]) -> toolchain.Progress:
    def show(step: toolchain.Step, index: int) -> None:
        console.print(f"[bold]\\[{index + 1}/{len(steps)}][/bold] {step.title} [dim](usually {step.usual})[/dim]")
    return show


def ensure_toolchain() -> toolchain.Toolchain:
    """The cached binaries, building them first (with progress) when missing or corrupt."""
    directory = toolchain.toolchain_dir()
    problem = None if toolchain.bin_dir_override() else toolchain.verify(directory)
    if problem is not None and not directory.exists():
        console.print(f"First run: building Kubernetes {toolchain.KUBE_DEB_VERSION} from Debian's source "
                      f"package into {directory}.")
    elif problem is not None:
        console.print(f"[yellow]The cached toolchain is unusable ({problem}); rebuilding it.[/yellow]")
    started = time.monotonic()
    result = toolchain.ensure(_progress(toolchain.STEPS))
    if problem is not None:
        console.print(f"Toolchain ready in {time.monotonic() - started:.0f} s.")
    return result


def ensure_redis() -> Path:
    """The cached redis-server, redis-sentinel and redis-cli (the bed runs Redis images with them), fetched
    first (with progress) when missing or corrupt."""
    directory = toolchain.redis_dir()
    problem = None if toolchain.redis_bin_dir_override() else toolchain.verify_redis(directory)
    if problem is not None and not directory.exists():
        console.print(f"First run: fetching Redis {toolchain.REDIS_VERSION} from Debian's packages into {directory}.")
    elif problem is not None:
        console.print(f"[yellow]The cached Redis is unusable ({problem}); fetching it again.[/yellow]")
    return toolchain.ensure_redis(_progress(toolchain.REDIS_STEPS))


@app.command("toolchain")
def toolchain_command() -> None:
    """Build (first time) or check the cached kube-apiserver, kube-controller-manager, etcd and Redis."""
    chain = ensure_toolchain()
    console.print(f"binaries: {chain.bin_dir}")
    console.print(f"redis: {ensure_redis()}")


@app.command()
def up(
    directory: DirOption,
    data_planes: Annotated[int | None, typer.Option("--data-planes", "-n",
                                                    help="Number of data planes (default 3).")] = None,
    base_port: Annotated[int, typer.Option(help="First port; clusters use base+i and base+100+2i.")]
    = DEFAULT_BASE_PORT,
    no_processes: Annotated[bool, typer.Option("--no-processes", help="Do not run etcd, Redis and kbmc pods as "
                                                                      "local processes (they are only reported "
                                                                      "Running).")] = False,
    start_delay: Annotated[float, typer.Option(min=0, help="Seconds a pod's containers wait before they first "
                                                           "start, as an image pull would make them.")] = 0.0,
) -> None:
    """Start the control plane and the data planes (or what is not running of an existing bed)."""
    bed = Bed(directory)
    chain = ensure_toolchain()
    if not no_processes:
        ensure_redis()
    started = time.monotonic()
    with console.status("starting etcd, kube-apiserver, kube-controller-manager and node agents..."):
        state = bed.up(chain, data_planes, base_port, processes=not no_processes, start_delay=start_delay)
    console.print(f"Bed ready in {time.monotonic() - started:.0f} s.")
    _print_status(bed, state)


@app.command()
def demo(directory: DirOption,
         base_port: Annotated[int, typer.Option(help="First port of the bed.")] = DEFAULT_BASE_PORT,
         engine: Annotated[str, typer.Option(help="The database: etcd (one raft group), or redis (Redis with "
                                                  "Sentinel).")] = "etcd") -> None:
    """Everything at once: the bed, kbmc installed, the operator, and a real etcd (or Redis with Sentinel) across
    k8s-1..k8s-3."""
    from kbmc.ops import demo as demo_ops  # noqa: PLC0415 - kopf and friends only when needed

    if engine not in demo_ops.ENGINES:
        raise UsageError(f"--engine {engine}: kbmc's demo runs {' or '.join(demo_ops.ENGINES)}")
    bed = Bed(directory)
    chain = ensure_toolchain()
    redis_bin = ensure_redis()
    with console.status("starting the local clusters..."):
        state = bed.up(chain, None, base_port)
    _print_status(bed, state)
    cluster = demo_ops.run(bed, state, lambda step: console.print(f"[green]✓[/green] {step}", highlight=False),
                           engine, redis_bin / "redis-cli")
    ctl = f"--kubeconfig {bed.kubeconfig} --context control"
    if engine == "redis":
        _redis_hints(bed, cluster, redis_bin, ctl)
        return
    instances = cluster["status"]["components"]["etcd"]["instances"]
    addresses = [i["addresses"][0] for i in instances if i.get("addresses")]
    console.print(f"\n[bold]etcd is running across {', '.join(i['dataPlane'] for i in instances)}.[/bold]")
    kbmc = "kbmc"
    etcdctl = demo_ops.etcdctl_hint(Path(state.bin_dir), addresses)
    console.print(f"""
Try:
  {kbmc} cluster describe {demo_ops.CLUSTER} {ctl}
  {etcdctl} member list -w table
  {etcdctl} put hello world
  {kbmc} dev stop k8s-2 --dir {bed.directory}           # lose a cluster: etcd keeps serving with 2 of 3
  {kbmc} dataplane mark-unavailable k8s-2 --reason "drill" {ctl}
  {kbmc} dev start k8s-2 --dir {bed.directory} && {kbmc} dataplane mark-available k8s-2 {ctl}
  {kbmc} dataplane list {ctl}
  kubectl {ctl} -n kb-system logs deploy/kbmc-operator   # the operator (two replicas, one leads)
  {kbmc} dev down --dir {bed.directory}                  # stop everything
""", highlight=False, soft_wrap=True)


def _redis_hints(bed: Bed, cluster: dict[str, Any], redis_bin: Path, ctl: str) -> None:
    components = cluster["status"]["components"]
    redis = components["redis"]["instances"]
    sentinel = components["redis-sentinel"]["instances"][0]["addresses"][0]
    name = cluster["metadata"]["name"]
    primary = next((i for i in redis if i.get("role") == "primary"), redis[0])
    lose, replica = primary["dataPlane"], next(i for i in redis if i is not primary)
    console.print(f"\n[bold]Redis is running across {', '.join(i['dataPlane'] for i in redis)}: primary "
                  f"{primary['name']} in {primary['dataPlane']}, Sentinel on every data plane.[/bold]")
    cli = redis_bin / "redis-cli"
    secret = f"{name}-redis-account-default"
    console.print(f"""
Try:
  kbmc cluster describe {name} {ctl}               # the ROLE column: one primary, two secondaries
  export REDISCLI_AUTH=$(kubectl {ctl} get secret {secret} -o jsonpath='{{.data.password}}' | base64 -d)
  {cli} -h {primary['addresses'][0]} set hello world
  {cli} -h {primary['addresses'][0]} wait 2 1000            # 2: both replicas have it (replication is asynchronous)
  {cli} -h {replica['addresses'][0]} get hello             # read on a replica in another data plane
  REDISCLI_AUTH=$(kubectl {ctl} get secret {name}-redis-sentinel-account-default -o jsonpath='{{.data.password}}' \\
    | base64 -d) {cli} -h {sentinel} -p 26379 sentinel get-master-addr-by-name {name}-redis
  kbmc dev stop {lose} --dir {bed.directory}           # lose the primary's cluster: Sentinel fails over
  kbmc dataplane mark-unavailable {lose} --reason "drill" {ctl}
  kbmc dev start {lose} --dir {bed.directory} && kbmc dataplane mark-available {lose} {ctl}
  kbmc cluster promote {name} --instance {replica['name']} {ctl}      # Sentinel moves the primary
  kbmc dev down --dir {bed.directory}                  # stop everything
""", highlight=False, soft_wrap=True)


@app.command()
def down(directory: DirOption) -> None:
    """Stop everything the bed started and remove its state."""
    Bed(directory).down()
    console.print(f"Stopped and removed {directory}.")


@app.command()
def status(directory: DirOption) -> None:
    """Show every cluster: URL, up / stopped / frozen, pids."""
    bed = Bed(directory)
    _print_status(bed, bed.load())


@app.command()
def stop(name: NameArg, directory: DirOption) -> None:
    """Stop one cluster (its etcd data is kept)."""
    Bed(directory).stop(name)
    console.print(f"{name} stopped.")


@app.command()
def start(name: NameArg, directory: DirOption) -> None:
    """Start a stopped cluster again, with its state."""
    Bed(directory).start(name)
    console.print(f"{name} started.")


@app.command()
def freeze(name: NameArg, directory: DirOption) -> None:
    """Pause a cluster's API server: connections are accepted and never answered."""
    Bed(directory).freeze(name)
    console.print(f"{name} frozen.")


@app.command()
def thaw(name: NameArg, directory: DirOption) -> None:
    """Resume a frozen cluster."""
    Bed(directory).thaw(name)
    console.print(f"{name} thawed.")


def _print_status(bed: Bed, state: BedState) -> None:
    table = Table("cluster", "role", "url", "state", "pids")
    colours = {"up": "green", "frozen": "cyan", "stopped": "red", "degraded": "yellow"}
    for row in describe(state):
        colour = colours.get(row["state"], "white")
        table.add_row(row["cluster"], row["role"], row["url"], f"[{colour}]{row['state']}[/{colour}]",
                      row["pids"])
    console.print(table)
    console.print(f"kubeconfig: {bed.kubeconfig}   (contexts: {', '.join(c.name for c in state.clusters)})")
    console.print(f"logs and audit logs: {bed.directory}/<cluster>/")
    console.print(f"try: kubectl --kubeconfig {bed.kubeconfig} --context k8s-1 get nodes")

"""Two "hosts" on this machine: network namespaces, each joined by a veth pair to a bridge in the root
namespace.

The bridge holds the servers' address (10.77.N.1/24), each host its own (10.77.N.2, .3, ...), all private:
the machine's own interfaces and routes are never touched (the bridge's /24 is its own connected route, gone
with it). Cutting a host sets the root end of its veth pair down: its packets are dropped, as behind a pulled
cable, and its TCP connections stall until the link is up again.
"""

import ipaddress
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass

SUBNET_PREFIX = "10.77"
HOST_NAMES = ("a", "b")


@dataclass(frozen=True)
class Host:
    """A network namespace: its name, its address, and the two ends of its veth pair."""

    name: str
    namespace: str
    address: str
    outside: str  # the veth end in the root namespace, on the bridge: the one a cut sets down
    inside: str  # the veth end in the namespace

    def prefix(self) -> list[str]:
        """The command prefix that runs a program on this host."""
        return ["ip", "netns", "exec", self.namespace]


@dataclass(frozen=True)
class Network:
    """A bridge holding the servers' address and the hosts plugged into it."""

    run_id: str
    bridge: str
    server_address: str
    hosts: tuple[Host, ...]

    def host(self, name: str) -> Host:
        """The host called `name`."""
        return next(host for host in self.hosts if host.name == name)


def plan(run_id: str, subnet: int, names: tuple[str, ...] = HOST_NAMES) -> Network:
    """The names and addresses of a network for run `run_id` on 10.77.`subnet`.0/24 (interface names stay
    within Linux's 15 characters)."""
    if not 1 <= subnet <= 254:
        raise ValueError(f"subnet {subnet} is not within 1..254")
    base = f"{SUBNET_PREFIX}.{subnet}"
    hosts = tuple(
        Host(
            name=name,
            namespace=f"nt-{run_id}-{name}",
            address=f"{base}.{index + 2}",
            outside=f"nt{run_id}{name}0",
            inside=f"nt{run_id}{name}1",
        )
        for index, name in enumerate(names)
    )
    return Network(run_id=run_id, bridge=f"nt{run_id}br", server_address=f"{base}.1", hosts=hosts)


def setup_commands(network: Network) -> list[list[str]]:
    """The `ip` commands that build the network."""
    commands = [
        ["ip", "link", "add", network.bridge, "type", "bridge"],
        ["ip", "addr", "add", f"{network.server_address}/24", "dev", network.bridge],
        ["ip", "link", "set", network.bridge, "up"],
    ]
    for host in network.hosts:
        commands += [
            ["ip", "netns", "add", host.namespace],
            ["ip", "link", "add", host.outside, "type", "veth", "peer", "name", host.inside],
            ["ip", "link", "set", host.inside, "netns", host.namespace],
            ["ip", "link", "set", host.outside, "master", network.bridge],
            ["ip", "link", "set", host.outside, "up"],
            ["ip", "-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", host.inside],
            ["ip", "-n", host.namespace, "link", "set", host.inside, "up"],
            ["ip", "-n", host.namespace, "link", "set", "lo", "up"],
        ]
    return commands


def teardown_commands(network: Network) -> list[list[str]]:
    """The `ip` commands that remove it: deleting a namespace deletes its veth pair."""
    return [["ip", "netns", "delete", host.namespace] for host in network.hosts] + [
        ["ip", "link", "delete", network.bridge]
    ]


def link_command(host: Host, up: bool) -> list[str]:
    """Set the root end of the host's veth pair up (plugged in) or down (cut off)."""
    return ["ip", "link", "set", host.outside, "up" if up else "down"]


def used_subnets(ip_output: str) -> set[int]:
    """The third octets of the 10.77.x.0/24 networks `ip -o -4 addr show` lists on this machine."""
    used = set()
    for line in ip_output.splitlines():
        for word in line.split():
            if word.startswith(f"{SUBNET_PREFIX}.") and "/" in word:
                used.add(ipaddress.ip_interface(word).ip.packed[2])
    return used


def unavailable_reason() -> str | None:
    """Why namespaces cannot be built here (not root, no `ip netns`), or None when they can."""
    if os.geteuid() != 0:
        return "building network namespaces needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "`ip netns` does not work here"
    return None


def run(command: list[str]) -> None:
    """Run one `ip` command; fail with its error output."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


class Namespaces:
    """Build the network on enter and remove it on exit (each step of the removal tried, failures or not)."""

    def __init__(self, names: tuple[str, ...] = HOST_NAMES) -> None:
        listed = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
        free = sorted(set(range(10, 250)) - used_subnets(listed))
        if not free:
            raise RuntimeError(f"no free {SUBNET_PREFIX}.x.0/24 network on this machine")
        self.network = plan(secrets.token_hex(2), secrets.choice(free), names)
        self.built = False

    def up(self) -> Network:
        """Build the bridge, the namespaces and their links."""
        self.built = True
        for command in setup_commands(self.network):
            run(command)
        return self.network

    def down(self) -> None:
        """Remove everything `up` built; safe to call twice."""
        if not self.built:
            return
        self.built = False
        for command in teardown_commands(self.network):
            subprocess.run(command, capture_output=True)

    def cut(self, host: Host) -> None:
        """Cut the host off: its link down."""
        run(link_command(host, up=False))

    def plug(self, host: Host) -> None:
        """Plug the host back in."""
        run(link_command(host, up=True))

    def __enter__(self) -> Network:
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc_info) -> None:
        self.down()

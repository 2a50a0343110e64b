"""The pages' scripts and styles, fetched once by `make` from the npm registry into .bin/web.

The services serve them (shared/docs.py), so /docs, /asyncapi/ and the insights dashboards' charts
work without internet. Only the files the pages load are kept, from tarballs pinned by version and
checked against their sha512: `npm pack` fetches a package without its dependencies
(@asyncapi/react-component would bring 245 packages, 124 MB, for one self-contained bundle) and
without running any install script.

Standard library only, so the Docker build can run it with a bare python3 beside npm.
"""

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

INTO = Path(__file__).resolve().parents[2] / ".bin" / "web"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity for this version
    files: tuple[str, ...]  # paths inside the package; LICENSE comes along with them


PACKAGES = (
    Package(
        "swagger-ui-dist",
        "5.35.0",
        "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"),
    ),
    # The version FastStream's AsyncAPI page is written for (faststream/specification/asyncapi/site.py).
    Package(
        "@asyncapi/react-component",
        "3.1.5",
        "sha512-Aq4I++uX6lOWxgBn+D7ly/GXasHjVcORz8eIGii8RgFjZ0i8mDth6LjFHb/yHVr3ANxLFLodXUgwEBhcSvfV/Q==",
        ("browser/standalone/index.js", "styles/default.min.css"),
    ),
    # The insights dashboards' charts (services/insights/pages): small, no dependencies, canvas.
    Package(
        "uplot",
        "1.6.32",
        "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==",
        ("dist/uPlot.iife.min.js", "dist/uPlot.min.css"),
    ),
)


def integrity_of(tarball: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()


def npm_pack(package: Package, workdir: Path) -> Path:
    done = subprocess.run(
        ["npm", "pack", f"{package.name}@{package.version}", "--json", "--pack-destination", str(workdir)],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"npm pack {package.name}@{package.version} failed:\n{done.stderr}")
    filename: str = json.loads(done.stdout)[0]["filename"]
    return workdir / filename


def unpack(package: Package, tarball: Path, into: Path) -> None:
    """Copy the listed files (and LICENSE) to into/<package name>/, refusing a tarball that differs."""
    found = integrity_of(tarball)
    if found != package.integrity:
        raise SystemExit(f"{package.name}@{package.version}: integrity {found}, expected {package.integrity}")
    target = into / package.name
    with tarfile.open(tarball) as tar:
        for path in (*package.files, "LICENSE"):
            member = tar.extractfile(f"package/{path}")
            if member is None:
                raise SystemExit(f"{package.name}@{package.version} has no file {path}")
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_bytes(member.read())


def install(into: Path) -> None:
    staging = into.with_name(into.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        for package in PACKAGES:
            unpack(package, npm_pack(package, Path(tmp)), staging)
    # Swapped in whole, so a failed run never leaves a half-filled folder that looks installed.
    shutil.rmtree(into, ignore_errors=True)
    staging.rename(into)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fetch the docs pages' scripts and styles from npm.")
    parser.add_argument("--into", type=Path, default=INTO)
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch the docs pages' scripts (install Node.js and npm)")
    install(args.into)
    print(
        f"docs assets in {args.into}: " + ", ".join(f"{p.name}@{p.version}" for p in PACKAGES),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()

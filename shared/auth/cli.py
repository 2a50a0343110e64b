"""`rn-token`: mint a development token signed with the local network's key."""

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from shared.auth.devkeys import mint_token
from shared.auth.principal import Role

PRIVATE_KEY = "dev-signing.pem"
# The repository this package is installed from (editable): where `make run` keeps its data.
REPO_DATA = Path(__file__).resolve().parents[2] / ".data"


def key_folder(keys: Path | None, env: Mapping[str, str]) -> tuple[Path, str]:
    """Where the network's signing key should be, and why there (for the error when it is not)."""
    if keys is not None:
        return keys, "--keys"
    if env.get("RN_DATA_DIR"):
        return Path(env["RN_DATA_DIR"]) / "keys", "RN_DATA_DIR"
    return REPO_DATA / "keys", "the repository's .data, where `make run` keeps it"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rn-token",
        description="Mint a development bearer token with the key of the running local network.",
    )
    parser.add_argument("--sub", required=True, help="user id")
    parser.add_argument("--org", required=True, help="organization id")
    parser.add_argument(
        "--role", action="append", required=True, choices=[r.value for r in Role], help="repeat for several"
    )
    parser.add_argument("--region", action="append", default=[], help="for network roles; repeat for several")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds until it expires")
    parser.add_argument(
        "--keys",
        type=Path,
        help=f"folder of the network's signing key (default: $RN_DATA_DIR/keys, else {REPO_DATA / 'keys'})",
    )
    args = parser.parse_args(argv)
    folder, why = key_folder(args.keys, os.environ)
    private = folder.resolve() / PRIVATE_KEY
    # Never make a key here: the network would reject every token signed with it.
    if not private.is_file():
        print(
            f"rn-token: no signing key at {private} (from {why}).\n"
            "Start the network once (`make run` creates the key), or point at its data folder with "
            "RN_DATA_DIR=<the --data of deploy.local.run> or --keys <folder holding dev-signing.pem>.",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print(
        mint_token(
            private,
            sub=args.sub,
            org=args.org,
            roles=[Role(r) for r in args.role],
            regions=args.region,
            ttl_seconds=args.ttl,
        )
    )


if __name__ == "__main__":
    main()

"""`rn-token`: mint a development token signed with the local key."""

import argparse
from pathlib import Path

from shared.auth.devkeys import ensure_keypair, mint_token
from shared.auth.principal import Role


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rn-token", description="Mint a development bearer token.")
    parser.add_argument("--sub", required=True, help="user id")
    parser.add_argument("--org", required=True, help="organization id")
    parser.add_argument(
        "--role", action="append", required=True, choices=[r.value for r in Role], help="repeat for several"
    )
    parser.add_argument("--region", action="append", default=[], help="for network roles; repeat for several")
    parser.add_argument("--ttl", type=int, default=12 * 3600, help="seconds until it expires")
    parser.add_argument("--keys", type=Path, default=Path(".data/keys"), help="folder of the dev signing key")
    args = parser.parse_args(argv)
    private, _ = ensure_keypair(args.keys)
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

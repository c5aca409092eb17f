"""The one entry point behind `make`: `python -m helpers.cli data|reports ...`.

Each subcommand's options are defined by the module that implements it.
"""

from __future__ import annotations

import sys

USAGE = """usage: python -m helpers.cli COMMAND [options]

commands:
  data      validate the input files and (re)build data/warehouse.duckdb
  reports   plan, execute and publish the reports for a month
  dashboards  rebuild the leadership dashboards from the published months [--force]
  where     print a location of the active profile: warehouse | raw | outputs [--profile P]
"""


def where(argv: list[str]) -> int:
    """``where warehouse|raw|outputs [--profile P]``: for the Makefile (no pandas imported)."""
    import argparse

    from helpers import paths, profile

    places = {"warehouse": paths.warehouse_path, "raw": paths.raw_dir, "outputs": paths.outputs_dir}
    ap = argparse.ArgumentParser(prog="python -m helpers.cli where")
    ap.add_argument("what", choices=list(places))
    ap.add_argument("--profile", default=None)
    args = ap.parse_args(argv)
    what = args.what
    try:
        profile.select(args.profile)
    except profile.ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(places[what]())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "data":
        from helpers.data.ingest import cli
    elif command == "reports":
        from helpers.engine.run import cli
    elif command == "dashboards":
        from helpers.publish.dashboards import cli
    elif command == "where":
        return where(rest)
    else:
        print(f"error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    return cli(rest)


if __name__ == "__main__":
    sys.exit(main())

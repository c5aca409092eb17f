"""The one entry point behind `make`: `python -m helpers.cli data|reports ...`.

Each subcommand's options are defined by the module that implements it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

USAGE = """usage: python -m helpers.cli COMMAND [options]

commands:
  data      validate the input files and (re)build data/warehouse.duckdb
  reports   plan, execute and publish the reports for a month (--month YYYY-MM),
            or for each month of a range (--months YYYY-MM..YYYY-MM)
  dashboards  rebuild the leadership dashboards from the published months [--force]
  preview   publish one report as leadership sees it, print its HTML path:
            preview --notebook FAMILY [--dept SLUG] [--month YYYY-MM] [--profile P] [--param ..]
  where     print a location of the active profile: warehouse | raw | outputs [--profile P]
"""


def preview(argv: list[str]) -> int:
    """``preview --notebook F [--dept D] [--month M]``: one report through the batch engine.

    The report is executed, published (HTML and PDF, the leadership template) and scanned as in
    ``make reports``, but into ``<outputs>/preview/`` so the published months are untouched.
    The month defaults to the family's default in ``params/suite.yaml``; the department to
    the notebook's default as it shows in JupyterLab (the profile's default department when
    needed). Prints the HTML path last.
    """
    import argparse

    from helpers import paths, profile
    from helpers.engine import params as eparams
    from helpers.engine.run import cli as reports_cli

    ap = argparse.ArgumentParser(prog="python -m helpers.cli preview")
    ap.add_argument("--notebook", required=True, help="report family, e.g. stocktake")
    ap.add_argument("--dept", default="", help="department slug (department-scope families)")
    ap.add_argument("--month", default="", help="YYYY-MM (default: the suite's default month)")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--param", action="append", default=[], help="[FAMILY.]NAME=VALUE")
    args = ap.parse_args(argv)
    try:
        profile.select(args.profile)
        prof = profile.active()
        suite = eparams.load_suite(paths.PARAMS_DIR / "suite.yaml")
        fam = suite.family_by_selector(args.notebook)
    except (profile.ProfileError, eparams.ParamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    month = args.month or str(fam.parameters["month"].default)
    if fam.scope == "province":
        dept = "province"
    else:
        dept = args.dept or str(fam.parameters["department"].default)
        if prof.default_department and dept not in _registry_slugs(prof):
            dept = prof.default_department
    outputs = paths.outputs_dir() / "preview"
    rest = [f"--month={month}", f"--dept={dept}", f"--notebook={fam.name}"]
    rest += [f"--outputs={outputs}", "--jobs=1"] + [f"--param={p}" for p in args.param]
    rest += [f"--profile={prof.name}"]
    status = reports_cli(rest)
    html = outputs / month / dept / f"{fam.name}.html"
    if html.is_file():
        print(f"preview: {html.absolute()}")
    elif status == 0:
        status = 1
    if status:
        print(
            f"preview: no report published (exit {status}); see the messages above", file=sys.stderr
        )
    return status


def _registry_slugs(prof) -> set[str]:
    import yaml

    doc = yaml.safe_load(prof.registry_file.read_text())
    return {str(d["slug"]) for d in doc.get("departments", [])}


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


def data(argv: list[str]) -> int:
    """``data``: Ctrl-C at any point, its imports (seconds of pandas) included, is one line and
    exit 130; the warehouse is replaced atomically, so the old one stands."""
    # During the imports Ctrl-C is only noted: a library's bare `except:` around an optional
    # import would otherwise swallow the KeyboardInterrupt and the load would go on.
    noted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: noted.append(signum))
    try:
        from helpers.data.ingest import cli
    finally:
        signal.signal(signal.SIGINT, previous)
    from helpers import interrupts

    try:
        if noted:
            raise KeyboardInterrupt
        with interrupts.handling():
            try:
                return cli(argv)
            except Exception:
                interrupts.check()  # an error DuckDB made of a Ctrl-C is still the Ctrl-C
                raise
    except KeyboardInterrupt:
        print("interrupted: the warehouse was not changed", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "data":
        return data(rest)
    elif command == "reports":
        from helpers.engine.run import cli
    elif command == "dashboards":
        from helpers.publish.dashboards import cli
    elif command == "where":
        return where(rest)
    elif command == "preview":
        return preview(rest)
    else:
        print(f"error: unknown command {command!r}\n{USAGE}", file=sys.stderr)
        return 2
    return cli(rest)


def _leave(code: int) -> None:
    """End a finished ``reports`` run without tearing down the interpreter: the month, the
    ledger and the logs are written and closed, the workers have stopped, and freeing the
    modules the driver imported (pandas, nbconvert, DuckDB ...) took 0.15-0.2 s of every run
    (the workers leave the same way)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    status = main()
    if sys.argv[1:2] == ["reports"]:
        _leave(status)
    sys.exit(status)

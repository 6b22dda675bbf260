"""The ``rankcore`` command: inspect, rank, plot and follow snapshot files.

Subcommands (``rankcore <cmd> --help`` for details)::

    rankcore info RUN
    rankcore rank RUN --eps 1e-6 [1e-4 ...] [--relative] [--layer NAME] [--csv]
    rankcore plot RUN [RUN ...] -o staircase.png [--eps ...] [--relative]
    rankcore watch RUN [--interval S] [--max-updates K] [--timeout S]
    rankcore report RUN [RUN ...] -o report.html [--eps ...] [--spectrum-steps ...]
    rankcore table RUN [RUN ...] --eps ... [--csv] [--layer NAME] [--relative]
                   [--scheduler ADDRESS | --workers N]
    rankcore --version

Errors print one line on stderr and exit with status 2.  Nothing here imports
torch; matplotlib (and tqdm) are imported only by ``plot`` and ``report``,
which say what to install when they are missing.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

__all__ = ["main"]

DEFAULT_EPS = [1e-6]


class CLIError(Exception):
    """An error to report as one line without a traceback."""


def _eps_list(values):
    out = []
    for v in values:
        try:
            e = float(v)
        except ValueError:
            raise CLIError(f"--eps values must be numbers, got {v!r}") from None
        if not (math.isfinite(e) and e > 0):
            raise CLIError(f"--eps values must be finite and > 0, got {v!r}")
        out.append(e)
    return out


def _eps_mode(relative):
    return ("relative: counts eigenvalues > eps * lambda_max" if relative
            else "absolute: counts eigenvalues > eps")


def _open(path):
    from .runs.reader import open_run
    return open_run(path)


class _Terminal:
    """A text stream that escapes control characters (newlines and tabs pass).

    Layer names, metadata and paths come from files anyone may have written;
    every subcommand writes through this, so none of them can reach the
    terminal raw.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        from .runs.format import printable
        return self._stream.write("\n".join(
            "\t".join(printable(part) for part in line.split("\t"))
            for line in text.split("\n")))

    def __getattr__(self, name):  # flush, fileno, isatty, ...
        return getattr(self._stream, name)


def _error_line(command, exc):
    """The one line on stderr for an error: control characters escaped."""
    from .runs.format import printable
    msg = str(exc).strip() or type(exc).__name__
    if not isinstance(exc, (CLIError, ValueError, TypeError, OSError)):
        msg = f"internal error ({type(exc).__name__}): {msg}"
    return f"rankcore {command}: error: {printable(msg)}\n"


def _layers(run, requested):
    if not requested:
        return list(run.layers)
    for name in requested:
        if name not in run.layers:
            raise CLIError(
                f"--layer {name!r} is not in {run.path!r}; its layers are {run.layers}")
    return list(requested)


def _fmt(x):
    return "nan" if not np.isfinite(x) else f"{x:.6g}"


# --- info --------------------------------------------------------------------

def cmd_info(args, out):
    with _open(args.run) as run:
        T = len(run)
        q = run.quadrature
        lines = [
            f"file:           {run.path} ({os.path.getsize(run.path) / 1e6:.3g} MB)",
            f"format:         rankcore-snapshots version {run.format_version}",
            f"snapshots:      {T}",
        ]
        if T:
            steps = run.steps
            loss = run.loss
            lines.append(f"steps:          {steps[0]} .. {steps[-1]}")
            fin = loss[np.isfinite(loss)]
            if fin.size:
                lines.append(f"loss:           first {_fmt(loss[0])}, last {_fmt(loss[-1])}, "
                             f"min {_fmt(fin.min())}")
            lines.append(f"wall time:      {_fmt(run.wall_time[-1])} s")
        box = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in q.box)
        lines.append(f"quadrature:     {q.n_points} points in {q.dim}-D box {box}")
        lines.append("layers:")
        for name in run.layers:
            stored = ["spectrum"]
            if run.has_grams(name):
                stored.append("gram")
            if run.has_features(name):
                stored.append("features")
            extra = ""
            if T:
                r = run.eps_rank(DEFAULT_EPS[0], layer=name)
                extra = f", eps-rank(1e-6, absolute) first {r[0]} last {r[-1]}"
            lines.append(f"  {name}: n={run.n_features(name)} ({'+'.join(stored)}){extra}")
        sc = run.scalars
        lines.append("scalars:        " + (", ".join(sc) if sc else "(none)"))
        lines.append("metadata:")
        for k, v in sorted(run.metadata.items()):
            s = str(v).replace("\n", " ")
            if len(s) > 100:
                s = s[:97] + "..."
            lines.append(f"  {k}: {s}")
    out.write("\n".join(lines) + "\n")
    return 0


# --- rank --------------------------------------------------------------------

def cmd_rank(args, out):
    eps = _eps_list(args.eps)
    mode = "rel" if args.relative else "abs"
    with _open(args.run) as run:
        layers = _layers(run, args.layer)
        cols = [run.steps, run.loss]
        names = ["step", "loss"]
        for name in layers:
            r = run.eps_rank(eps, layer=name, relative=args.relative)  # (T, E)
            for j, e in enumerate(eps):
                cols.append(r[:, j])
                names.append(f"{name}@{mode}_eps={e:g}")
        T = len(run)
    steps, loss, ranks = cols[0], cols[1], cols[2:]
    rank_mat = (np.stack(ranks, axis=1) if ranks else np.zeros((T, 0), np.int64))
    rank_txt = rank_mat.astype(str)
    loss_txt = [_fmt(v) for v in loss]
    if args.csv:
        rows = [",".join(names)]
        rows += [f"{s},{lt}," + ",".join(rr) for s, lt, rr in zip(steps, loss_txt, rank_txt)]
    else:
        rows = [f"# eps-rank, {_eps_mode(args.relative)}; {T} snapshots of {args.run}"]
        width = [max(8, len(n)) for n in names]
        rows.append("  ".join(n.rjust(w) for n, w in zip(names, width)))
        for s, lt, rr in zip(steps, loss_txt, rank_txt):
            cells = [str(s), lt, *rr]
            rows.append("  ".join(c.rjust(w) for c, w in zip(cells, width)))
    out.write("\n".join(rows) + "\n")
    return 0


# --- plot --------------------------------------------------------------------

def cmd_plot(args, out):
    eps = _eps_list(args.eps)
    try:
        import matplotlib
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise CLIError(f"plot needs matplotlib and tqdm ({exc.name} is missing): "
                       f"pip install rankcore[plot]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = []
    try:
        for p in tqdm(args.runs, desc="reading runs", unit="run", disable=None,
                      file=sys.stderr):
            runs.append(_open(p))
        layers = []
        for run in runs:
            for name in _layers(run, args.layer if args.layer else None):
                if name not in layers:
                    layers.append(name)
        if args.layer:
            for name in args.layer:
                if not any(name in r.layers for r in runs):
                    raise CLIError(f"--layer {name!r} is in none of the runs")
        n = len(layers)
        fig, axes = plt.subplots(n, 1, figsize=(10.5, 3.2 * n + 0.6), squeeze=False,
                                 sharex=True)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        styles = ["-", "--", ":", "-."]
        work = [(li, ri) for li in range(n) for ri in range(len(runs))]
        twins = {}
        for li, ri in tqdm(work, desc="plotting", unit="panel", disable=None,
                           file=sys.stderr):
            name, run = layers[li], runs[ri]
            ax = axes[li, 0]
            if li not in twins:
                twins[li] = ax.twinx()
                ax.set_yscale("log")
                ax.set_ylabel("loss (log)")
                twins[li].set_ylabel(f"eps-rank ({'relative' if args.relative else 'absolute'})")
                ax.set_title(f"layer {name}")
            tw = twins[li]
            if name not in run.layers or len(run) == 0:
                continue
            c = colors[ri % len(colors)]
            label = os.path.basename(run.path) if len(runs) > 1 else None
            steps = run.steps
            loss = run.loss
            ok = np.isfinite(loss) & (loss > 0)
            if ok.any():
                ax.plot(steps[ok], loss[ok], color=c, lw=1.0, alpha=0.55,
                        label=f"{label + ': ' if label else ''}loss")
            r = run.eps_rank(eps, layer=name, relative=args.relative)
            for j, e in enumerate(eps):
                tw.step(steps, r[:, j], where="post", color=c, lw=1.8,
                        ls=styles[j % len(styles)],
                        label=f"{label + ': ' if label else ''}rank eps={e:g}")
        for li in range(n):
            h1, l1 = axes[li, 0].get_legend_handles_labels()
            h2, l2 = twins[li].get_legend_handles_labels()
            if h1 or h2:
                twins[li].legend(h1 + h2, l1 + l2, fontsize=7, loc="center left",
                                 bbox_to_anchor=(1.1, 0.5), frameon=False)
            twins[li].yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[-1, 0].set_xlabel("step")
        fig.suptitle("loss and eps-rank (staircase)")
        fig.tight_layout()
        fig.savefig(args.output, dpi=args.dpi)
        plt.close(fig)
    finally:
        for run in runs:
            run.close()
    out.write(f"wrote {args.output} ({len(layers)} panel(s), {len(runs)} run(s), "
              f"eps {', '.join(f'{e:g}' for e in eps)} "
              f"{'relative' if args.relative else 'absolute'})\n")
    return 0


# --- watch -------------------------------------------------------------------

def cmd_watch(args, out):
    eps = _eps_list(args.eps)
    if args.interval <= 0:
        raise CLIError(f"--interval must be > 0, got {args.interval}")
    if args.max_updates is not None and args.max_updates < 1:
        raise CLIError(f"--max-updates must be >= 1, got {args.max_updates}")
    if args.timeout is not None and not args.timeout > 0:
        raise CLIError(f"--timeout must be > 0 seconds, got {args.timeout}")
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    polls = 0
    if not os.path.exists(args.run):
        # the recorder creates the file at the first recorded step
        out.write(f"# waiting for {args.run} to appear\n")
        out.flush()
        while not os.path.exists(args.run):
            polls += 1
            if args.max_updates is not None and polls >= args.max_updates:
                raise CLIError(f"{args.run!r} did not appear after {polls} polls")
            if deadline is not None and time.monotonic() >= deadline:
                raise CLIError(f"{args.run!r} did not appear within --timeout "
                               f"{args.timeout:g} s")
            try:
                time.sleep(args.interval)
            except KeyboardInterrupt:
                return 0
    with _open(args.run) as run:
        layers = _layers(run, args.layer)
        out.write(f"# following {args.run}; eps-rank {_eps_mode(args.relative)}; "
                  f"eps {', '.join(f'{e:g}' for e in eps)}; Ctrl-C to stop\n")
        out.write("step  loss  " + "  ".join(f"{name}" for name in layers) + "\n")
        out.flush()
        shown = 0
        try:
            while True:
                T = len(run)
                if T > shown:
                    steps = run.steps
                    loss = run.loss
                    ranks = {name: run.eps_rank(eps, layer=name, relative=args.relative)
                             for name in layers}
                    lines = []
                    for t in range(shown, T):
                        rk = "  ".join("/".join(str(v) for v in ranks[name][t])
                                       for name in layers)
                        lines.append(f"{steps[t]}  {_fmt(loss[t])}  {rk}")
                    out.write("\n".join(lines) + "\n")
                    out.flush()
                    shown = T
                # the writer's end-of-run marker (older rankcore: never set)
                if getattr(run, "finished", False):
                    out.write(f"# run finished: {T} snapshots\n")
                    break
                polls += 1
                if args.max_updates is not None and polls >= args.max_updates:
                    break
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        out.write(f"# --timeout {args.timeout:g} s reached, run not "
                                  f"finished: {T} snapshots so far\n")
                        break
                    time.sleep(min(args.interval, left))
                else:
                    time.sleep(args.interval)
                run.refresh()
        except KeyboardInterrupt:
            pass
    return 0


# --- report ------------------------------------------------------------------

def cmd_report(args, out):
    eps = _eps_list(args.eps)
    from .runs.report import write_report
    try:
        write_report(args.runs, args.output, eps=eps, relative=args.relative,
                     layers=args.layer, spectrum_steps=args.spectrum_steps,
                     title=args.title)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    out.write(f"wrote {args.output} ({len(args.runs)} run(s), eps "
              f"{', '.join(f'{e:g}' for e in eps)} "
              f"{'relative' if args.relative else 'absolute'})\n")
    return 0


# --- table -------------------------------------------------------------------

def cmd_table(args, out):
    from .runs.table import dask_client, format_table, runs_table
    eps = _eps_list(args.eps)
    if args.layer and len(args.layer) > 1:
        raise CLIError(f"--layer takes one layer for table, got {args.layer}")
    try:
        with dask_client(args.scheduler, args.workers):
            # a remote scheduler's workers run elsewhere: absolute paths
            paths = ([os.path.abspath(p) for p in args.runs] if args.scheduler
                     else args.runs)
            table = runs_table(paths, eps, layer=args.layer[0] if args.layer else None,
                               relative=args.relative)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    out.write(format_table(table, csv=args.csv))
    errors = [e for e in (table["error"] if not isinstance(table, list)
                          else [r["error"] for r in table]) if e]
    if errors:
        sys.stderr.write(f"rankcore table: {len(errors)} of {len(args.runs)} files could "
                         "not be read (see the error column)\n")
        return 1
    return 0


# --- entry point -------------------------------------------------------------

def _parser():
    p = argparse.ArgumentParser(
        prog="rankcore",
        description="Inspect rankcore snapshot files (HDF5 written by "
                    "bridge.SnapshotRecorder): eps-rank of layer features during "
                    "training, staircase plots, live following.")
    from . import __version__
    p.add_argument("--version", action="version", version=f"rankcore {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def eps_opts(sp, default=DEFAULT_EPS):
        sp.add_argument("--eps", nargs="+", default=[str(e) for e in default],
                        metavar="EPS",
                        help="one or more tolerances (default: "
                             f"{' '.join(f'{e:g}' for e in default)})")
        sp.add_argument("--relative", action="store_true",
                        help="count eigenvalues > eps * lambda_max instead of the "
                             "paper's absolute lambda > eps")
        sp.add_argument("--layer", action="append", metavar="NAME",
                        help="layer to use (repeatable; default: all layers)")

    s = sub.add_parser("info", help="summary of a run",
                       description="Print a summary of a snapshot file: snapshots, "
                                   "steps, loss, layers, scalars, metadata.")
    s.add_argument("run", help="snapshot file (.h5)")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("rank", help="eps-rank per snapshot",
                       description="Print the eps-rank of every snapshot from the "
                                   "stored spectra (one column per layer and eps).")
    s.add_argument("run", help="snapshot file (.h5)")
    eps_opts(s)
    s.add_argument("--csv", action="store_true", help="comma-separated output")
    s.set_defaults(func=cmd_rank)

    s = sub.add_parser("plot", help="staircase plot (loss and eps-rank vs step)",
                       description="Plot loss (log axis) and eps-rank (step line) "
                                   "against the step, one panel per layer, several "
                                   "runs overlaid.")
    s.add_argument("runs", nargs="+", metavar="RUN", help="snapshot file(s)")
    s.add_argument("-o", "--output", default="staircase.png",
                   help="output image (PNG, PDF or SVG by extension; "
                        "default staircase.png)")
    s.add_argument("--dpi", type=int, default=120, help="resolution (default 120)")
    eps_opts(s)
    s.set_defaults(func=cmd_plot)

    s = sub.add_parser("watch", help="follow a run that is being written",
                       description="Print each new snapshot (step, loss, eps-ranks "
                                   "per layer, '/'-separated per eps) as it appears.")
    s.add_argument("run", help="snapshot file (.h5)")
    eps_opts(s)
    s.add_argument("--interval", type=float, default=2.0,
                   help="seconds between polls (default 2)")
    s.add_argument("--max-updates", type=int, default=None, metavar="K",
                   help="stop after K polls (default: until the run is finished)")
    s.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop after S seconds even if the run is not finished")
    s.set_defaults(func=cmd_watch)

    s = sub.add_parser("report", help="self-contained HTML report of one or more runs",
                       description="Write one HTML page (images inline, no network "
                                   "access): loss and eps-rank over training for "
                                   "every layer, the staircase table, spectra at "
                                   "chosen steps and each run's metadata.")
    s.add_argument("runs", nargs="+", metavar="RUN", help="snapshot file(s)")
    s.add_argument("-o", "--output", default="report.html",
                   help="output HTML file (default report.html)")
    s.add_argument("--spectrum-steps", type=int, nargs="+", default=None, metavar="STEP",
                   help="training steps whose spectra are shown (nearest snapshot; "
                        "default: five evenly spaced)")
    s.add_argument("--title", default=None, help="page title")
    eps_opts(s, default=(1e-3, 1e-6))
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("table", help="one summary row per run, in parallel on Dask",
                       description="Summarise many snapshot files: snapshots, steps, "
                                   "final and minimum loss, eps-rank at the first and "
                                   "last snapshot, staircase statistics; a file that "
                                   "cannot be read gets a row with its error (exit "
                                   "status 1).  Files are read on a Dask cluster with "
                                   "--scheduler or --workers.")
    s.add_argument("runs", nargs="+", metavar="RUN", help="snapshot file(s)")
    eps_opts(s)
    s.add_argument("--csv", action="store_true", help="comma-separated output, all columns")
    s.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a running Dask scheduler (or a scheduler .json file)")
    s.add_argument("--workers", type=int, default=None, metavar="N",
                   help="start a local Dask cluster of N worker processes")
    s.set_defaults(func=cmd_table)
    return p


def main(argv=None):
    """Run the ``rankcore`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on an error (reported as one line on stderr, control
        characters escaped), 130 when interrupted.

    Examples
    --------
    >>> from rankcore.cli import main
    >>> main(["info", "no-such-run.h5"])  # one line on stderr, no traceback
    2
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return int(exc.code or 0)
    try:
        return args.func(args, _Terminal(sys.stdout))
    except BrokenPipeError:  # e.g. `rankcore rank RUN | head`
        return 0
    except KeyboardInterrupt:
        sys.stderr.write(f"rankcore {args.command}: interrupted\n")
        return 130
    except Exception as exc:  # bad files and arguments: one line, never a traceback
        sys.stderr.write(_error_line(args.command, exc))
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""A self-contained HTML report comparing recorded runs.

:func:`write_report` reads one or more snapshot files and writes a single HTML
page with everything inline: loss and ε-rank over time for several ε (every
recorded layer), the staircase table of :func:`rankcore.staircase`, the
spectrum at chosen steps, and each run's metadata.  Figures are PNG images
embedded as ``data:`` URLs; the page loads nothing from the network (its
Content-Security-Policy forbids it) and runs no script.  Every text that comes
from a file is HTML-escaped.  Needs matplotlib (``pip install rankcore[plot]``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os

import numpy as np

from ..validation import check_bool, describe

__all__ = ["write_report", "html_report", "DEFAULT_EPS"]

#: Tolerances shown by default (absolute).
DEFAULT_EPS = (1e-3, 1e-6)

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f4f4f4}td.t,th.t{text-align:left}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
img{max-width:100%;height:auto}.meta td{text-align:left;max-width:800px;word-break:break-all}
"""


def _esc(x):
    return html.escape(str(x), quote=True)


def _fmt(v, spec=".3g"):
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else format(v, spec)
    return str(v)


def _png(fig, plt):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(fig, plt, fid, caption):
    data = _png(fig, plt)
    return (f'<figure><img id="{_esc(fid)}" alt="{_esc(caption)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_esc(caption)}'
            f'</figcaption></figure>')


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the HTML report needs matplotlib: pip install "
                          "rankcore[plot]") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _label(run, runs):
    return os.path.basename(run.path) if len(runs) > 1 else "run"


def _time_figure(plt, runs, layer, eps, relative):
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    for k, run in enumerate(runs):
        if layer not in run.layers or len(run) == 0:
            continue
        c = colors[k % len(colors)]
        lab = _label(run, runs)
        steps, loss = run.steps, run.loss
        ok = np.isfinite(loss) & (loss > 0)
        if ok.any():
            ax1.semilogy(steps[ok], loss[ok], color=c, lw=0.8, alpha=0.45,
                         label=f"{lab}: loss")
            ax1.semilogy(steps[ok], np.minimum.accumulate(loss[ok]), color=c, lw=1.8,
                         label=f"{lab}: running minimum")
        r = run.eps_rank(list(eps), layer=layer, relative=relative)
        for j, e in enumerate(eps):
            ax2.step(steps, r[:, j], where="post", color=c, ls=styles[j % len(styles)],
                     lw=1.6, label=f"{lab}: eps={e:g}")
    ax1.set_ylabel("loss (log)")
    ax2.set_ylabel(f"eps-rank ({'relative' if relative else 'absolute'})")
    ax2.set_xlabel("training step")
    ax1.set_title(f"layer {layer}")
    for ax in (ax1, ax2):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _spectrum_figure(plt, run, layer, picks, eps, relative):
    fig, ax = plt.subplots(figsize=(8, 4))
    spec = run.spectra(layer)
    steps = run.steps
    cmap = plt.get_cmap("viridis")
    for k, i in enumerate(picks):
        lam = spec[i]
        pos = lam > 0
        ax.semilogy(np.flatnonzero(pos) + 1, lam[pos], marker=".", ms=3, lw=1,
                    color=cmap(k / max(1, len(picks) - 1)), label=f"step {steps[i]}")
    for e in eps:
        lvl = e * spec[picks[-1], 0] if relative else e
        ax.axhline(lvl, color="k", lw=0.6, ls=":")
        ax.annotate(f"eps={e:g}", (1, lvl), fontsize=7, va="bottom")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue of the Gram matrix")
    ax.set_title(f"{_label(run, [run, run])}: spectrum of layer {layer}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _picks(run, spectrum_steps):
    T = len(run)
    if T == 0:
        return []
    steps = run.steps
    if spectrum_steps is None:
        idx = np.unique(np.round(np.linspace(0, T - 1, min(T, 5))).astype(int))
    else:
        idx = np.unique([int(np.argmin(np.abs(steps - s))) for s in spectrum_steps])
    return [int(i) for i in idx]


def _staircase_rows(run, layer, eps, relative):
    from .staircase import staircase
    rows, details = [], []
    for e in eps:
        try:
            s = staircase(run, e, layer=layer, relative=relative)
        except ValueError as exc:
            rows.append(f'<tr><td class="t">{_esc(layer)}</td><td>{e:g}</td>'
                        f'<td class="t" colspan="8">not available: {_esc(exc)}</td></tr>')
            continue
        st = s.stats
        rows.append(
            f'<tr><td class="t">{_esc(layer)}</td><td>{e:g}</td>'
            f'<td>{st["n_loss_steps"]}</td><td>{st["n_rank_rises"]}</td>'
            f'<td>{st["n_pairs"]}</td><td>{_fmt(st["correlation"], ".2f")}</td>'
            f'<td>{_fmt(st["lagged_correlation"], ".2f")} (lag {st["correlation_lag"]})</td>'
            f'<td>{_fmt(st["loss_decades"], ".2f")}</td>'
            f'<td>{100 * st["loss_fraction_in_rises"]:.0f}%</td>'
            f'<td>{100 * st["time_fraction_in_rises"]:.0f}%</td></tr>')
        body = "".join(
            f'<tr><td class="t">{_esc(kind)}</td><td>{a}</td><td>{b}</td>'
            f'<td>{_fmt(float(x))}</td><td>{_fmt(float(y))}</td><td>{_fmt(lag)}</td></tr>'
            for kind, a, b, x, y, lag in s.table())
        details.append(
            f'<details><summary>steps of layer {_esc(layer)}, eps={e:g}</summary>'
            f'<table><tr><th class="t">kind</th><th>start</th><th>end</th>'
            f'<th>before</th><th>after</th><th>lag of pair</th></tr>{body}</table>'
            f'</details>')
    return rows, details


def _metadata_table(run):
    items = [("file", run.path), ("snapshots", len(run)),
             ("finished", getattr(run, "finished", "unknown")),
             ("layers", ", ".join(f"{n} (n={run.n_features(n)})" for n in run.layers)),
             ("quadrature", f"{run.quadrature.n_points} points in "
                            f"{run.quadrature.dim}-D box {run.quadrature.box.tolist()}")]
    if len(run):
        items.append(("steps", f"{run.steps[0]} .. {run.steps[-1]}"))
    for k, v in sorted(run.metadata.items()):
        s = str(v)
        items.append((k, s if len(s) <= 400 else s[:397] + "..."))
    return ('<table class="meta">' + "".join(
        f'<tr><th class="t">{_esc(k)}</th><td>{_esc(v)}</td></tr>' for k, v in items)
        + "</table>")


def html_report(paths, *, eps=DEFAULT_EPS, relative=False, layers=None,
                spectrum_steps=None, title=None):
    """The HTML text of a report on one or more snapshot files.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Snapshot files (read with :func:`rankcore.open_run`).
    eps : sequence of float
        Tolerances of the ε-rank curves and staircase tables.
    relative : bool
        Count λ > ε·λ_max instead of λ > ε.
    layers : sequence of str, optional
        Layers to show (default: every layer of every run).
    spectrum_steps : sequence of int, optional
        Training steps whose spectra are plotted (the nearest snapshot of
        each); default five evenly spaced snapshots.
    title : str, optional
        Title and heading of the page (HTML-escaped); default
        ``"rankcore report: "`` followed by the file names.

    Returns
    -------
    str
        The whole HTML page, figures embedded as ``data:`` images.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> import rankcore
    >>> from rankcore.runs.report import html_report
    >>> q = rankcore.quadrature.gauss_legendre((0.0, 1.0), 8)
    >>> path = os.path.join(tempfile.mkdtemp(), "run.h5")
    >>> with rankcore.SnapshotWriter(path, q, {"h": 3}, store_gram=False) as w:
    ...     for t in range(6):
    ...         _ = w.append(10 * t, loss=10.0 ** -t, spectra={"h": [1.0, 10.0 ** -t, 1e-9]})
    >>> page = html_report([path], title="<demo>")
    >>> page.count("<img "), "&lt;demo&gt;" in page, "<demo>" in page
    (2, True, False)
    """
    plt = _matplotlib()
    from .reader import open_run

    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("paths must name at least one snapshot file")
    try:
        eps = [float(e) for e in np.atleast_1d(np.asarray(eps, dtype=np.float64))]
    except (TypeError, ValueError):
        raise TypeError(f"eps must be a number or a sequence of numbers, got "
                        f"{describe(eps)}") from None
    if not eps or not all(math.isfinite(e) and e > 0 for e in eps):
        raise ValueError(f"eps must be finite and > 0, got {eps!r}")
    check_bool(relative, "relative")
    if layers is not None and (isinstance(layers, str) or not all(
            isinstance(x, str) for x in layers)):
        raise TypeError(f"layers must be a sequence of layer names, got {describe(layers)}")
    runs = []
    try:
        for p in paths:
            runs.append(open_run(p))
        names = []
        for run in runs:
            for n in run.layers:
                if n not in names:
                    names.append(n)
        if layers is not None:
            for n in layers:
                if n not in names:
                    raise ValueError(f"layer {n!r} is in none of the runs; their layers "
                                     f"are {names}")
            names = list(layers)
        title = title or "rankcore report: " + ", ".join(os.path.basename(p) for p in paths)
        out = []
        out.append("<h2>Loss and eps-rank over training</h2>")
        for k, layer in enumerate(names):
            out.append(_figure(_time_figure(plt, runs, layer, eps, relative), plt,
                               f"fig-time-{k}",
                               f"Loss (thin: raw, thick: running minimum) and eps-rank "
                               f"of layer {layer}, eps = {', '.join(f'{e:g}' for e in eps)}"))
        out.append("<h2>Staircase: steps of the loss and of the eps-rank</h2>")
        out.append("<p>Detected by <code>rankcore.staircase</code> (method in "
                   "docs/theory.md): loss steps on the running minimum of log10 "
                   "loss, eps-rank steps after a 3-snapshot median filter; "
                   "'in rises' is the share of the loss decrease (decades) inside "
                   "eps-rank rises, next to the share of the training time they "
                   "cover.</p>")
        for run in runs:
            rows, details = [], []
            for layer in names:
                if layer in run.layers and len(run):
                    r, d = _staircase_rows(run, layer, eps, relative)
                    rows += r
                    details += d
            out.append(f"<h3>{_esc(os.path.basename(run.path))}</h3>")
            out.append(
                '<table><tr><th class="t">layer</th><th>eps</th><th>loss steps</th>'
                '<th>rank rises</th><th>pairs</th><th>correlation</th>'
                '<th>lagged correlation</th><th>loss decades</th><th>loss decrease in '
                'rises</th><th>time in rises</th></tr>' + "".join(rows) + "</table>")
            out += details
        out.append("<h2>Spectra at chosen steps</h2>")
        for ri, run in enumerate(runs):
            picks = _picks(run, spectrum_steps)
            for li, layer in enumerate(names):
                if layer not in run.layers or not picks:
                    continue
                out.append(_figure(
                    _spectrum_figure(plt, run, layer, picks, eps, relative), plt,
                    f"fig-spectrum-{ri}-{li}",
                    f"{os.path.basename(run.path)}: eigenvalues of layer {layer} at steps "
                    f"{', '.join(str(run.steps[i]) for i in picks)}"))
        out.append("<h2>Runs</h2>")
        for run in runs:
            out.append(f"<h3>{_esc(os.path.basename(run.path))}</h3>")
            out.append(_metadata_table(run))
    finally:
        for run in runs:
            run.close()
    from ..version import __version__
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            'img-src data:; style-src \'unsafe-inline\'">'
            f'<title>{_esc(title)}</title><style>{_CSS}</style></head><body>'
            f'<h1>{_esc(title)}</h1><p>Written by rankcore {_esc(__version__)} on {now}; '
            f'eps-rank {"relative (lambda > eps * lambda_max)" if relative else "absolute (lambda > eps)"}.'
            '</p>')
    return head + "\n".join(out) + "</body></html>\n"


def write_report(paths, output, **kwargs):
    """Write :func:`html_report` of ``paths`` to the file ``output``.

    The page is written to a temporary file next to ``output`` and renamed,
    so an interrupted run leaves no half-written report.  Keyword arguments
    are those of :func:`html_report`.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Snapshot files, as for :func:`html_report`.
    output : str or os.PathLike
        File to write; its directory must exist.
    **kwargs
        Keyword arguments of :func:`html_report`.

    Returns
    -------
    str
        ``output``, as a str path.

    Examples
    --------
    >>> from rankcore.runs.report import write_report
    >>> write_report([], "x.html")
    Traceback (most recent call last):
    ...
    ValueError: paths must name at least one snapshot file
    """
    output = os.fspath(output)
    # checked before the (slow) report is built
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"output {output!r}: the directory {folder!r} does not exist")
    if os.path.isdir(output):
        raise IsADirectoryError(f"output must be a file name, got the directory {output!r}")
    text = html_report(paths, **kwargs)
    tmp = os.path.join(os.path.dirname(os.path.abspath(output)),
                       f".{os.path.basename(output)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, output)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return output

"""HTML report (checked in a real headless browser) and CLI polish: --version, watch ending."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import rankcore
from rankcore.cli import main
from rankcore.runs import SnapshotWriter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EVIL = '<script>window.__pwned=1</script>&"\''


def _browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _write_run(path, seed, T=40, finish=True):
    """A synthetic staircase run with two layers, through the public writer."""
    rng = np.random.default_rng(seed)
    q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 16)
    w = SnapshotWriter(path, q, {"features": 8, "hidden.2:input": 8}, store_gram=False,
                       metadata={"init": f"seed {seed}", "note": EVIL})
    for t in range(T):
        r = 2 + (t >= 10) + 2 * (t >= 25)
        lam = np.where(np.arange(8) < r, 1.0, 1e-8) * np.linspace(1, 0.1, 8)
        loss = 10.0 ** (-0.3 * r) * (1 + 0.05 * rng.random())
        w.append(10 * t, loss=loss, spectra={"features": lam, "hidden.2:input": lam[::-1][
            np.argsort(-lam[::-1])]})
    if finish:
        w.close()
    return w


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    a, b = d / "run_a.h5", d / "run_b.h5"
    _write_run(a, 0)
    _write_run(b, 1)
    return a, b


_CHECK = """<script>
window.__errs = [];
window.addEventListener('error', function (e) {
  window.__errs.push('error: ' + (e.message || (e.target && e.target.outerHTML || '').slice(0, 80)));
}, true);
document.addEventListener('securitypolicyviolation', function (e) {
  window.__errs.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI);
});
['error', 'warn'].forEach(function (k) {
  var orig = console[k];
  console[k] = function () { window.__errs.push('console.' + k + ': ' +
    Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments); };
});
window.addEventListener('load', function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return {id: i.id, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}; });
  var pre = document.createElement('pre');
  pre.id = 'report-check';
  pre.textContent = JSON.stringify({imgs: imgs, errs: window.__errs,
    pwned: window.__pwned || 0, title: document.title,
    tables: document.querySelectorAll('table').length});
  document.body.appendChild(pre);
});
</script>"""


def _render(browser, html_path, tmp_path):
    """Load the page in headless Chromium with a checking script; return its result."""
    text = html_path.read_text(encoding="utf-8")
    # the report's policy forbids scripts; allow only the inline checker
    text = text.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    text = text.replace("<head>", "<head>" + _CHECK, 1)
    page = tmp_path / "checked.html"
    page.write_text(text, encoding="utf-8")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
           "--dump-dom", page.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="report-check">(.*?)</pre>', out.stdout, re.S)
    assert m, f"the page did not finish loading: rc={out.returncode} {out.stderr[-2000:]}"
    import html as _html
    return json.loads(_html.unescape(m.group(1))), out.stderr


def test_report_renders_in_headless_browser(runs, tmp_path, capsys):
    out = tmp_path / "report.html"
    code = main(["report", str(runs[0]), str(runs[1]), "-o", str(out),
                 "--eps", "1e-3", "1e-6", "--spectrum-steps", "0", "200", "390",
                 "--title", "cmp <a&b>"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "2 run(s)" in stdout
    text = out.read_text(encoding="utf-8")
    # self-contained: no URL outside data: images, nothing fetched
    assert not re.search(r'(src|href)\s*=\s*"(?!data:)', text)
    assert "http://" not in text and "https://" not in text
    # file-borne text is escaped
    assert EVIL not in text and "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in text
    assert "cmp &lt;a&amp;b&gt;" in text
    ids = set(re.findall(r'<img id="([^"]+)"', text))
    expected = {"fig-time-0", "fig-time-1", "fig-spectrum-0-0", "fig-spectrum-0-1",
                "fig-spectrum-1-0", "fig-spectrum-1-1"}
    assert ids == expected
    # the staircase table has one row per run, layer and eps, with the statistics
    with rankcore.open_run(runs[0]) as run:
        s = rankcore.staircase(run, 1e-3, layer="features")
    assert s.stats["n_rank_rises"] == 2
    assert (f'<td class="t">features</td><td>0.001</td><td>{s.stats["n_loss_steps"]}</td>'
            f'<td>2</td>') in text
    assert text.count("<details>") == 2 * 2 * 2

    browser = _browser()
    if browser is None:
        print("SKIP reason: no headless browser (chromium) installed; "
              "apt-get install -y chromium to run this check")
        pytest.skip("no headless browser (chromium) installed")
    result, stderr = _render(browser, out, tmp_path)
    assert result["errs"] == [], result["errs"]
    assert "Uncaught" not in stderr
    assert result["pwned"] == 0
    assert result["title"] == "cmp <a&b>"
    assert result["tables"] >= 4
    got = {i["id"]: i for i in result["imgs"]}
    assert set(got) == expected
    for i in got.values():
        assert i["complete"] and i["w"] > 300 and i["h"] > 200, i


def test_report_python_api_and_errors(runs, tmp_path):
    from rankcore.runs.report import html_report, write_report
    page = html_report([runs[0]], layers=["features"], eps=[1e-4])
    assert page.count("<img ") == 2 and "hidden.2:input" in page  # named in metadata
    with pytest.raises(ValueError, match="layer 'zz' is in none of the runs"):
        html_report([runs[0]], layers=["zz"])
    with pytest.raises(ValueError, match="eps must be finite and > 0"):
        html_report([runs[0]], eps=[0.0])
    with pytest.raises(TypeError, match="eps must be a number or a sequence of numbers"):
        html_report([runs[0]], eps=["x"])
    target = tmp_path / "r.html"
    target.write_text("x")
    with pytest.raises(rankcore.SnapshotFileError):  # the second "run" is not HDF5
        write_report([runs[0], target], target)
    assert target.read_text() == "x"  # the old file is untouched after a failure
    with pytest.raises(FileNotFoundError, match=r"the directory .*nodir'? does not exist"):
        write_report([runs[0]], tmp_path / "nodir" / "r.html")
    with pytest.raises(IsADirectoryError, match="output must be a file name"):
        write_report([runs[0]], tmp_path)
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


@pytest.mark.parametrize("command, missing", [("report", "matplotlib"),
                                              ("plot", "matplotlib"), ("plot", "tqdm")])
def test_figures_without_plot_extra_say_what_to_install(runs, tmp_path, command, missing):
    code = (f"import sys; sys.modules[{missing!r}] = None; from rankcore.cli import main; "
            f"sys.exit(main([{command!r}, {str(runs[0])!r}, '-o', "
            f"{str(tmp_path / 'x.out')!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert "pip install rankcore[plot]" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x.out").exists()


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"rankcore {rankcore.__version__}"
    out = subprocess.run([sys.executable, "-m", "rankcore", "--version"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"rankcore {rankcore.__version__}"


def test_watch_ends_when_run_finished(runs, capsys):
    t0 = time.monotonic()
    code = main(["watch", str(runs[0]), "--interval", "5"])
    out = capsys.readouterr().out
    assert code == 0 and time.monotonic() - t0 < 4  # no poll interval waited
    lines = out.strip().splitlines()
    assert lines[-1] == "# run finished: 40 snapshots"
    assert len(lines) == 2 + 40 + 1


def test_watch_timeout_on_unfinished_run(tmp_path, capsys):
    # a writer in another process that stops after 5 snapshots without closing
    path = tmp_path / "live.h5"
    code = (f"import sys, time; sys.path.insert(0, {HERE!r}); from test_report import "
            f"_write_run; w = _write_run({str(path)!r}, 2, T=5, finish=False); "
            f"print('ready', flush=True); time.sleep(120)")
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    try:
        assert writer.stdout.readline().strip() == "ready"
        t0 = time.monotonic()
        code = main(["watch", str(path), "--interval", "0.2", "--timeout", "1"])
        dt = time.monotonic() - t0
    finally:
        writer.kill()
        writer.wait()
    out = capsys.readouterr().out
    assert code == 0 and 0.9 < dt < 10
    assert out.strip().splitlines()[-1].startswith("# --timeout 1 s reached, run not finished")
    assert len(out.strip().splitlines()) == 2 + 5 + 1
    code = main(["watch", str(tmp_path / "none.h5"), "--interval", "0.1", "--timeout", "0.3"])
    err = capsys.readouterr().err
    assert code == 2 and "did not appear within --timeout 0.3 s" in err
    assert main(["watch", str(path), "--timeout", "-1"]) == 2
    assert "--timeout must be > 0" in capsys.readouterr().err

"""Hostile snapshot files, and a worker process that opens them under a time limit.

Used by tests/runs/test_fuzz_snapshots.py and bench/snapshot_fuzz.py.  Files are
built with plain h5py in the documented layout (format version 1, which every
rankcore reader since the first accepts), then broken in one way each.

The worker (``python tests/_hostile.py worker``) reads one path per line on
stdin, exercises it through the whole reading API and the ``rankcore info``
command, and prints one JSON line per path; the parent enforces the time
limit, so a hang is seen as a hang and the worker is replaced.  With
``--no-libhdf5`` the worker's rankcore does not find the libhdf5 that h5py
uses (rankcore.runs.libhdf5 finds no candidate), as on a platform where it
cannot be found: the reader's fallback path.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

#: Bytes of the file that external storage / links point at: if these ever
#: come back through the API or a message, the reader read outside the file.
SECRET = b"root:x:0:0:SECRET-MARKER:/root:/bin/bash\n" * 8
SECRET_VALUE = np.frombuffer(SECRET[:8], dtype="<f8")[0]


def write_run(path, *, layout="chunked", libver="latest", userblock=0, T=3, n=3, N=6,
              edit=None):
    """A valid run of T snapshots (one layer 'h', scalar 'lr') written with h5py.

    ``edit(f, data)`` may change the open file (or the dict of arrays before
    they are written, when it returns a dict).
    """
    import h5py

    sp = np.array([[1.0, 0.1, 10.0 ** -(t + 2)][:n] + [0.0] * max(0, n - 3)
                   for t in range(T)])
    data = {
        "steps": np.arange(T, dtype=np.int64) * 10,
        "loss": 1.0 / (1.0 + np.arange(T)),
        "wall_time": np.arange(T, dtype=np.float64),
        "scalars/lr": np.full(T, 0.1),
        "layers/h/spectrum": sp,
        "layers/h/gram": np.array([np.diag(s) for s in sp]).reshape(T, n, n),
    }
    kw = {"libver": libver}
    if userblock:
        kw["userblock_size"] = userblock
    with h5py.File(path, "w", **kw) as f:
        f.attrs["format"] = "rankcore-snapshots"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["layers"] = np.array(["h"], dtype=h5py.string_dtype())
        f.attrs["scalars"] = np.array(["lr"], dtype=h5py.string_dtype())
        f.attrs["model"] = "MLP(1, 3)"
        g = f.create_group("quadrature")
        g["points"] = np.linspace(-1.0, 1.0, N)[:, None]
        g["weights"] = np.full(N, 2.0 / N)
        g["box"] = np.array([[-1.0, 1.0]])
        f["count"] = np.int64(T)
        f.create_group("scalars")
        f.create_group("layers/h").attrs["n_features"] = np.int64(n)
        if edit is not None:
            data = edit(f, data) or data
        for key, arr in data.items():
            if key in f:
                continue
            if layout == "chunked":
                f.create_dataset(key, data=arr, maxshape=(None,) + arr.shape[1:],
                                 chunks=(2,) + arr.shape[1:])
            else:
                f.create_dataset(key, data=arr)
    return path


#: ``python -c FAST_WRITER PATH SRC``: a SnapshotWriter (of the rankcore in SRC)
#: that appends 64-feature snapshots without pause, so that a new spectrum
#: chunk is allocated every 128 snapshots (where the old reader saw false
#: truncations); prints "started" once the file exists.
FAST_WRITER = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
import rankcore
from rankcore import SnapshotWriter
q = rankcore.quadrature.gauss_legendre((-1.0, 1.0), 64)
w = SnapshotWriter(sys.argv[1], q, {"h": 64})
print("started", flush=True)
lam = np.linspace(1.0, 0.0, 64)
t = 0
while True:
    w.append(t, loss=1.0 / (t + 1), grams={"h": np.diag(lam)})
    t += 1
"""


# -- the hostile constructs -------------------------------------------------

def _secret_file(d):
    p = os.path.join(d, "passwd")
    with open(p, "wb") as fh:
        fh.write(SECRET * 4)
    return p


def _replace(f, key, **kw):
    del f[key]
    f.create_dataset(key, **kw)


def hostile_cases(d):
    """[(family, case name, path, expected)] with expected 'data' or 'error'."""
    import h5py

    out = []

    def add(family, name, expected, **kw):
        p = os.path.join(d, f"{family}-{name}.h5")
        write_run(p, **kw)
        out.append((family, name, p, expected))

    add("valid layouts", "chunked", "data")
    add("valid layouts", "contiguous", "data", layout="contiguous")
    add("valid layouts", "superblock v0", "data", libver="earliest")
    add("valid layouts", "userblock 512", "data", userblock=512)
    secret = _secret_file(d)

    def external(f, data):
        g = data.pop("layers/h/gram")
        f.create_dataset("layers/h/gram", shape=g.shape, dtype="f8",
                         external=[(secret, 0, g.nbytes)])
    add("outside the file", "external storage", "error", edit=external)

    def ext_link(f, data):
        other = os.path.join(d, "other.h5")
        with h5py.File(other, "w") as g:
            g["loss"] = np.frombuffer(SECRET[:24], dtype="<f8")
        data.pop("loss")
        f["loss"] = h5py.ExternalLink(other, "/loss")
    add("outside the file", "external link", "error", edit=ext_link)

    def vds(f, data):
        other = os.path.join(d, "vsrc.h5")
        sp = data.pop("layers/h/spectrum")
        with h5py.File(other, "w") as g:
            g["s"] = sp
        lay = h5py.VirtualLayout(shape=sp.shape, dtype="f8")
        lay[:] = h5py.VirtualSource(other, "s", shape=sp.shape)
        f["layers/h"].create_virtual_dataset("spectrum", lay)
    add("outside the file", "virtual dataset", "error", edit=vds)

    def soft(f, data):
        data.pop("wall_time")
        f["wall_time"] = h5py.SoftLink("/loss")
    add("outside the file", "soft link", "error", edit=soft)

    def huge(f, data):
        big = 2 ** 26
        del f["count"]
        f["count"] = np.int64(big)
        for key, arr in list(data.items()):
            ds = f.create_dataset(key, data=arr, maxshape=(None,) + arr.shape[1:],
                                  chunks=(2,) + arr.shape[1:])
            ds.resize(big, axis=0)
        return {}
    add("declared sizes", "count 2**26, unallocated chunks", "error", edit=huge)

    def count_past(f, data):
        del f["count"]
        f["count"] = np.int64(7)
    add("declared sizes", "count beyond the data", "error", edit=count_past)

    def neg_count(f, data):
        del f["count"]
        f["count"] = np.int64(-1)
    add("declared sizes", "negative count", "error", edit=neg_count)

    def setter(key, value):
        def edit(f, data):
            data[key] = value
        return edit

    T = 3
    bad_data = {
        "string steps": ("steps", np.array([b"a", b"b", b"c"])),
        "2-D steps": ("steps", np.arange(6, dtype=np.int64).reshape(3, 2)),
        "float steps": ("steps", np.array([0.0, 0.5, 1.0])),
        "decreasing steps": ("steps", np.array([0, 20, 10], dtype=np.int64)),
        "complex loss": ("loss", np.array([1 + 1j, 2, 3])),
        "infinite loss": ("loss", np.array([1.0, np.inf, 0.5])),
        "unsorted spectra": ("layers/h/spectrum", np.array([[0.1, 1.0, 0.0]] * T)),
        "negative spectra": ("layers/h/spectrum", np.array([[1.0, 0.1, -0.5]] * T)),
        "NaN spectra": ("layers/h/spectrum", np.array([[1.0, np.nan, 0.0]] * T)),
        "gram shape disagrees": ("layers/h/gram", np.zeros((T, 2, 2))),
        "spectrum 1-D": ("layers/h/spectrum", np.ones(T)),
    }
    for name, (key, value) in bad_data.items():
        add("wrong dtypes and shapes", name, "error", edit=setter(key, value))

    def attr(key, value, delete=False):
        def edit(f, data):
            if delete:
                del f.attrs[key]
            else:
                f.attrs[key] = value
        return edit

    def float_count(f, data):
        del f["count"]
        f["count"] = np.float64(2.5)
    add("wrong dtypes and shapes", "fractional count", "error", edit=float_count)
    for name, value in (('"1"', "1"), ("1.5", np.float64(1.5)), ("True", True),
                        ("0", np.int64(0)), ("99", np.int64(99))):
        add("format version", name, "error", edit=attr("format_version", value))
    add("format version", "missing", "error", edit=attr("format_version", 0, delete=True))
    add("format version", "layers missing", "error", edit=attr("layers", 0, delete=True))
    add("format version", "layers numeric", "error",
        edit=attr("layers", np.array([1.0, 2.0])))

    def ctrl_layer(f, data):
        name = "h\x1b[2J\x1b]0;pwned\x07"
        f.attrs["layers"] = np.array([name], dtype=h5py.string_dtype())
        f.move("layers/h", f"layers/{name}")
        return {k.replace("layers/h/", f"layers/{name}/"): v for k, v in data.items()}
    add("control characters", "in a layer name", "error", edit=ctrl_layer)
    add("control characters", "in metadata", "data",
        edit=attr("model", "MLP\x1b[31m red \x1b]0;title\x07\r\x9b2J"))
    add("control characters", "in a metadata key", "data",
        edit=attr("evil\x1b[2Jkey", "x"))
    return out


#: Signatures of HDF5's checksummed metadata blocks (object headers and their
#: continuation chunks, chunk indexes, B-trees, heaps, free-space managers).
METADATA_SIGNATURES = (b"OHDR", b"OCHK", b"EAHD", b"EAIB", b"EADB", b"FAHD", b"FADB",
                       b"BTHD", b"BTIN", b"BTLF", b"FRHP", b"FHDB", b"FHIB", b"FSHD", b"FSSE")


def metadata_corruptions(path, d):
    """Copies of ``path`` with one byte flipped inside one checksummed metadata
    block each (12 bytes after its signature): [(offset, path)].

    Such a block fails its checksum whenever HDF5 reads it; a SWMR reader
    whose retries are not bounded then sleeps for hours inside HDF5."""
    import re

    data = open(path, "rb").read()
    stem = os.path.splitext(os.path.basename(path))[0]
    out = []
    for sig in METADATA_SIGNATURES:
        for m in re.finditer(re.escape(sig), data):
            k = m.start() + 12
            if k >= len(data):
                continue
            cut = bytearray(data)
            cut[k] ^= 0x10
            p = os.path.join(d, f"{stem}-{sig.decode().lower()}-{m.start()}.h5")
            with open(p, "wb") as fh:
                fh.write(cut)
            out.append((m.start(), p))
    return out


def truncations(path, offsets, d):
    """Copies of ``path`` cut at each offset: [(offset, path)]."""
    data = open(path, "rb").read()
    out = []
    stem = os.path.splitext(os.path.basename(path))[0]
    for k in offsets:
        p = os.path.join(d, f"{stem}-cut-{k}.h5")
        with open(p, "wb") as fh:
            fh.write(data[:k])
        out.append((k, p))
    return out


def truncations_patched(path, offsets, d):
    """Copies of a version-0 superblock file cut at each offset, with the
    superblock's end-of-file address set to the new length, so that HDF5
    itself (not a size check) meets the missing bytes: [(offset, path)]."""
    data = open(path, "rb").read()
    assert data[8] == 0 and data[13] == 8, "needs a version-0 superblock, 8-byte addresses"
    stem = os.path.splitext(os.path.basename(path))[0]
    out = []
    for k in offsets:
        cut = bytearray(data[:k])
        if k >= 48:
            cut[40:48] = k.to_bytes(8, "little")
        p = os.path.join(d, f"{stem}-cut-eof-{k}.h5")
        with open(p, "wb") as fh:
            fh.write(cut)
        out.append((k, p))
    return out


# -- the worker ---------------------------------------------------------------

def exercise(path, rankcore):
    """Read everything; return (outcome, detail) with outcome 'data' or 'error'."""
    try:
        with rankcore.open_run(path) as run:
            got = [run.steps, run.loss, run.wall_time, *run.scalars.values()]
            for layer in run.layers:
                got.append(run.spectra(layer=layer) if len(run.layers) > 1
                           else run.spectra())
                got.append(run.eps_rank([1e-6, 1e-2], layer=layer))
                if run.has_grams(layer):
                    got.append(run.grams(layer))
                    if len(run):
                        got.append(run.grams(layer, index=-1))
                if run.has_features(layer):
                    got.append(run.features(layer))
            got.append(np.asarray(list(run.metadata.keys())))
        leak = any(isinstance(a, np.ndarray) and a.dtype.kind == "f"
                   and np.any(a == SECRET_VALUE) for a in got)
        return ("data", "LEAK" if leak else f"{len(got)} arrays")
    except rankcore.SnapshotFileError as exc:
        return ("error", str(exc))
    except FileNotFoundError as exc:
        return ("error", str(exc))
    except Exception as exc:  # the library's own error type is the contract
        return (f"traceback:{type(exc).__name__}", str(exc)[:300])


def run_cli(path):
    """``rankcore info PATH`` in this process: (status, stdout, stderr)."""
    import contextlib
    import io

    from rankcore.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["info", path])
        except BaseException as exc:  # noqa: BLE001 - a traceback is an outcome
            rc = f"raised {type(exc).__name__}"
    return rc, out.getvalue(), err.getvalue()


def _raw_control(text):
    return any((ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) < 0xa0 for c in text)


def worker():
    import resource
    import warnings

    warnings.simplefilter("ignore")
    import rankcore
    try:
        from rankcore.runs import libhdf5
    except ImportError:  # an older rankcore (the reference tree of bench/snapshot_fuzz.py)
        libhdf5 = None
    if "--no-libhdf5" in sys.argv:  # no candidate qualifies: the reader's fallback
        libhdf5._candidates = lambda: []
    print(json.dumps({"ready": True, "rankcore": rankcore.__file__,
                      "libhdf5": None if libhdf5 is None else libhdf5.library() is not None}),
          flush=True)
    for line in sys.stdin:
        path = line.rstrip("\n")
        t0 = time.perf_counter()
        outcome, detail = exercise(path, rankcore)
        rc, out, err = run_cli(path)
        secret = SECRET[:20].decode()
        print(json.dumps({
            "outcome": outcome, "detail": detail[:300],
            "seconds": time.perf_counter() - t0,
            "cli_rc": rc if isinstance(rc, int) else str(rc),
            "cli_err_lines": err.count("\n"),
            "cli_traceback": "Traceback" in err or not isinstance(rc, int),
            "raw_control": _raw_control(out) or _raw_control(err),
            "leak": detail == "LEAK" or secret in detail or secret in out or secret in err,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }), flush=True)


class Worker:
    """A worker subprocess; :meth:`check` enforces the time limit per file."""

    def __init__(self, pythonpath=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                 timeout=10.0, libhdf5=True):
        self.pythonpath, self.timeout, self.libhdf5 = pythonpath, timeout, libhdf5
        self.proc = None

    def _start(self):
        import threading  # noqa: F401 - the reader thread below
        env = dict(os.environ)
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "worker"]
            + ([] if self.libhdf5 else ["--no-libhdf5"]), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
            bufsize=1)
        line = self._readline(120.0)
        if line is None or not json.loads(line).get("ready"):
            raise RuntimeError("the fuzz worker did not start")
        self.rankcore_file = json.loads(line)["rankcore"]
        self.found_libhdf5 = json.loads(line)["libhdf5"]

    def _readline(self, timeout):
        import select
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                line = self.proc.stdout.readline()
                return line if line else None

    def check(self, path):
        """Result dict for ``path``; outcome 'hang' if no answer within the limit."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        t0 = time.monotonic()
        self.proc.stdin.write(path + "\n")
        self.proc.stdin.flush()
        line = self._readline(self.timeout)
        if line is None:
            died = self.proc.poll() is not None
            self.close()
            return {"outcome": "crash" if died else "hang",
                    "detail": "the process died" if died else f"no answer in {self.timeout} s",
                    "seconds": time.monotonic() - t0}
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker()

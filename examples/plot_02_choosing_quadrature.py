"""
Choosing ε and the quadrature
=============================

Three checks that make an ε-rank trustworthy:

1. **Enough points.** Sharp neurons need many nodes: compute the spectrum with
   order ``m`` and ``2m`` and keep ``m`` once the eigenvalues above ε agree.
2. **Small eigenvalues.** The eigenvalues of a float64 Gram matrix are
   accurate to about ``n·2⁻⁵²·λ_max``; below that, compute them from the
   features with :func:`rankcore.spectrum_from_features`.
3. **Absolute ε scales with the volume.** ``λ`` is an integral over the
   domain, so the same neurons on a domain ``s`` times longer have ``s`` times
   larger eigenvalues: compare absolute ε only between equal volumes, or use
   ``relative=True``.

Finally, any domain that is not a box enters through
``rankcore.Quadrature(points, weights, box)``.
"""

import numpy as np

import rankcore
from rankcore import Quadrature
from rankcore.quadrature import gauss_legendre

n = 100
c = np.linspace(-1.0, 1.0, n)
slope = 2.0 * (n - 1)  # transitions four times sharper than the grid spacing


def features(x):
    return np.tanh(slope * (x[:, None] - c))


# %%
# 1. Doubling the order
# ---------------------
# With too few nodes the quadrature cannot see the transitions and the
# spectrum is wrong well above round-off; doubling the order shows it.
eps = 1e-4
print("order  lambda_1    lambda_50   lambda_100  rank(1e-4)  change from order/2")
prev = None
for order in (50, 100, 200, 400, 800):
    q = gauss_legendre([(-1.0, 1.0)], order)
    lam = rankcore.spectrum(rankcore.gram(features(q.points[:, 0]), q.weights))
    change = ""
    if prev is not None:
        above = lam > eps  # only the eigenvalues that decide the eps-rank
        change = f"{np.max(np.abs(lam[above] - prev[above]) / lam[above]):.1e}"
    print(f"{order:5d}  {lam[0]:.4e}  {lam[49]:.4e}  {lam[-1]:.4e}  "
          f"{rankcore.eps_rank(lam, eps):10d}  {change}")
    prev = lam

# %%
# 2. Eigenvalues far below λ_max
# ------------------------------
# Monomials ``x^0 … x^29`` are nearly dependent: their smallest eigenvalues
# lie below the rounding level of the Gram matrix. The SVD path resolves
# them.
q = gauss_legendre([(-1.0, 1.0)], 64)
x = q.points[:, 0]
mono = np.stack([x ** p for p in range(30)], axis=1)
lam_gram = rankcore.spectrum(rankcore.gram(mono, q.weights))
lam_svd = rankcore.spectrum_from_features(mono, q.weights)
print("\nmonomials x^0..x^29:      via the Gram matrix   via spectrum_from_features")
for i in (0, 9, 19, 24, 29):
    print(f"  lambda_{i + 1:<2d}                {lam_gram[i]:.3e}              {lam_svd[i]:.3e}")

# %%
# 3. Absolute ε and the volume
# ----------------------------
# The same 20 neurons, stretched from [-1, 1] to [-L, L]: every eigenvalue
# is multiplied by L, so the absolute ε-rank changes while the relative one
# does not.
c20 = np.linspace(-1.0, 1.0, 20)
print("\n   L   lambda_min   rank(1e-3)  rank(1e-3, relative)")
for L in (0.1, 1.0, 10.0):
    qL = gauss_legendre([(-L, L)], 200)
    phi = np.tanh(10.0 * (qL.points[:, 0:1] / L - c20))
    lam = rankcore.spectrum(rankcore.gram(phi, qL.weights))
    print(f"{L:5.1f}   {lam[-1]:.3e}   {rankcore.eps_rank(lam, 1e-3):9d}  "
          f"{rankcore.eps_rank(lam, 1e-3, relative=True):9d}")

# %%
# 4. Your own domain
# ------------------
# A Gauss rule on the unit disk (polar coordinates: Gauss–Legendre in the
# radius with the Jacobian ``r``, equal weights in the angle). The weights sum
# to the disk's area π; the box only has to contain the points.
nr, nt = 40, 80
t, wt = np.polynomial.legendre.leggauss(nr)
r = (t + 1) / 2
wr = wt / 2 * r
theta = 2 * np.pi * np.arange(nt) / nt
R, T = np.meshgrid(r, theta, indexing="ij")
points = np.column_stack([(R * np.cos(T)).ravel(), (R * np.sin(T)).ravel()])
weights = (wr[:, None] * np.full(nt, 2 * np.pi / nt)).ravel()
disk = Quadrature(points, weights, [(-1.0, 1.0), (-1.0, 1.0)])
print(f"\ndisk rule: {disk.n_points} points, weights sum {disk.weights.sum():.12f} (pi = {np.pi:.12f})")
W, b = rankcore.sfli_init(50, [(-1.0, 1.0), (-1.0, 1.0)], "tanh", random_state=0)
phi = np.tanh(disk.points @ W.T + b)
lam_disk = rankcore.spectrum(rankcore.gram(phi, disk.weights))
print("eps-rank on the disk at 1e-2, 1e-4:", rankcore.eps_rank(lam_disk, [1e-2, 1e-4]))

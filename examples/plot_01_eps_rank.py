"""
The ε-rank of a layer of neurons
================================

Fifty ``tanh`` neurons on ``[-1, 1]`` are fifty functions. Their Gram matrix
``M_ij = ∫ φ_i φ_j dx``, computed with a Gauss–Legendre rule, has eigenvalues
``λ_1 ≥ … ≥ λ_n ≥ 0``; the ε-rank is the number of them above ε, i.e. how
many of the neurons are *effectively* linearly independent.

Neurons with small, similar slopes (as after a default initialisation) are
almost linear on the domain and have a tiny ε-rank; neurons whose
transitions are spread over the domain (as after SFLI) have a large one.
"""

import matplotlib.pyplot as plt
import numpy as np

import rankcore
from rankcore.quadrature import gauss_legendre

q = gauss_legendre([(-1.0, 1.0)], order=200)
x = q.points[:, 0]
rng = np.random.default_rng(0)
n = 50

# Narrow slopes, random shifts: nearly linear functions on [-1, 1].
w_small = rng.normal(0.0, 0.2, n)
phi_small = np.tanh(np.outer(x, w_small) + rng.normal(0.0, 0.2, n))
# Transitions at evenly spaced centres c_j with slope (n - 1) / 2.
c = np.linspace(-1.0, 1.0, n)
phi_spread = np.tanh((n - 1) / 2 * (x[:, None] - c))

eps = [1e-2, 1e-4, 1e-6, 1e-8]
lam_small = rankcore.spectrum(rankcore.gram(phi_small, q.weights))
lam_spread = rankcore.spectrum(rankcore.gram(phi_spread, q.weights))
print("eps                :", eps)
print("eps-rank, narrow   :", rankcore.eps_rank(lam_small, eps))
print("eps-rank, spread   :", rankcore.eps_rank(lam_spread, eps))
print(f"lambda_min, spread : {lam_spread[-1]:.2e}")

# %%
# The spectra side by side: the ε-rank is where a horizontal line at ε
# crosses each curve.

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(np.arange(1, n + 1), np.maximum(lam_small, 1e-18), "o-", ms=3,
            label="narrow slopes")
ax.semilogy(np.arange(1, n + 1), lam_spread, "s-", ms=3, label="spread transitions")
for e in eps:
    ax.axhline(e, color="grey", lw=0.6, ls=":")
ax.set_xlabel("index i")
ax.set_ylabel("eigenvalue λ_i of the Gram matrix")
ax.legend()
fig.tight_layout()

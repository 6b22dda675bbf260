"""
The two theorems, checked on one function set
=============================================

**Theorem 3.1** (subset approximation): if ``r`` eigenvalues of the Gram
matrix exceed ε, then ``r`` of the ``n`` functions reproduce each of the
others to within ``√ε · √(1 + ‖a_j‖²)``, where ``a_j`` are the coefficients.

**Theorem 3.2** (loss lower bound): for every combination
``v = Σ c_j φ_j``,
``√L(v) ≥ dist(u, span φ_I) − √ε · √(f² r (n − r) + 2) · Σ_{j∉I} |c_j|``:
a small loss needs a large ε-rank.

Both are evaluated here for 40 near-duplicate ``tanh`` neurons from
:mod:`rankcore.testing`, whose ε-rank is far below 40.
"""

import numpy as np

import rankcore
from rankcore.testing import function_set

phi, q = function_set("duplicates", 40, seed=7)
M = rankcore.gram(phi, q.weights)
lam = rankcore.spectrum(M)
print(f"n = 40, lambda_max = {lam[0]:.3e}")

print("\nTheorem 3.1")
print("   eps      rank  max error   max bound  worst-case bound")
for eps in (1e-2, 1e-4, 1e-6, 1e-8):
    res = rankcore.subset_approximation(M, eps)
    err = res.errors.max() if res.errors.size else 0.0
    bnd = res.bounds.max() if res.bounds.size else 0.0
    print(f"{eps:8.0e}  {res.rank:4d}  {err:9.2e}  {bnd:9.2e}  {res.worst_case_bound:9.2e}")
    assert res.holds

# %%
# Theorem 3.2 for a ridge fit of ``u(x) = sin 6x`` (the ridge term keeps
# ``Σ|c_j|`` moderate; with the huge coefficients of an unregularised fit of
# near-duplicates the ε term swamps the bound). ``bound`` is the theorem's
# right-hand side, ``bound_exact`` the sharper form with the measured errors
# ``‖e_j‖`` in place of the worst case. Every ε gives a valid bound: the true
# ``√L`` of the fit lies above all of them. Its leading term
# ``dist(u, span φ_I)`` falls only as the rank ``r`` grows.
u = np.sin(6 * q.points[:, 0])
b = phi.T @ (q.weights * u)
c = np.linalg.solve(M + 1e-4 * np.eye(40), b)
print(f"\nTheorem 3.2 (ridge coefficients, sum |c_j| = {np.abs(c).sum():.1f})")
print("   eps      rank  dist(u, span)      bound  bound_exact  sqrt(L)")
for eps in (1e-2, 1e-4, 1e-6, 1e-8, 1e-10):
    res = rankcore.loss_lower_bound_from_features(phi, u, q.weights, c, eps)
    print(f"{eps:8.0e}  {res.approximation.rank:4d}  {res.distance:13.3e}  "
          f"{res.bound:9.2e}  {res.bound_exact:11.3e}  {res.sqrt_loss:.3e}")
    assert res.bound <= res.bound_exact <= res.sqrt_loss + res.tolerance

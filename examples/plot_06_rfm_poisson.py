"""
Random features with a partition of unity (ELM versus RFM)
==========================================================

An extreme learning machine (ELM) fits a PDE by linear least squares over
random ``tanh`` features on the whole domain; the random feature method
(RFM) splits the domain into subdomains, uses random features on each and
glues them with a partition of unity. Here both solve ``-u'' = f`` on
``[0, 1]`` with ``u(x) = sin(6πx)`` and 120 features in all. The ε-rank of
the features grows with the number of subdomains; the error falls with it
only while every subdomain keeps enough features of its own: a large ε-rank
is necessary for a small error (Theorem 3.2), not sufficient.
"""

import warnings

import numpy as np

import rankcore
from rankcore import ELM, RFM
from rankcore.quadrature import gauss_legendre


def u(x):
    return np.sin(6 * np.pi * x[:, 0])


def f(x):
    return 36 * np.pi ** 2 * np.sin(6 * np.pi * x[:, 0])


box = [(0.0, 1.0)]
q = gauss_legendre(box, 400)
X = np.linspace(0, 1, 1001)[:, None]
print("model            features  eps-rank(1e-8)  rel. L2 error")
for name, model in [
    ("ELM, 120", ELM(box, features=120, random_state=0)),
    ("RFM, 4 x 30", RFM(box, subdomains=4, features=30, random_state=0)),
    ("RFM, 8 x 15", RFM(box, subdomains=8, features=15, random_state=0)),
]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rankcore.IllConditionedWarning)
        model.fit_poisson(f, u)
    err = np.linalg.norm(model.predict(X) - u(X)) / np.linalg.norm(u(X))
    lam = rankcore.spectrum_from_features(model.feature_matrix(q.points), q.weights)
    print(f"{name:15s}  {lam.size:8d}  {rankcore.eps_rank(lam, 1e-8):14d}  {err:13.2e}")

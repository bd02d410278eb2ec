"""Dense, readable references for the Neural Collapse metrics: all features in memory,
numpy float64, loops where they make the formula plain. Written from the definitions in
docs/paper.md, independent of ``ncsweep.geometry``."""

import math

import numpy as np


def erank(matrix, rtol=1e-12):
    s = np.linalg.svd(matrix, compute_uv=False)
    s = s[s > rtol * max(s.max(), 1e-300)] if s.max() > 0 else s[:0]
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def entropy_of_gram(g):
    g = (g + g.T) / 2
    lam = np.clip(np.linalg.eigvalsh(g / np.trace(g)), 0, None)
    lam = lam[lam > 0]
    return float(-(lam * np.log(lam)).sum())


def reference_metrics(h, y, num_classes, w=None, logits=None):
    h = np.asarray(h, dtype=np.float64)
    y = np.asarray(y)
    classes = [c for c in range(num_classes) if np.any(y == c)]
    k = len(classes)
    n_total = len(y)
    out = {}
    mu = np.stack([h[y == c].mean(0) for c in classes])
    mu_g = mu.mean(0)
    mbar = mu - mu_g

    sigma_w = np.zeros((h.shape[1], h.shape[1]))
    for i in range(n_total):
        d = h[i] - mu[classes.index(y[i])]
        sigma_w += np.outer(d, d)
    sigma_w /= n_total
    sigma_b = mbar.T @ mbar / k
    # pseudo-inverse with the known rank K-1, from float64 eigen-decomposition
    lam, vec = np.linalg.eigh(sigma_b)
    top = np.argsort(lam)[::-1][: k - 1]
    pinv_b = vec[:, top] @ np.diag(1 / lam[top]) @ vec[:, top].T
    out["nc1"] = float(np.trace(sigma_w @ pinv_b) / k)

    var = [np.mean(np.sum((h[y == c] - mu[j]) ** 2, axis=1)) for j, c in enumerate(classes)]
    terms, cosines = [], []
    for a in range(k):
        for b in range(a + 1, k):
            terms.append((var[a] + var[b]) / (2 * np.sum((mu[a] - mu[b]) ** 2)))
            cosines.append(mbar[a] @ mbar[b] / (np.linalg.norm(mbar[a]) * np.linalg.norm(mbar[b])))
    out["cdnv"] = float(np.mean(terms))
    norms = np.linalg.norm(mbar, axis=1)
    out["equinorm"] = float(np.std(norms) / np.mean(norms))
    cosines = np.array(cosines)
    out["equiangular"] = float(np.std(cosines))
    out["max_angle"] = float(np.mean(np.abs(cosines + 1 / (k - 1))))
    g = mbar @ mbar.T
    etf = (np.eye(k) - np.ones((k, k)) / k) / math.sqrt(k - 1)
    out["etf_error"] = float(np.linalg.norm(g / np.linalg.norm(g) - etf))

    u = h / np.linalg.norm(h, axis=1, keepdims=True)
    intra = []
    for c in classes:
        uc = u[y == c]
        if len(uc) >= 2:
            intra.append(erank(np.cov(uc.T)))
    out["erank_intra"] = float(np.mean(intra))
    mu_u = np.stack([u[y == c].mean(0) for c in classes])
    out["erank_inter"] = erank(np.cov(mu_u.T))

    if logits is not None:
        mismatch = 0
        for i in range(n_total):
            dists = [np.sum((h[i] - mu[j]) ** 2) for j in range(k)]
            if classes[int(np.argmin(dists))] != int(np.argmax(logits[i])):
                mismatch += 1
        out["ncc_mismatch"] = mismatch / n_total

    if w is not None:
        w = np.asarray(w, dtype=np.float64)
        wp = w[classes]
        out["self_duality"] = float(
            np.sum((wp / np.linalg.norm(wp) - mbar / np.linalg.norm(mbar)) ** 2)
        )
        w_hat = w / np.linalg.norm(w, axis=1, keepdims=True)
        out["erank_proto"] = erank(np.cov(w_hat.T))
        mu_hat = mu_u / np.linalg.norm(mu_u, axis=1, keepdims=True)
        wp_hat = w_hat[classes]
        out["align_proto_class"] = float(np.mean(np.sum((wp_hat - mu_hat) ** 2, axis=1)))
        out["align_proto_instance"] = float(np.mean(np.sum((w_hat[y] - u) ** 2, axis=1)))
        m = mu_hat - mu_hat.mean(0)
        m = m / np.linalg.norm(m, axis=1, keepdims=True)
        g_w, g_m = wp_hat @ wp_hat.T, m @ m.T
        h_w, h_m, h_wm = entropy_of_gram(g_w), entropy_of_gram(g_m), entropy_of_gram(g_w * g_m)
        out["mir"] = (h_w + h_m - h_wm) / min(h_w, h_m)
        out["hdr"] = abs(h_w - h_m) / max(h_w, h_m)
    return out


def simplex_etf(num_classes, dim, rng):
    """K unit vectors in R^dim with pairwise cosine -1/(K-1), randomly rotated."""
    k = num_classes
    m = (np.eye(k) - np.ones((k, k)) / k) * math.sqrt(k / (k - 1))
    q, _ = np.linalg.qr(rng.standard_normal((dim, k)))
    return m @ q.T

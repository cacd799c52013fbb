r"""Synthetic nonnegative Tucker tensors with a known sparse core.

Used by the tests, the benchmark and the example of
:class:`~skfactor.SparseNTD`:

- :func:`make_sparse_tucker`: :math:`T = G \times_0 A_0 \dots` with a
  sparse uniform core and uniform factors, observed through Poisson counts
  (mean ``scale`` per entry on average) or Gaussian noise at a given SNR;
- :func:`make_song_spectrogram`: the audio redundancy set-up of Cohen and
  Leplat, a magnitude spectrogram folded as bar x frequency x time within
  the bar, where each bar plays one of a few sections (an arrangement such
  as A B A C A B): harmonic note spectra (frequency factor), rhythmic
  envelopes (time factor), a sparse core saying which note plays on which
  rhythm in which section, and the bar factor the arrangement itself.
"""

import numpy as np

from ._tensor_algebra import tucker_to_tensor

__all__ = ["make_song_spectrogram", "make_sparse_tucker"]


def _observe(model, noise, level, rng):
    if noise == "poisson":
        scale = level / model.mean()
        return rng.poisson(scale * model).astype(float), scale * model
    clean = model
    perturbation = rng.standard_normal(model.shape)
    perturbation *= np.linalg.norm(model) / np.linalg.norm(perturbation)
    noisy = np.maximum(clean + 10.0 ** (-level / 20.0) * perturbation, 0.0)
    return noisy, clean


def make_sparse_tucker(
    shape,
    ranks,
    *,
    density=0.3,
    factor_density=0.5,
    noise="poisson",
    level=20.0,
    random_state=None,
):
    """Noisy nonnegative Tucker tensor with a sparse core.

    Parameters
    ----------
    shape, ranks : tuple of int
    density : float
        Fraction of nonzero core entries (at least one per slice of every
        mode, so that no component is void).
    factor_density : float
        Fraction of nonzero factor entries (sparse factors make the
        decomposition identifiable up to permutation and scaling).
    noise : {"poisson", "gaussian"}
        Poisson counts of mean ``level`` per entry on average, or Gaussian
        noise at an SNR of ``level`` dB (clipped at 0).
    level : float
    random_state : int or None

    Returns
    -------
    T : ndarray of shape ``shape``
    truth : dict
        ``core``, ``factors`` and ``model`` (the noiseless mean, scaled like
        ``T``).
    """
    rng = np.random.default_rng(random_state)
    support = rng.uniform(size=ranks) < density
    for k, r in enumerate(ranks):
        for q in range(r):
            index = [slice(None)] * len(ranks)
            index[k] = q
            if not support[tuple(index)].any():
                flat = support[tuple(index)]
                flat[tuple(rng.integers(0, s) for s in flat.shape)] = True
    core = rng.uniform(0.5, 1.5, size=ranks) * support
    factors = []
    for size, r in zip(shape, ranks):
        factor = rng.uniform(size=(size, r)) * (
            rng.uniform(size=(size, r)) < factor_density
        )
        factor[rng.integers(0, size, size=r), np.arange(r)] = 1.0  # no void column
        factors.append(factor)
    T, model = _observe(tucker_to_tensor(core, factors), noise, level, rng)
    return T, {"core": core, "factors": factors, "model": model}


def make_song_spectrogram(
    arrangement="ABACAB",
    *,
    bars_per_section=4,
    n_freqs=48,
    n_times=16,
    n_notes=4,
    n_rhythms=3,
    level=20.0,
    random_state=None,
):
    """Bar x frequency x time spectrogram of a song with a known arrangement.

    Parameters
    ----------
    arrangement : str
        One letter per section; equal letters play the same music.
    bars_per_section : int
    n_freqs, n_times : int
        Frequency bins and time frames per bar.
    n_notes, n_rhythms : int
        Harmonic note spectra and rhythmic envelopes shared by the sections.
    level : float
        Mean Poisson count per entry.
    random_state : int or None

    Returns
    -------
    T : ndarray of shape (n_bars, n_freqs, n_times)
    truth : dict
        ``sections`` (the letters, sorted), ``labels`` (section index of
        every bar), ``Q`` (bar x section indicator), ``W`` (frequency x
        note), ``H`` (time x rhythm), ``core`` (section x note x rhythm) and
        ``model`` (the Poisson mean).
    """
    rng = np.random.default_rng(random_state)
    sections = sorted(set(arrangement))
    labels = np.repeat([sections.index(c) for c in arrangement], bars_per_section)
    Q = np.eye(len(sections))[labels]
    freqs = np.arange(n_freqs)
    W = np.zeros((n_freqs, n_notes))
    for j, f0 in enumerate(rng.choice(np.arange(3, n_freqs // 4), n_notes, False)):
        for h in range(1, 6):  # decaying harmonics
            W[:, j] += 0.8**h * np.exp(-0.5 * ((freqs - h * f0) / 0.7) ** 2)
    frames = np.arange(n_times)
    H = np.zeros((n_times, n_rhythms))
    for j in range(n_rhythms):
        period = n_times // (2 ** (j + 1)) or 1
        onsets = np.arange(j % 2, n_times, period)
        for t0 in onsets:  # percussive envelopes
            H[:, j] += np.where(frames >= t0, np.exp(-(frames - t0) / 1.5), 0.0)
    # each section plays a few (note, rhythm) pairs; sections differ
    core = np.zeros((len(sections), n_notes, n_rhythms))
    for q in range(len(sections)):
        while True:
            pattern = rng.uniform(size=(n_notes, n_rhythms)) < 0.35
            pattern[rng.integers(n_notes), rng.integers(n_rhythms)] = True
            if not any(np.array_equal(pattern, core[p] > 0) for p in range(q)):
                break
        core[q] = pattern * rng.uniform(0.5, 1.5, size=pattern.shape)
    model = tucker_to_tensor(core, [Q, W, H])
    T, mean = _observe(model, "poisson", level, rng)
    truth = {
        "sections": sections,
        "labels": labels,
        "Q": Q,
        "W": W,
        "H": H,
        "core": core,
        "model": mean,
    }
    return T, truth

import pytest
import torch

from udiffse_lite.nmf import NMF, is_divergence


def planted(gen, F=64, T=80, K=4):
    W = torch.rand(F, K, generator=gen) ** 4 + 1e-3
    H = torch.rand(K, T, generator=gen) ** 2 + 1e-3
    V = W @ H
    # |n|^2 for n ~ CN(0, V) is V times a unit exponential
    P = V * -torch.log(torch.rand(F, T, generator=gen))
    return V, P


@pytest.mark.parametrize("exponent", [1.0, 0.5])
def test_divergence_never_increases(exponent, gen):
    V_true, P = planted(gen)
    nmf = NMF(*P.shape, rank=4, generator=gen, exponent=exponent)
    d = [is_divergence(P, nmf.V).item()]
    for _ in range(200):
        nmf.update(P)
        d.append(is_divergence(P, nmf.V).item())
    assert all(b <= a * (1 + 1e-6) for a, b in zip(d, d[1:]))
    assert d[-1] < 0.5 * d[0]


def test_recovers_planted_variance(gen):
    F, T = 64, 400
    W = torch.rand(F, 4, generator=gen) ** 4 + 1e-3
    H = torch.rand(4, T, generator=gen) ** 2 + 1e-3
    V_true = W @ H
    # average 50 exponential draws: the power is then close to V
    P = V_true * -torch.log(torch.rand(50, F, T, generator=gen)).mean(0)
    nmf = NMF(F, T, rank=4, generator=gen)
    for _ in range(500):
        nmf.update(P)
    rel = (nmf.V / V_true).log().abs().median().item()
    assert rel < 0.15  # median log-ratio: within about 15 %
    # a rank-1 model cannot do as well on a rank-4 field
    nmf1 = NMF(F, T, rank=1, generator=gen)
    for _ in range(500):
        nmf1.update(P)
    assert is_divergence(P, nmf.V) < is_divergence(P, nmf1.V)


def test_normalisation_keeps_product(gen):
    nmf = NMF(10, 12, rank=3, generator=gen)
    V = nmf.V.clone()
    nmf.W *= 5
    nmf.H /= 5
    nmf.normalise()
    torch.testing.assert_close(nmf.W.sum(0), torch.ones(3))
    torch.testing.assert_close(nmf.V, V)


def test_bad_input(gen):
    with pytest.raises(ValueError, match="rank"):
        NMF(10, 10, rank=0)
    with pytest.raises(ValueError, match="shape"):
        NMF(10, 10, generator=gen).update(torch.ones(10, 11))


def test_batched_nmf_fits_each_recording_as_alone(gen):
    """NMF(batch=U) runs U factorisations side by side: each equals an unbatched NMF from the same start."""
    U, F, T = 3, 20, 15
    P = torch.rand(U, F, T, generator=gen) + 0.1
    batched = NMF(F, T, 4, generator=gen, batch=U)
    alone = []
    for u in range(U):
        m = NMF(F, T, 4)
        m.W, m.H = batched.W[u].clone(), batched.H[u].clone()
        alone.append(m)
    for _ in range(5):
        batched.update(P)
        for u, m in enumerate(alone):
            m.update(P[u])
    for u, m in enumerate(alone):
        torch.testing.assert_close(batched.V[u], m.V)
    torch.testing.assert_close(batched.W.sum(1), torch.ones(U, 4))
    with pytest.raises(ValueError, match="NMF expects"):
        batched.update(P[0])

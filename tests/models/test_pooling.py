"""Properties of the pooling heads, checked against hand computations of the paper's equations."""

from __future__ import annotations

import math

import pytest
import torch

from reference_models import pooling
from reference_models.pooling import (
    POOLING_NAMES,
    ClassSpecificGWAP,
    GWAP,
    Pooled,
    PoolingHead,
    box_coverage,
    build_pooling,
    class_specific_gwap_pool,
    gap_pool,
    gmp_pool,
    gwap_pool,
    lse_pool,
    oracle_alpha,
    register_pooling,
)

GWAP_VARIANTS = ("gwap", "gwap_no_sigmoid", "gwap_no_exp", "gwap_gt", "gwap_cs")
MAP_SIZES = [(s, s) for s in range(1, 41)] + [(1, 40), (40, 1), (3, 17)]


def _run_head(name: str, features: torch.Tensor, num_classes: int = 5):
    head = build_pooling(name, features.shape[1], num_classes)
    if head.needs_gt_mask:
        gen = torch.Generator().manual_seed(1)
        mask = (torch.rand(features.shape[0], 1, *features.shape[2:], generator=gen) > 0.5).float()
        mask[0] = 0  # an image without boxes falls back to uniform weights
        return head, head(features, mask)
    return head, head(features)


@pytest.mark.parametrize("name", GWAP_VARIANTS)
def test_alpha_is_a_distribution_for_every_map_size(name):
    torch.manual_seed(0)
    for h, w in MAP_SIZES:
        features = torch.randn(2, 6, h, w, dtype=torch.float64) * 3
        head, pooled = _run_head(name, features.float())
        alpha = pooled.weights.double()
        assert (alpha >= 0).all(), (name, h, w)
        torch.testing.assert_close(alpha.sum(dim=(2, 3)), torch.ones(alpha.shape[:2], dtype=torch.float64), rtol=0, atol=1e-5)
        expected_channels = 5 if name == "gwap_cs" else 1
        assert alpha.shape == (2, expected_channels, h, w)


def test_gwap_with_constant_score_map_equals_gap():
    features = torch.randn(3, 7, 9, 11, dtype=torch.float64)
    for score in ("sigmoid_exp", "exp", "sigmoid"):
        weight = torch.zeros(7, dtype=torch.float64)  # s = wF + b = b everywhere
        pooled = gwap_pool(features, weight, torch.tensor([0.37], dtype=torch.float64), score)
        torch.testing.assert_close(pooled.output, gap_pool(features).output, rtol=1e-14, atol=0)
        torch.testing.assert_close(pooled.weights, torch.full_like(pooled.weights, 1 / 99), rtol=1e-14, atol=0)


def test_gwap_matches_equations_3_to_5_by_hand():
    torch.manual_seed(3)
    features = torch.randn(1, 3, 2, 3, dtype=torch.float64)
    weight, bias = torch.randn(3, dtype=torch.float64), torch.randn(1, dtype=torch.float64)
    m = {}
    for y in range(2):
        for x in range(3):
            s = sum(float(weight[k]) * float(features[0, k, y, x]) for k in range(3)) + float(bias)
            m[y, x] = math.exp(1 / (1 + math.exp(-s)))  # eq. 3
    total = sum(m.values())
    alpha = {pos: v / total for pos, v in m.items()}  # eq. 4
    f = [sum(alpha[y, x] * float(features[0, k, y, x]) for (y, x) in alpha) for k in range(3)]  # eq. 5
    pooled = gwap_pool(features, weight, bias)
    torch.testing.assert_close(pooled.output[0], torch.tensor(f, dtype=torch.float64), rtol=1e-12, atol=1e-14)
    for (y, x), a in alpha.items():
        assert pooled.weights[0, 0, y, x].item() == pytest.approx(a, rel=1e-12)


def test_lse_limits_and_bounds():
    torch.manual_seed(1)
    features = torch.randn(2, 4, 6, 5, dtype=torch.float64)
    gap, gmp = gap_pool(features).output, gmp_pool(features).output
    torch.testing.assert_close(lse_pool(features, r=1e-6).output, gap, rtol=0, atol=1e-5)
    log_hw = math.log(30)
    for r in (0.5, 10.0, 1e3, 1e5):
        lse = lse_pool(features, r=r).output
        assert (lse >= gap - 1e-12).all()  # Jensen: log-mean-exp >= mean
        assert (lse <= gmp + 1e-12).all()
        assert (gmp - lse <= log_hw / r + 1e-12).all()  # the mean contains exp(r max) / HW
    torch.testing.assert_close(lse_pool(features, r=1e5).output, gmp, rtol=0, atol=1e-4)


def test_lse_does_not_overflow_on_large_activations():
    features = torch.full((1, 2, 4, 4), 1e3)
    features[0, 0, 1, 2] = 1.001e3
    pooled = lse_pool(features, r=100.0)
    assert torch.isfinite(pooled.output).all() and torch.isfinite(pooled.weights).all()
    assert pooled.output[0, 1].item() == pytest.approx(1e3, rel=1e-6)
    assert 1e3 < pooled.output[0, 0].item() <= 1.001e3


def test_lse_weights_are_its_gradient_and_gmp_weights_pick_the_max():
    features = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    pooled = lse_pool(features, r=2.5)
    (grad,) = torch.autograd.grad(pooled.output.sum(), features)
    torch.testing.assert_close(pooled.weights, grad)
    gmp = gmp_pool(features.detach())
    torch.testing.assert_close((gmp.weights * features.detach()).sum(dim=(2, 3)), gmp.output)
    assert (gmp.weights.sum(dim=(2, 3)) == 1).all()


def test_class_specific_gwap_matches_equations_6_to_9_by_hand():
    torch.manual_seed(2)
    n, c, h, w = 2, 3, 2, 2
    scores = torch.randn(n, c, h, w, dtype=torch.float64) * 2
    background = torch.randn(n, 1, h, w, dtype=torch.float64)
    pooled = class_specific_gwap_pool(scores, background)
    assert pooled.weights.shape == (n, c, h, w)
    for i in range(n):
        for cls in range(c):
            m = {}
            for y in range(h):
                for x in range(w):
                    all_scores = [float(scores[i, j, y, x]) for j in range(c)] + [float(background[i, 0, y, x])]
                    o = math.exp(all_scores[cls]) / sum(math.exp(v) for v in all_scores)  # eq. 6, over C+1
                    m[y, x] = o / (1 + math.exp(-all_scores[cls]))  # eq. 7
            z = sum(math.exp(v) for v in m.values())
            alpha = {pos: math.exp(v) / z for pos, v in m.items()}  # eq. 8
            s = sum(alpha[y, x] * float(scores[i, cls, y, x]) for (y, x) in alpha)  # eq. 9
            assert pooled.output[i, cls].item() == pytest.approx(s, rel=1e-12)
            assert sum(alpha.values()) == pytest.approx(1.0)
            for (y, x), a in alpha.items():
                assert pooled.weights[i, cls, y, x].item() == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize("name", ["gwap", "gwap_no_sigmoid", "gwap_no_exp", "gwap_cs"])
def test_gradients_reach_w_and_b(name):
    torch.manual_seed(4)
    head = build_pooling(name, 6, 4)
    features = torch.randn(2, 6, 5, 5)
    target = torch.randn(2, 6) if not head.outputs_scores else torch.randn(2, 4)
    loss = ((head(features).output - target) ** 2).sum()
    loss.backward()
    conv = head.conv
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert conv.bias.grad is not None and conv.bias.grad.abs().sum() > 0


def test_oracle_alpha_normalizes_the_mask():
    mask = torch.zeros(2, 1, 3, 4)
    mask[0, 0, 1, 1:3] = 1.0
    mask[0, 0, 2, 3] = 0.5
    alpha = oracle_alpha(mask)
    assert alpha[0, 0, 1, 1].item() == pytest.approx(1 / 2.5)
    assert alpha[0, 0, 2, 3].item() == pytest.approx(0.5 / 2.5)
    assert alpha[0, 0, 0, 0].item() == 0.0
    torch.testing.assert_close(alpha[1], torch.full((1, 3, 4), 1 / 12))  # no boxes: uniform
    with pytest.raises(ValueError, match="non-negative"):
        oracle_alpha(-mask)


def test_box_coverage_hand_worked():
    # An 8x8 image, a 4x4 grid (2x2-pixel cells); box covering pixels x 1..4, y 0..1 (x2, y2 exclusive).
    coverage = box_coverage(torch.tensor([[1.0, 0.0, 5.0, 2.0]]), (8, 8), (4, 4))
    expected = torch.zeros(4, 4)
    expected[0] = torch.tensor([0.5, 1.0, 0.5, 0.0])
    torch.testing.assert_close(coverage, expected)
    # Overlapping boxes count once (union); no boxes -> zeros.
    union = box_coverage(torch.tensor([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 4.0, 4.0]]), (8, 8), (4, 4))
    assert union.sum().item() == pytest.approx(4.0)
    assert box_coverage(torch.zeros(0, 4), (8, 8), (4, 4)).sum().item() == 0.0


def test_factory_builds_every_name_and_rejects_unknown():
    kinds = {name: type(build_pooling(name, 8, 3)).__name__ for name in POOLING_NAMES}
    assert kinds == {
        "gap": "GAP",
        "gmp": "GMP",
        "lse": "LSE",
        "gwap": "GWAP",
        "gwap_no_sigmoid": "GWAP",
        "gwap_no_exp": "GWAP",
        "gwap_gt": "OracleGWAP",
        "gwap_cs": "ClassSpecificGWAP",
    }
    assert build_pooling("lse", 8, 3, r=3.0).r == 3.0
    assert isinstance(build_pooling("gwap_cs", 8, 3), ClassSpecificGWAP)
    assert build_pooling("gwap_no_exp", 8, 3).score == "sigmoid"
    with pytest.raises(ValueError, match="unknown pooling 'avg'"):
        build_pooling("avg", 8, 3)
    with pytest.raises(ValueError, match="score"):
        GWAP(8, score="tanh")
    with pytest.raises(ValueError, match=r"\(N, K, H, W\)"):
        gap_pool(torch.zeros(3, 4))


def test_heads_declare_their_map_kind():
    kinds = {name: build_pooling(name, 8, 3).map_kind for name in POOLING_NAMES}
    assert kinds == {
        "gap": "cam", "gmp": "cam", "lse": "cam", "gwap": "alpha", "gwap_no_sigmoid": "alpha",
        "gwap_no_exp": "alpha", "gwap_gt": "alpha", "gwap_cs": "alpha_c",
    }  # fmt: skip


def test_registry_refuses_a_name_twice_and_builds_a_new_head():
    class Half(PoolingHead):
        """A head from elsewhere (e.g. R-FCN's): half the GAP output."""

        map_kind = "cam"

        def __init__(self, in_channels: int, scale: float = 0.5) -> None:
            super().__init__(in_channels)
            self.scale = scale

        def forward(self, features):
            self._check_input(features)
            pooled = gap_pool(features)
            return Pooled(pooled.output * self.scale, pooled.weights * self.scale)

    with pytest.raises(ValueError, match=r"pooling 'gwap' is already registered \(GWAP\)"):
        register_pooling("gwap", Half)
    try:
        register_pooling("half_gap_test", Half)
        head = build_pooling("half_gap_test", 4, 2, scale=0.25)
        features = torch.arange(32.0).view(1, 4, 2, 4)
        torch.testing.assert_close(head(features).output, features.mean(dim=(2, 3)) / 4)
        with pytest.raises(ValueError, match="already registered"):
            register_pooling("half_gap_test", Half)
    finally:
        pooling._REGISTRY.pop("half_gap_test", None)

    class NoKind(PoolingHead):
        pass

    with pytest.raises(ValueError, match="map_kind must be one of"):
        register_pooling("no_kind_test", NoKind)


def test_factory_validates_counts_options_and_channels():
    for in_channels, num_classes, field in ((0, 3, "in_channels"), (8, 0, "num_classes"), (8, 2.0, "num_classes"),
                                            (True, 3, "in_channels")):
        with pytest.raises(ValueError, match=f"{field} must be an integer >= 1"):
            build_pooling("gwap_cs", in_channels, num_classes)
    with pytest.raises(ValueError, match=r"pooling 'gwap' fixes score='sigmoid_exp'; choose another name"):
        build_pooling("gwap", 8, 3, score="exp")
    with pytest.raises(ValueError, match=r"pooling 'gap' takes no option r; accepted: none"):
        build_pooling("gap", 8, 3, r=2.0)
    with pytest.raises(ValueError, match=r"pooling 'lse' takes no option score; accepted: r"):
        build_pooling("lse", 8, 3, score="exp")
    for name in POOLING_NAMES:
        head = build_pooling(name, 64, 3)
        args = (torch.ones(1, 1, 2, 2),) if head.needs_gt_mask else ()
        with pytest.raises(ValueError, match=f"{type(head).__name__} was built for 64 channels, got features with 128"):
            head(torch.zeros(1, 128, 2, 2), *args)
        with pytest.raises(ValueError, match="empty 0x0 map"):
            head(torch.zeros(1, 64, 0, 0), *args)

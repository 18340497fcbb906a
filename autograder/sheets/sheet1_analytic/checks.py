"""Checks of sheet 1: the closed forms against the reference for all values of the
symbols (:mod:`autograder.symbolic`), the neuralization layers against the definitions
in :mod:`.reference`, on the student's challenge."""
from autograder.checking import GradingError, assert_close
from autograder.sheets.sheet1_analytic import reference as ref
from autograder.symbolic import check_tree


def _closed_form(answer, name, expected, *, shape=None, substitutions=None, seed=0):
    check_tree(answer.expression_tree("value", what=name), expected, ref.SYMBOLS, shape=shape, name=name,
               substitutions=substitutions, seed=seed)


def test_prototype_l2(challenge, answer):
    """x* for Ω(x) = λ‖x‖²: a 3×1 matrix equal to w/(2λ)."""
    _closed_form(answer, "x_star_l2", ref.PROTOTYPE_L2, shape=(ref.D, 1), seed=11)


def test_prototype_gaussian(challenge, answer):
    """x* for Ω(x) = −log N(x; μ, Σ): a 3×1 matrix equal to μ + Σw."""
    _closed_form(answer, "x_star_gaussian", ref.PROTOTYPE_GAUSSIAN, shape=(ref.D, 1), seed=12)


def test_code_generator(challenge, answer):
    """z* for the generator x = Az + c: a 2×1 matrix equal to Aᵀw/(2λ)."""
    _closed_form(answer, "z_star_generator", ref.CODE_GENERATOR, shape=(ref.K, 1), seed=13)


def test_prototype_generator(challenge, answer):
    """x* = A z* + c for the generator: a 3×1 matrix equal to AAᵀw/(2λ) + c."""
    _closed_form(answer, "x_star_generator", ref.PROTOTYPE_GENERATOR, shape=(ref.D, 1), seed=14)


def test_R1_network_A(challenge, answer):
    """R₁ of network A at a₁ = a₂ (compared after setting a₂ = a₁)."""
    _closed_form(answer, "R1_network_A", ref.R1_NETWORK_A_EQUAL, substitutions={ref.a2: ref.a1}, seed=21)


def test_R1_network_B(challenge, answer):
    """R₁ of network B at a₁ = a₂ (compared after setting a₂ = a₁)."""
    _closed_form(answer, "R1_network_B", ref.R1_NETWORK_B_EQUAL, substitutions={ref.a2: ref.a1}, seed=22)


def test_R1_network_A_above(challenge, answer):
    """R₁ of network A where a₁ > a₂ (compared after setting a₁ = a₂ + d, d > 0)."""
    _closed_form(answer, "R1_network_A_above", ref.R1_NETWORK_A_ABOVE, substitutions={ref.a1: ref.a2 + ref.GAP},
                 seed=23)


def test_softmin_lower_bound(challenge, answer):
    """The lower bound of the soft min-pooling, attained when all M values are equal."""
    _closed_form(answer, "softmin_lower_bound", ref.SOFTMIN_LOWER_BOUND, seed=31)


def _svm_problem(challenge, case):
    return challenge[f"x_{case}"], challenge[f"U_{case}"], challenge[f"alpha_{case}"], float(challenge[f"gamma_{case}"])


def _cases(challenge):
    return sorted(int(key.rsplit("_", 1)[1]) for key in challenge if key.startswith("gamma_"))


def test_layer1(challenge, answer):
    """h[n, i] = ‖x_n − u_i‖² − (1/γ) log α_i, shape (N, M), on every problem of the challenge."""
    for case in _cases(challenge):
        x, U, alpha, gamma = _svm_problem(challenge, case)
        h = answer.array(f"h_{case}", shape=(len(x), len(U)), what=f"layer1(x, U, alpha, gamma) with N={len(x)}, M={len(U)}")
        assert_close(h, ref.reference_layer1(x, U, alpha, gamma), rtol=1e-6, atol=1e-8,
                     name=f"layer1 (gamma={gamma:.3g})")


def test_layer2(challenge, answer):
    """The soft minimum of every row, also for γ = 500 where exp(−γh) underflows."""
    for case in _cases(challenge):
        h, gamma = challenge[f"h_{case}"], float(challenge[f"gamma_{case}"])
        o = answer.array(f"o_{case}", shape=(len(h),), what=f"layer2(h, gamma) for h of shape {h.shape}")
        try:
            assert_close(o, ref.reference_layer2(h, gamma), rtol=1e-6, atol=1e-8, name=f"layer2 (gamma={gamma:.3g})")
        except GradingError as error:
            if gamma < 100:
                raise
            raise GradingError(f"{error}. For large gamma exp(-gamma*h) underflows to 0: factor out the minimum "
                               "(or use torch.logsumexp)") from None


def test_neuralization(challenge, answer):
    """layer2(layer1(x)) equals the outlier score o(x) of the one-class SVM."""
    for case in _cases(challenge):
        x, U, alpha, gamma = _svm_problem(challenge, case)
        o = answer.array(f"o_{case}", shape=(len(x),), what="layer2(layer1(x, U, alpha, gamma), gamma)")
        assert_close(o, ref.outlier_score(x, U, alpha, gamma), rtol=1e-6, atol=1e-8,
                     name=f"layer2(layer1(x)) (gamma={gamma:.3g})")

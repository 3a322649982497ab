"""The exercise checkers (stylelab.teaching.exercises): a right answer passes, each common mistake
gets its own one-line message, and the engine runs on a student's functions
(``functions=``) exactly as on its own."""

from __future__ import annotations

import re

import pytest
import torch

from stylelab import exercises, losses
from stylelab.errors import SettingsError
from stylelab.teaching.exercises import ExerciseError
from stylelab.method.optimise import optimize
from stylelab.control.transfer import run

SIZE = 32


def fails(check, fn, pattern: str) -> str:
    with pytest.raises(ExerciseError) as info:
        check(fn)
    message = str(info.value)
    assert "\n" not in message, "one line"
    assert re.search(pattern, message), message
    return message


# --- right answers -------------------------------------------------------------------


def content_loss(F, P):
    return 0.5 * (F - P.detach()).pow(2).sum()


def gram(F):
    b, n, h, w = F.shape
    f = F.reshape(b, n, h * w)
    return f @ f.transpose(1, 2)


def style_layer_loss(F, A):
    _, n, h, w = F.shape
    return (gram(F) - A.detach()).pow(2).sum() / (4 * n**2 * (h * w) ** 2)


def total_loss(content, style, alpha, beta):
    return alpha * content + beta * style


def make_closure(optimizer, x, loss_fn):
    def closure():
        optimizer.zero_grad()
        loss = loss_fn(x)
        loss.backward()
        return loss
    return closure


def tv_loss(x):
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum()


def style_layers(k):
    return [f"relu{i}_1" for i in range(1, k + 1)]


def layer_weights(layers):
    return {l: 1 / len(layers) for l in layers}


@pytest.mark.parametrize("check, fn", [
    (exercises.check_content_loss, content_loss), (exercises.check_gram, gram),
    (exercises.check_style_layer_loss, style_layer_loss), (exercises.check_total_loss, total_loss),
    (exercises.check_closure, make_closure), (exercises.check_tv_loss, tv_loss),
    (exercises.check_style_layers, style_layers), (exercises.check_layer_weights, layer_weights),
])
def test_right_answers_pass(check, fn, capsys):
    assert check(fn) is None  # nothing for a grade cell to display
    assert capsys.readouterr().out.startswith("✓")


def test_inputs_are_fixed_not_random():
    torch.manual_seed(1)
    a = exercises.fixed(2, 3, 4)
    torch.manual_seed(2)
    assert torch.equal(a, exercises.fixed(2, 3, 4))
    assert float(a[0, 0, 1]) == pytest.approx(abs(torch.sin(torch.tensor(0.37, dtype=torch.float64)).item()))


# --- the common mistakes -------------------------------------------------------------


def test_content_loss_mistakes():
    fails(exercises.check_content_loss, lambda F, P: (F - P.detach()).pow(2).sum(), "1/2 of Eq. 1 is missing")
    fails(exercises.check_content_loss, lambda F, P: (F - P.detach()).pow(2).mean(), r"mean \(MSE\)")
    fails(exercises.check_content_loss, lambda F, P: 0.5 * (F - P.detach()).abs().sum(), "differs|gives|expected")
    fails(exercises.check_content_loss, lambda F, P: 0.5 * (F - P).pow(2).sum(), "target P.*detach")
    fails(exercises.check_content_loss,
          lambda F, P: F.shape[0] * 0.5 * (F - P.detach()).pow(2).sum(), "batch is counted twice")
    fails(exercises.check_content_loss, lambda F, P: 0.5 * (F - P.detach()).pow(2).sum().item(), "not a tensor")
    fails(exercises.check_content_loss, lambda F, P: 0.5 * (F - P.detach()).pow(2).sum(dim=1), "one number")

    def stub(F, P):
        raise NotImplementedError("write Eq. 1")
    with pytest.raises(NotImplementedError, match="write Eq. 1"):  # the stub's hint, as it is
        exercises.check_content_loss(stub)
    fails(exercises.check_content_loss, lambda F, P: F.nonexistent(), r"raised AttributeError.*line")
    fails(exercises.check_content_loss, 3, "not a function")


def test_gram_mistakes():
    def chw(F):
        b, n, h, w = F.shape
        return gram(F) / (n * h * w)

    def hw(F):
        return gram(F) / (F.shape[2] * F.shape[3])

    def transposed(F):
        b, n, h, w = F.shape
        f = F.reshape(b, n, h * w)
        return f.transpose(1, 2) @ f

    def batch_summed(F):
        b, n, h, w = F.shape
        f = F.reshape(b, n, h * w)
        return torch.einsum("bik,bjk->ij", f, f)

    def wrong_reshape(F):
        b, n, h, w = F.shape
        f = F.permute(0, 2, 3, 1).reshape(b, n, h * w)  # mixes channels and positions
        return f @ f.transpose(1, 2)

    fails(exercises.check_gram, chw, r"C·H·W.*PyTorch tutorial")
    fails(exercises.check_gram, hw, r"H·W.*Keras")
    fails(exercises.check_gram, transposed, r"F\^T F")
    fails(exercises.check_gram, batch_summed, "sums over the batch")
    fails(exercises.check_gram, wrong_reshape, "differs from Eq. 3")
    fails(exercises.check_gram, lambda F: gram(F) + torch.triu(torch.ones(F.shape[1], F.shape[1]), 1), "symmetric")


def test_style_layer_loss_mistakes():
    def no_four(F, A):
        return 4 * style_layer_loss(F, A)

    def no_factor(F, A):
        return (gram(F) - A.detach()).pow(2).sum()

    def nm_not_squared(F, A):
        _, n, h, w = F.shape
        return (gram(F) - A.detach()).pow(2).sum() / (4 * n * h * w)

    def not_detached(F, A):
        _, n, h, w = F.shape
        return (gram(F) - A).pow(2).sum() / (4 * n**2 * (h * w) ** 2)

    fails(exercises.check_style_layer_loss, no_four, "the 4 of")
    fails(exercises.check_style_layer_loss, no_factor, "factor 1/.* is missing")
    fails(exercises.check_style_layer_loss, nm_not_squared, "squares both")
    fails(exercises.check_style_layer_loss, not_detached, "target A.*detach")


def test_layer_mistakes():
    fails(exercises.check_style_layers, lambda k: [f"conv_{i}" for i in range(1, k + 1)], "PyTorch tutorial's numbering")
    fails(exercises.check_style_layers, lambda k: [f"conv{i}_1" for i in range(1, k + 1)], "before the ReLU")
    fails(exercises.check_style_layers, lambda k: list(reversed(style_layers(k))), "wrong order")
    fails(exercises.check_style_layers, lambda k: "relu1_1", "list of layer names")
    fails(exercises.check_layer_weights, lambda layers: {l: 1.0 for l in layers}, "sums to")
    fails(exercises.check_layer_weights, lambda layers: [1 / len(layers)] * len(layers), "dict")
    fails(exercises.check_layer_weights,
          lambda layers: {l: (i + 1) / sum(range(1, len(layers) + 1)) for i, l in enumerate(layers)}, "equally")


def test_total_loss_mistakes():
    fails(exercises.check_total_loss, lambda c, s, a, b: b * c + a * s, "swapped")
    fails(exercises.check_total_loss, lambda c, s, a, b: a * c + (a / b) * s, "alpha/beta")
    fails(exercises.check_total_loss, lambda c, s, a, b: (a * c + b * s).detach().item(), "not a tensor")


def test_closure_mistakes():
    def no_zero_grad(optimizer, x, loss_fn):
        def closure():
            loss = loss_fn(x)
            loss.backward()
            return loss
        return closure

    def clamps(optimizer, x, loss_fn):
        def closure():
            optimizer.zero_grad()
            with torch.no_grad():
                x.clamp_(0, 1)
            loss = loss_fn(x)
            loss.backward()
            return loss
        return closure

    def no_backward(optimizer, x, loss_fn):
        def closure():
            optimizer.zero_grad()
            return loss_fn(x)
        return closure

    def twice(optimizer, x, loss_fn):
        def closure():
            optimizer.zero_grad()
            loss = loss_fn(x)
            loss.backward()
            return loss_fn(x)
        return closure

    def returns_nothing(optimizer, x, loss_fn):
        def closure():
            optimizer.zero_grad()
            loss_fn(x).backward()
        return closure

    fails(exercises.check_closure, no_zero_grad, "zero_grad")
    fails(exercises.check_closure, clamps, "clamping inside the closure")
    fails(exercises.check_closure, no_backward, "backward")
    fails(exercises.check_closure, twice, "2 times")
    fails(exercises.check_closure, returns_nothing, "returns nothing")
    fails(exercises.check_closure, lambda optimizer, x, loss_fn: None, "must return a function")


def test_tv_mistakes():
    def l1(x):
        return (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()

    def mean(x):
        return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()

    def one_way(x):
        return (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum()

    def rolled(x):
        return (x - x.roll(1, -2)).pow(2).sum() + (x - x.roll(1, -1)).pow(2).sum()

    fails(exercises.check_tv_loss, l1, "absolute differences")
    fails(exercises.check_tv_loss, mean, "a mean")
    fails(exercises.check_tv_loss, one_way, "only the vertical")
    fails(exercises.check_tv_loss, rolled, "wrap around")


def test_a_wrong_answer_never_shows_the_reference():
    with pytest.raises(ExerciseError) as info:
        exercises.check_gram(lambda F: gram(F) / 7)
    rendered = "\n".join(info.value._render_traceback_())
    assert "losses.gram" not in rendered and "def " not in rendered and "bmm" not in rendered
    assert rendered.startswith("ExerciseError: gram")


# --- the engine on the student's functions -------------------------------------------


@pytest.fixture
def images(tiny_image):
    return tiny_image(SIZE, seed=1), tiny_image(SIZE, seed=2)


@pytest.mark.parametrize("convention", ["gatys_code", "paper"])
def test_engine_on_student_functions_equals_its_own(make_vgg, images, convention):
    model = make_vgg()
    content, style = images
    kw = dict(model=model, steps=6, progress=False, convention=convention, tv_weight=1e-3, seed=0)
    own = run(content, style, **kw)
    theirs = run(content, style, functions={"content_loss": content_loss, "gram": gram, "tv_loss": tv_loss,
                                            "total_loss": total_loss, "closure": make_closure}, **kw)
    assert [r["total"] for r in theirs.history] == pytest.approx([r["total"] for r in own.history], rel=1e-4)
    assert torch.allclose(theirs.image, own.image, atol=1e-4)
    assert theirs.settings["functions"]["gram"] == "gram"
    via_e_l = run(content, style, functions={"style_layer_loss": style_layer_loss}, **kw)
    assert [r["style"] for r in via_e_l.history] == pytest.approx([r["style"] for r in own.history], rel=1e-4)


def test_a_students_gram_makes_the_targets(make_vgg, images):
    model = make_vgg()
    _, style = images
    halved = run(None, style, model=model, steps=2, progress=False, content_layers=(),
                 functions={"gram": lambda F: 0.5 * gram(F)})
    own = run(None, style, model=model, steps=2, progress=False, content_layers=())
    # both sides of G - A halve: E_l is a quarter of the engine's at the same image
    assert halved.history[0]["style"] == pytest.approx(own.history[0]["style"] / 4, rel=1e-4)


def test_functions_errors(make_vgg, images):
    model = make_vgg()
    content, style = images
    with pytest.raises(SettingsError, match="unknown function"):
        run(content, style, model=model, steps=1, progress=False, functions={"gramm": gram})
    with pytest.raises(SettingsError, match="not callable"):
        run(content, style, model=model, steps=1, progress=False, functions={"gram": 3})

    def lazy(optimizer, x, loss_fn):
        return lambda: torch.zeros(())
    with pytest.raises(SettingsError, match="closure must compute"):
        run(content, style, model=model, steps=1, progress=False, functions={"closure": lazy})


def test_optimize_takes_a_closure_maker(make_vgg, images):
    from stylelab.method.objective import Objective
    from stylelab.method.conventions import layer_weights
    from stylelab.method.targets import make_targets
    model = make_vgg()
    content, style = images
    layers = ["relu1_1", "relu2_1"]
    t = make_targets(model, (SIZE, SIZE), content, ["relu2_2"], [style], layers)
    obj = Objective(model, t, ["relu2_2"], layer_weights(layers))
    start = torch.full((1, 3, SIZE, SIZE), 0.5)
    a = optimize(obj, start, steps=5, progress=False)
    b = optimize(obj, start, steps=5, progress=False, make_closure=make_closure)
    assert [r["total"] for r in b.history] == pytest.approx([r["total"] for r in a.history], rel=1e-5)


# --- lessons 09-15 -------------------------------------------------------------------


def match_luminance(style_y, content_y):
    return (style_y - style_y.mean()) * (content_y.std(correction=0) / style_y.std(correction=0)) + content_y.mean()


def histogram_matrix(cov_s, cov_c):
    return torch.linalg.cholesky(cov_c) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))


def guided_gram(F, T):
    _, n, h, w = F.shape
    f = F.reshape(n, h * w)
    t = T.reshape(T.shape[0], 1, h * w)
    return (f * t) @ f.T * (h * w) / t.sum(dim=(1, 2)).view(-1, 1, 1)


def new_style_objective(features, fine_targets, fine_layers):
    return sum(style_layer_loss(features[l], fine_targets[l]) for l in fine_layers) / len(fine_layers)


def blended_target(features, b):
    return sum(x / sum(b) * gram(f) for x, f in zip(b, features))


def temporal_loss(x, warped, c):
    return (c * (x - warped.detach()).pow(2)).sum() / x.numel()


def random_filter_features(x, banks):
    import torch.nn.functional as F
    return F.relu(torch.cat([F.conv2d(x, b, padding=b.shape[-1] // 2) for b in banks], 1))


def gram_mmd(F, S):
    _, n, h, w = F.shape
    f, s = F.reshape(n, h * w).T, S.reshape(n, h * w).T
    k = lambda a, b: (a @ b.T).pow(2).mean()
    return (k(f, f) + k(s, s) - 2 * k(f, s)) / (4 * n * n)


def instance_norm(x, eps=1e-5):
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), correction=0, keepdim=True)
    return (x - mu) / (var + eps).sqrt()


def mean_std(t):
    return t.mean(dim=(2, 3), keepdim=True), (t.var(dim=(2, 3), correction=0, keepdim=True) + 1e-5).sqrt()


def adain(x, y):
    (mu_x, sigma_x), (mu_y, sigma_y) = mean_std(x), mean_std(y)
    return sigma_y * (x - mu_x) / sigma_x + mu_y


NEW_CHECKS = [
    (exercises.check_luminance_match, match_luminance), (exercises.check_histogram_matrix, histogram_matrix),
    (exercises.check_guided_gram, guided_gram), (exercises.check_new_style_objective, new_style_objective),
    (exercises.check_blended_target, blended_target), (exercises.check_temporal_loss, temporal_loss),
    (exercises.check_random_filter_features, random_filter_features), (exercises.check_gram_mmd, gram_mmd),
    (exercises.check_instance_norm, instance_norm), (exercises.check_adain, adain),
]


@pytest.mark.parametrize("check, fn", NEW_CHECKS, ids=lambda x: getattr(x, "__name__", ""))
def test_right_answers_pass_09_15(check, fn, capsys):
    assert check(fn) is None
    assert capsys.readouterr().out.startswith("✓")


def test_the_new_checkers_refuse_stylelab_own_functions():
    from stylelab import colour, features, flow, masks, statistics
    fails(exercises.check_guided_gram, masks.guided_gram, "stylelab's own")
    fails(exercises.check_guided_gram, lambda F_, T: masks.guided_gram(F_, T), "stylelab's own")
    fails(exercises.check_temporal_loss, flow.temporal_loss, "stylelab's own")
    fails(exercises.check_temporal_loss, lambda x, o, c: flow.temporal_loss(x, o.detach(), c), "stylelab's own")
    fails(exercises.check_luminance_match,
          lambda s, c: colour.match_luminance(colour.grey(s), colour.grey(c)), "stylelab's own")
    fails(exercises.check_gram_mmd, lambda F_, S: losses.style_layer_loss(F_, losses.gram(S)), "stylelab's own")
    fails(exercises.check_gram_mmd, lambda F_, S: statistics.gram_mmd_identity(F_, S), "stylelab's own")

    def via_bank(x, banks):
        bank = features.RandomFilters(2, (1, 3, 5))
        return bank(x, ["relu1_1"])["relu1_1"]
    fails(exercises.check_random_filter_features, via_bank, "stylelab's own")


def test_luminance_mistakes():
    c = exercises.check_luminance_match
    fails(c, lambda s, t: (s - s.mean()) * (s.std(correction=0) / t.std(correction=0)) + t.mean(), "upside down")
    fails(c, lambda s, t: (s - s.mean()) * (t.std(correction=0) / s.std(correction=0)), "mean mu_C is not added")
    fails(c, lambda s, t: s * (t.std(correction=0) / s.std(correction=0)) + t.mean(), "mu_S is not subtracted")
    fails(c, lambda s, t: (s - s.mean()) * (t.var(correction=0) / s.var(correction=0)) + t.mean(), "variances")
    fails(c, lambda s, t: (s - s.mean()) * (t.std() / s.std()) + t.mean(), "correction=1")
    fails(c, lambda s, t: s - s.mean() + t.mean(), "only the means")
    fails(c, lambda s, t: (t - t.mean()) * (t.std(correction=0) / s.std(correction=0)) + t.mean(), "shape|content's luminance")


def test_histogram_matrix_mistakes():
    c = exercises.check_histogram_matrix
    chol, inv = torch.linalg.cholesky, torch.linalg.inv
    fails(c, lambda s, t: inv(chol(s)) @ chol(t), "wrong order")
    fails(c, lambda s, t: chol(s) @ inv(chol(t)), "content's colours to the style's")
    fails(c, lambda s, t: t @ inv(s), "covariances themselves")
    fails(c, lambda s, t: chol(t).T @ inv(chol(s).T), "transposed")

    def sym(cov, inverse=False):
        vals, vecs = torch.linalg.eigh(cov)
        return (vecs * (vals.rsqrt() if inverse else vals.sqrt())) @ vecs.T
    fails(c, lambda s, t: sym(t) @ sym(s, True), "not the Cholesky one")
    fails(c, lambda s, t: torch.eye(3, dtype=torch.float64), "misses Sigma_C")


def test_guided_gram_mistakes():
    c = exercises.check_guided_gram

    def raw(F, T):
        _, n, h, w = F.shape
        f = F.reshape(n, h * w)
        return torch.stack([(f * t.reshape(1, -1)) @ f.T for t in T])
    fails(c, raw, "no normalisation")
    fails(c, lambda F, T: raw(F, T) / T.sum(dim=(1, 2)).view(-1, 1, 1), "not multiplied by M")
    fails(c, lambda F, T: raw(F, T) / (F.shape[2] * F.shape[3]), "divided by M")
    fails(c, lambda F, T: gram(F).expand(T.shape[0], -1, -1), "masks are not used")
    fails(c, lambda F, T: gram(F), "one Gram matrix")
    fails(c, lambda F, T: raw(F, T).sum(0, keepdim=True), "one Gram matrix")
    fails(c, lambda F, T: raw(F, T) * (F.shape[2] * F.shape[3]) / T.sum(dim=(1, 2)).flip(0).view(-1, 1, 1), "swapped")


def test_new_style_objective_mistakes():
    c = exercises.check_new_style_objective
    fails(c, lambda f, t, fine: sum(style_layer_loss(f[l], t[l]) for l in t) / len(t), "every style layer")
    fails(c, lambda f, t, fine: sum(style_layer_loss(f[l], t[l]) for l in fine) / 5, "weighted 1/5")
    fails(c, lambda f, t, fine: sum(style_layer_loss(f[l], t[l]) for l in fine), "without the weights")
    fails(c, lambda f, t, fine: sum(style_layer_loss(f[l], t[l]) for l in t if l not in fine) / (len(t) - len(fine)),
          "coarse layers are matched")
    fails(c, lambda f, t, fine: sum((gram(f[l]) - t[l]).pow(2).sum() for l in fine) / len(fine), "1/\\(4 N_l")
    fails(c, lambda f, t, fine: sum(style_layer_loss(f[l], t[l]) for l in ("relu1_1", "relu2_1")) / 2,
          "fine_layers argument")


def test_blended_target_mistakes():
    c = exercises.check_blended_target
    fails(c, lambda fs, b: sum(x * gram(f) for x, f in zip(b, fs)), "not normalised")
    fails(c, lambda fs, b: gram(sum(x / sum(b) * f for x, f in zip(b, fs))), "Gram matrix of the blended responses")
    fails(c, lambda fs, b: sum(x / sum(b) * gram(f) for x, f in zip(reversed(b), fs)), "wrong order")
    fails(c, lambda fs, b: sum(gram(f) for f in fs) / len(fs), "weighs the same")


def test_temporal_loss_mistakes():
    c = exercises.check_temporal_loss
    fails(c, lambda x, o, w: (x - o.detach()).pow(2).sum() / x.numel(), "weights c are ignored")
    fails(c, lambda x, o, w: ((1 - w) * (x - o.detach()).pow(2)).sum() / x.numel(), "wrong way round")
    fails(c, lambda x, o, w: (w * (x - o.detach()).pow(2)).sum() / (3 * w.sum()), "number of reliable")
    fails(c, lambda x, o, w: (w * (x - o.detach()).pow(2)).sum(), "no 1/D")
    fails(c, lambda x, o, w: (w * (x - o.detach()).pow(2)).sum() / (x.shape[2] * x.shape[3]), "D is H W")
    fails(c, lambda x, o, w: (w * (x - o.detach()).abs()).sum() / x.numel(), "not squared")
    fails(c, lambda x, o, w: (w * (x - o).pow(2)).sum() / x.numel(), "warped.detach")


def test_random_filter_mistakes():
    import torch.nn.functional as F
    c = exercises.check_random_filter_features
    fails(c, lambda x, bs: torch.cat([F.conv2d(x, b, padding=b.shape[-1] // 2) for b in bs], 1), "no ReLU")
    fails(c, lambda x, bs: F.relu(torch.cat([F.conv2d(x, b, padding=b.shape[-1] // 2) for b in bs[::-1]], 1)),
          "reverse order")
    fails(c, lambda x, bs: F.relu(torch.cat([F.conv2d(F.pad(x, (0, b.shape[-1] - 1, 0, b.shape[-1] - 1)), b)
                                             for b in bs], 1)), "padding is wrong")
    fails(c, lambda x, bs: F.relu(F.conv2d(x, bs[-1], padding=bs[-1].shape[-1] // 2)), "concatenate")
    fails(c, lambda x, bs: F.relu(F.conv2d(x, bs[0])), "concatenate|pad")
    fails(c, lambda x, bs: torch.cat([F.conv2d(F.relu(x), b, padding=b.shape[-1] // 2) for b in bs], 1),
          "ReLU is applied to the image")


def test_gram_mmd_mistakes():
    c = exercises.check_gram_mmd

    def mmd(F, S, k, n_factor=True, cross=2.0):
        _, n, h, w = F.shape
        f, s = F.reshape(n, h * w).T, S.reshape(n, h * w).T
        v = k(f, f).mean() + k(s, s).mean() - cross * k(f, s).mean()
        return v / (4 * n * n) if n_factor else v
    quad = lambda a, b: (a @ b.T).pow(2)
    fails(c, lambda F, S: mmd(F, S, lambda a, b: a @ b.T), "linear kernel")
    fails(c, lambda F, S: mmd(F, S, quad, cross=1.0), "factor 2")
    fails(c, lambda F, S: mmd(F, S, quad, n_factor=False), "1/\\(4 N\\^2\\) is missing")

    def unbiased(F, S):
        _, n, h, w = F.shape
        m = h * w
        f, s = F.reshape(n, m).T, S.reshape(n, m).T
        kf, ks = quad(f, f), quad(s, s)
        off = lambda k: (k.sum() - k.diagonal().sum()) / (m * (m - 1))
        return (off(kf) + off(ks) - 2 * quad(f, s).mean()) / (4 * n * n)
    fails(c, unbiased, "unbiased")

    def channels(F, S):
        _, n, h, w = F.shape
        f, s = F.reshape(n, h * w), S.reshape(n, h * w)
        return (quad(f, f).mean() + quad(s, s).mean() - 2 * quad(f, s).mean()) / (4 * n * n)
    fails(c, channels, "between channels")


# --- lessons 16-17 -------------------------------------------------------------------


def test_instance_norm_mistakes():
    import torch.nn.functional as F
    c = exercises.check_instance_norm

    def norm(dims, correction=0, sigma=lambda var, eps: (var + eps).sqrt(), centre=True):
        def fn(x, eps=1e-5):
            mu = x.mean(dim=dims, keepdim=True)
            var = x.var(dim=dims, correction=correction, keepdim=True)
            return ((x - mu) if centre else x) / sigma(var, eps)
        return fn
    assert c(lambda x, eps=1e-5: F.instance_norm(x, eps=eps)) is None  # torch may be used
    fails(c, norm((0, 2, 3)), "over the batch too.*batch normalisation")
    fails(c, norm((1, 2, 3)), "over the channels too.*layer normalisation")
    fails(c, norm((0, 1, 2, 3)), "over everything")
    fails(c, norm((2, 3), correction=1), "unbiased variance")
    fails(c, norm((2, 3), sigma=lambda var, eps: var.sqrt() + eps), "added to the standard deviation")
    fails(c, norm((2, 3), sigma=lambda var, eps: var.sqrt()), "eps is missing or ignored")
    fails(c, lambda x, eps=1e-5: instance_norm(x), "eps is missing or ignored")
    fails(c, norm((2, 3), sigma=lambda var, eps: var + eps), "divides by the variance")
    fails(c, norm((2, 3), sigma=lambda var, eps: 1.0), "only the mean is subtracted")
    fails(c, norm((2, 3), centre=False), "mean is not subtracted")
    fails(c, lambda x, eps=1e-3: instance_norm(x, eps), "default eps")
    fails(c, lambda x, eps: instance_norm(x, eps), "eps needs a default")
    fails(c, lambda x: instance_norm(x), "eps as its second argument")

    def detached(x, eps=1e-5):
        mu = x.mean(dim=(2, 3), keepdim=True).detach()
        var = x.var(dim=(2, 3), correction=0, keepdim=True).detach()
        return (x - mu) / (var + eps).sqrt()
    fails(c, detached, "gradient.*detach")
    fails(c, lambda x, eps=1e-5: instance_norm(x, eps).detach(), "without a gradient")
    fails(c, lambda x, eps=1e-5: instance_norm(x, eps).flatten(2), "shape")
    fails(c, lambda x, eps=1e-5: instance_norm(x, eps) + 0.01, "differs from")


def test_adain_mistakes():
    c = exercises.check_adain

    def stats(t, dims=(2, 3), correction=0):
        return t.mean(dim=dims, keepdim=True), t.var(dim=dims, correction=correction, keepdim=True)

    def make(dims=(2, 3), correction=0, sigma=lambda var: (var + 1e-5).sqrt()):
        def fn(x, y):
            (mx, vx), (my, vy) = stats(x, dims, correction), stats(y, dims, correction)
            return sigma(vy) * (x - mx) / sigma(vx) + my
        return fn
    fails(c, lambda x, y: adain(y, x), "roles are swapped")
    fails(c, lambda x, y: mean_std(x)[1] * (x - mean_std(x)[0]) / mean_std(y)[1] + mean_std(y)[0], "upside down")
    fails(c, make(sigma=lambda var: var + 1e-5), "variances")
    fails(c, make(sigma=lambda var: var), "variances")
    fails(c, make(dims=(0, 2, 3)), "over the batch too")
    fails(c, make(dims=(1, 2, 3)), "over the channels too")
    fails(c, make(correction=1), "unbiased standard deviation")
    fails(c, lambda x, y: y.std(dim=(2, 3), keepdim=True) * (x - x.mean(dim=(2, 3), keepdim=True))
          / x.std(dim=(2, 3), keepdim=True) + y.mean(dim=(2, 3), keepdim=True), "unbiased standard deviation")
    fails(c, lambda x, y: x + mean_std(y)[0], "x is not normalised")
    fails(c, lambda x, y: mean_std(y)[1] * x + mean_std(y)[0], "x is not normalised")
    fails(c, lambda x, y: x - mean_std(x)[0] + mean_std(y)[0], "only the means")
    fails(c, lambda x, y: mean_std(y)[1] * (x - mean_std(x)[0]) / mean_std(x)[1], "mu\\(y\\) is not added")
    fails(c, lambda x, y: mean_std(y)[1] * x / mean_std(x)[1] + mean_std(y)[0], "mu\\(x\\) is not subtracted")

    def same_size(x, y):  # assumes y has x's H, W
        b, n, h, w = x.shape
        return adain(x, y.reshape(b, n, h * w).reshape(b, n, h, w))
    fails(c, same_size, "y's size differs from x's.*y's own positions")

    def flat_stats(x, y):  # statistics of shape (B, C): they do not broadcast over (B, C, H, W)
        mx, sx = x.mean(dim=(2, 3)), x.std(dim=(2, 3), correction=0)
        my, sy = y.mean(dim=(2, 3)), y.std(dim=(2, 3), correction=0)
        return sy * (x - mx) / sx + my
    fails(c, flat_stats, "raised RuntimeError.*keepdim=True")
    fails(c, lambda x, y: adain(x, y).detach(), "without a gradient")
    fails(c, lambda x, y: adain(x, y)[:, :2], "shape")
    fails(c, lambda x, y: adain(x, y) * 1.01, "differs from sigma")


def test_adain_refuses_stylelab_own():
    from stylelab.method import statistics
    from stylelab.realtime import adain as own
    fails(exercises.check_adain, own.adain, "stylelab's own")
    fails(exercises.check_adain, lambda x, y: own.adain(x, y), "stylelab's own")

    def via_mean_std(x, y):
        (mx, sx), (my, sy) = statistics.mean_std(x), statistics.mean_std(y)
        return sy[..., None, None] * (x - mx[..., None, None]) / sx[..., None, None] + my[..., None, None]
    fails(exercises.check_adain, via_mean_std, "stylelab's own")

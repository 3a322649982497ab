"""The exercise checkers (stylelab.exercises): a right answer passes, each common mistake
gets its own one-line message, and the engine runs on a student's functions
(``functions=``) exactly as on its own."""

from __future__ import annotations

import re

import pytest
import torch

from stylelab import exercises, losses
from stylelab.errors import SettingsError
from stylelab.exercises import ExerciseError
from stylelab.transfer import optimize, run

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
    from stylelab.transfer import Objective, layer_weights, make_targets
    model = make_vgg()
    content, style = images
    layers = ["relu1_1", "relu2_1"]
    t = make_targets(model, (SIZE, SIZE), content, ["relu2_2"], [style], layers)
    obj = Objective(model, t, ["relu2_2"], layer_weights(layers))
    start = torch.full((1, 3, SIZE, SIZE), 0.5)
    a = optimize(obj, start, steps=5, progress=False)
    b = optimize(obj, start, steps=5, progress=False, make_closure=make_closure)
    assert [r["total"] for r in b.history] == pytest.approx([r["total"] for r in a.history], rel=1e-5)

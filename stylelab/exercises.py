"""Checkers for the lessons' exercises: the student writes a function, a checker calls it.

Each ``check_*`` calls the student's function on fixed inputs (deterministic tensors
made from ``sin`` of a counter, the same on every machine and torch release) and on
properties (symmetry, scale, zero at the target, the gradient's direction), compares
with stylelab's own implementation and either prints one line that says what passed
(and returns None) or raises :class:`ExerciseError` with one line that says what is wrong. The common
mistakes get their own message:

========================  ==========================================================
exercise                  recognised mistakes
========================  ==========================================================
content loss (Eq. 1)      no 1/2, a mean (MSE) instead of the sum, no square, the batch
                          counted twice, a target that is not detached
Gram matrix (Eq. 3)       divided by C·H·W (PyTorch tutorial) or H·W (Keras), the
                          transposed product F^T F, summed over the batch
E_l (Eq. 4)               no 1/(4 N^2 M^2) or a part of it, a mean, a target not detached
layers, w_l (Eq. 5)       the PyTorch tutorial's ``conv_N`` numbering, pre-ReLU ``convK_1``,
                          weights that do not sum to one
total loss (Eq. 7)        alpha and beta swapped, alpha/beta used as beta
the L-BFGS closure        no ``zero_grad``, no ``backward``, clamping inside the closure,
                          the loss computed more than once, nothing returned
total variation           absolute instead of squared differences, a mean, one direction
                          only, wrapping around the border (``torch.roll``)
========================  ==========================================================

A wrong answer never shows the reference: the error (and its traceback in Jupyter,
see :meth:`ExerciseError._render_traceback_`) names the mistake, the input and the
numbers, not the code. Nor can the student's function reach the answer: stylelab's own
functions are refused as answers, and so is calling the reference of the exercise
(``stylelab.losses.gram`` inside ``gram``); the expected values are computed only after
the student's function has returned, so no frame it can inspect holds them. Every call of
the student's code has a time limit (:data:`TIME_LIMIT` seconds; an endless loop is
stopped with a one-line :class:`ExerciseError`), and what it returns is checked for type
and finiteness before anything else. The engine can then run on the student's functions
(``stylelab.transfer(..., functions={"gram": gram})``, see
:data:`stylelab.transfer.FUNCTIONS`), so the lesson's figure is made with them.
"""

from __future__ import annotations

import contextvars
import functools
import math
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from . import losses
from .errors import StylelabError

__all__ = ["ExerciseError", "check_content_loss", "check_gram", "check_style_layer_loss", "check_style_layers",
           "check_layer_weights", "check_total_loss", "check_closure", "check_tv_loss", "fixed"]

PAPER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Seconds one call of the student's function (or one check's L-BFGS run) may take before
#: the checker stops it (an endless loop). On the main thread of POSIX (a Jupyter kernel, a
#: script) SIGALRM interrupts it; elsewhere it runs in a helper thread that is abandoned.
TIME_LIMIT = 20.0
_PACKAGE = Path(__file__).resolve().parent
#: The reference implementations the exercise being checked must not call (its own Eq.).
_FORBIDDEN: contextvars.ContextVar = contextvars.ContextVar("stylelab_exercise_forbidden", default=())

#: The PyTorch tutorial numbers every convolution in order (conv_1 ... conv_16): its
#: style layers conv_1 ... conv_5 are the paper's conv1_1, conv1_2, conv2_1, conv2_2, conv3_1.
TUTORIAL_LAYERS = ("conv_1", "conv_2", "conv_3", "conv_4", "conv_5")


class ExerciseError(StylelabError, AssertionError):
    """A student's answer is wrong; the message says how, in one line.

    An AssertionError, so graders (nbgrader, pytest) count it as a failed check.
    """

    def _render_traceback_(self):  # IPython: show the message, not the checker's source
        return [f"ExerciseError: {self}"]


def fixed(*shape: int, offset: float = 0.0, positive: bool = True) -> torch.Tensor:
    """A deterministic tensor: ``sin`` of a counter (0.37 apart), made non-negative like a
    ReLU response when ``positive``. The same numbers on every machine."""
    n = math.prod(shape)
    t = torch.sin(torch.arange(n, dtype=torch.float64) * 0.37 + offset).reshape(shape)
    return (t.abs() if positive else t).float()


def _ok(message: str) -> None:
    """Print what passed. Returns None: a check cell then has no output value (nbgrader warns
    about a grade cell whose output is ``True``)."""
    print(f"✓ {message}")


class _TimeUp(BaseException):
    """Raised inside the student's code when :data:`TIME_LIMIT` is over (a BaseException, so
    their ``except Exception`` does not swallow it)."""


def _origin(fn):
    """The function behind partials, bound methods and ``functools.wraps`` wrappers."""
    for _ in range(32):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif getattr(fn, "__func__", None) is not None:
            fn = fn.__func__
        elif getattr(fn, "__wrapped__", None) is not None:
            fn = fn.__wrapped__
        else:
            break
    return fn


def _refuse_own(fn, name: str) -> None:
    """stylelab's own functions are not an answer (``check_gram(stylelab.losses.gram)``)."""
    f = _origin(fn)
    module = str(getattr(f, "__module__", None) or getattr(type(f), "__module__", "") or "")
    code = getattr(f, "__code__", None)
    in_package = code is not None and Path(code.co_filename).resolve().is_relative_to(_PACKAGE)
    if module == "stylelab" or module.startswith("stylelab.") or in_package:
        what = getattr(f, "__qualname__", type(f).__name__)
        raise ExerciseError(f"{name} is stylelab's own {module}.{what}: the exercise is to write it yourself "
                            f"(define it with def {name}(...) in the notebook)")


def _forbid(*functions):
    """Decorator: while the checker runs, the student's code must not call ``functions``."""
    def wrap(check):
        @functools.wraps(check)
        def checker(*args, **kwargs):
            token = _FORBIDDEN.set(tuple(f for f in functions if f is not None))
            try:
                return check(*args, **kwargs)
            finally:
                _FORBIDDEN.reset(token)
        return checker
    return wrap


def _guarded(fn: Callable, args: tuple, name: str):
    """``fn(*args)`` with the time limit, watching for calls of the forbidden references."""
    forbidden = {f.__code__: f"{f.__module__}.{f.__qualname__}" for f in _FORBIDDEN.get() if hasattr(f, "__code__")}
    hits: list[str] = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in forbidden:
            hits.append(forbidden[frame.f_code])

    def done(value):
        if hits:
            raise ExerciseError(f"{name} calls stylelab's own {hits[0]}: the exercise is to write it yourself")
        return value

    limit = float(TIME_LIMIT)
    late = ExerciseError(f"{name} did not finish within {limit:g} s: an endless loop? (a while loop whose condition "
                         f"never changes, or a function that calls itself without end)")
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        outer = {"first": False}

        def alarm(signum, frame):
            if outer["first"] and callable(previous_handler):  # someone else's alarm came first
                return previous_handler(signum, frame)
            raise _TimeUp()

        previous_handler = signal.signal(signal.SIGALRM, alarm)
        previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, limit)
        if previous_delay and previous_delay < limit:
            outer["first"] = True
            signal.setitimer(signal.ITIMER_REAL, previous_delay)
        start = time.monotonic()
        previous_profile = sys.getprofile()
        sys.setprofile(profile)
        try:
            value = fn(*args)
        except _TimeUp:
            raise late from None
        finally:
            sys.setprofile(previous_profile)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_delay:
                left = previous_delay - (time.monotonic() - start)
                signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), previous_interval)
        return done(value)
    box: dict = {}

    def run():  # not the main thread (or no SIGALRM): a helper thread, abandoned if it overruns
        sys.setprofile(profile)
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the checker's thread
            box["error"] = exc
        finally:
            sys.setprofile(None)

    worker = threading.Thread(target=run, name=f"stylelab-check-{name}", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise ExerciseError(f"{late} (it keeps running in the background: restart the kernel)")
    if "error" in box:
        raise box["error"]
    return done(box.get("value"))


def _attempt(fn: Callable, name: str, *args):
    """Run student code (guarded); an exception becomes one line naming their line."""
    try:
        return _guarded(fn, args, name)
    except NotImplementedError:  # the student edition's stub: its message is the hint
        raise
    except ExerciseError:
        raise
    except Exception as exc:  # noqa: BLE001 - the student's code may raise anything
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (line {frames[-1].lineno}: {frames[-1].line})" if len(frames) > 1 and frames[-1].line else ""
        raise ExerciseError(f"{name} raised {type(exc).__name__}: {exc}{where}") from None


def _call(fn: Callable, name: str, *args):
    """Call the student's function: not stylelab's own, with a time limit, without calling the
    reference; an exception becomes one line naming their line."""
    if not callable(fn):
        raise ExerciseError(f"{name} is not a function (got {type(fn).__name__}); define it with def {name}(...)")
    _refuse_own(fn, name)
    return _attempt(fn, name, *args)


def _finite(t: torch.Tensor, name: str) -> None:
    if t.is_floating_point() or t.is_complex():
        if not bool(torch.isfinite(t.detach()).all()):
            raise ExerciseError(f"{name} returned NaN or infinite values: check for a division by zero, a log or "
                                f"sqrt of a negative number, or an uninitialised tensor (torch.empty)")


def _scalar(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(value).__name__}, not a tensor: don't call .item() or float() "
                            "on the loss, the optimiser needs its gradient")
    if value.numel() != 1:
        raise ExerciseError(f"{name} must return one number (a 0-d tensor), got shape {tuple(value.shape)}: "
                            "sum over every index")
    _finite(value, name)
    return value.reshape(())


def _short(value, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[:n - 3] + "..."


def _close(a: float, b: float, rtol: float = 1e-4) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


def _ratio_message(got: float, want: float, known: dict[float, str], name: str, inputs: str) -> str:
    """One line naming a known mistake when ``got / want`` is one of ``known``'s ratios."""
    if want != 0:
        r = got / want
        for k, msg in known.items():
            if _close(r, k, 1e-3):
                return f"{name}: {msg} ({inputs}: got {got:.6g}, expected {want:.6g})"
    return f"{name} gives {got:.6g}, expected {want:.6g} ({inputs})"


# --------------------------------------------------------------------------------------
# 01: the content loss


@_forbid(losses.content_loss)
def check_content_loss(content_loss: Callable) -> None:
    """Eq. 1 of Gatys et al. (CVPR 2016): ``content_loss(F, P) = 1/2 sum (F - P)^2``.

    F, P: responses of shape (B, N_l, H, W). Checks the value on fixed inputs, zero at
    the target, the gradient dL/dF = F - P (Eq. 2), a batch of two, and that no gradient
    flows into the target P (it is a constant: detach it).
    """
    name = "content_loss"
    F = fixed(1, 4, 3, 5).requires_grad_(True)
    P = fixed(1, 4, 3, 5, offset=1.0)
    n, m = 4, 15
    got = float(_scalar(_call(content_loss, name, F, P), name).detach())
    want = float(losses.content_loss(F.detach(), P))  # only now: no frame the student's code saw holds it
    if not _close(got, want):
        raise ExerciseError(_ratio_message(got, want, {
            2.0: "the 1/2 of Eq. 1 is missing",
            2.0 / (n * m): "that is a mean (MSE); Eq. 1 sums over every unit i and position j",
            1.0 / (n * m): "that is half a mean; Eq. 1 sums over every unit i and position j, it does not divide",
            -1.0: "the sign is wrong: a loss is never negative",
        }, name, "F, P of shape (1, 4, 3, 5)"))
    zero = float(_scalar(_call(content_loss, name, P.clone(), P), name).detach())
    if abs(zero) > 1e-9:
        raise ExerciseError(f"{name}(P, P) = {zero:.6g}: the loss must be 0 when the responses equal the target")
    # The gradient (Eq. 2): dL/dF = F - P.
    F.grad = None
    P_graph = P.clone().requires_grad_(True)
    value = _scalar(_call(content_loss, name, F, P_graph), name)
    if not value.requires_grad:
        raise ExerciseError(f"{name} returned a loss without a gradient: don't .detach() F or convert it to numbers")
    grad_f, grad_p = torch.autograd.grad(value, [F, P_graph], allow_unused=True)
    if grad_p is not None and grad_p.abs().max() > 0:
        raise ExerciseError(f"{name} sends a gradient into the target P: the target is a constant, use P.detach() "
                            "(only the image is optimised)")
    if grad_f is None or not torch.allclose(grad_f, (F - P).detach(), rtol=1e-4, atol=1e-6):
        raise ExerciseError(f"{name}'s gradient with respect to F is not F - P (Eq. 2): check the square and the 1/2")
    # A batch of two images: the loss sums over both, once.
    F2, P2 = fixed(2, 4, 3, 5), fixed(2, 4, 3, 5, offset=1.0)
    got2 = float(_scalar(_call(content_loss, name, F2, P2), name).detach())
    want2 = float(losses.content_loss(F2, P2))
    if not _close(got2, want2):
        raise ExerciseError(_ratio_message(got2, want2, {
            2.0: "the batch is counted twice (summed per image and then again)",
            0.5: "the batch is averaged; sum over it as over every other index"},
            name, "a batch of two, F, P of shape (2, 4, 3, 5)"))
    return _ok(f"{name} is Eq. 1: right value on fixed inputs, 0 at the target, gradient F - P (Eq. 2), "
               "a batch of two, the target kept constant")


# --------------------------------------------------------------------------------------
# 02: the Gram matrix and E_l


@_forbid(losses.gram)
def check_gram(gram: Callable) -> None:
    """Eq. 3: ``gram(F)`` with F of shape (B, N_l, H, W) returns G of shape (B, N_l, N_l),
    G_ij = sum_k F_ik F_jk over the M_l = H W positions, not divided by anything."""
    name = "gram"
    b, n, h, w = 2, 3, 4, 5
    m = h * w
    F = fixed(b, n, h, w)
    got = _call(gram, name, F)
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(got).__name__}, not a tensor")
    _finite(got, name)
    got = got.detach().float()
    want = losses.gram(F)  # only now: no frame the student's code saw holds it
    inputs = f"F of shape {(b, n, h, w)}"
    if tuple(got.shape) in ((b, m, m), (m, m)):
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)} for {inputs}: that is F^T F, correlations between "
                            f"positions; Eq. 3 correlates the N_l = {n} feature maps, G = F F^T, shape {(b, n, n)}")
    if tuple(got.shape) in ((n, n), (1, n, n)) and torch.allclose(got.reshape(n, n), want.sum(0), rtol=1e-4):
        raise ExerciseError(f"{name} sums over the batch: for {inputs} keep one Gram matrix per image, shape {(b, n, n)}")
    if tuple(got.shape) != (b, n, n):
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)} for {inputs}; expected (B, N_l, N_l) = {(b, n, n)}")
    if not torch.allclose(got, got.transpose(1, 2), rtol=1e-4, atol=1e-6):
        raise ExerciseError(f"{name} is not symmetric: G_ij and G_ji must both be sum_k F_ik F_jk")
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        ratio = float(got.sum() / want.sum())
        known = {1.0 / (n * m): f"it is divided by C·H·W = {n * m} (the PyTorch tutorial's normalisation); the "
                                "paper's Eq. 3 is not divided (E_l's 1/(4 N^2 M^2) does the normalising)",
                 1.0 / m: f"it is divided by H·W = {m} (the Keras tutorial's normalisation); the paper's Eq. 3 is "
                          "not divided",
                 1.0 / n: f"it is divided by N_l = {n}; the paper's Eq. 3 is not divided"}
        for k, msg in known.items():
            if _close(ratio, k, 1e-3) and torch.allclose(got, want * k, rtol=1e-4, atol=1e-6):
                raise ExerciseError(f"{name}: {msg}")
        raise ExerciseError(f"{name} differs from Eq. 3 for {inputs}: G[0, 0, 1] = {float(got[0, 0, 1]):.6g}, "
                            f"expected {float(want[0, 0, 1]):.6g} (flatten each map to M_l = H·W positions, then F F^T)")
    return _ok(f"{name} is Eq. 3: shape (B, N_l, N_l), symmetric, right values on fixed inputs, one per image")


@_forbid(losses.style_layer_loss)
def check_style_layer_loss(style_layer_loss: Callable) -> None:
    """Eq. 4: ``style_layer_loss(F, A) = 1/(4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2`` with G
    the Gram matrix of F (1, N_l, H, W) and A the style image's (1, N_l, N_l)."""
    name = "style_layer_loss"
    n, h, w = 3, 4, 5
    m = h * w
    F = fixed(1, n, h, w).requires_grad_(True)
    A = losses.gram(fixed(1, n, h, w, offset=2.0))
    value = _scalar(_call(style_layer_loss, name, F, A), name)
    got = float(value.detach())
    want = float(losses.style_layer_loss(F.detach(), A))  # only now
    inputs = f"F of shape {(1, n, h, w)}, A of shape {(1, n, n)}"
    if not _close(got, want):
        raise ExerciseError(_ratio_message(got, want, {
            4.0: "the 4 of 1/(4 N_l^2 M_l^2) is missing",
            4.0 * n * n * m * m: "the factor 1/(4 N_l^2 M_l^2) is missing",
            float(n * m): "the factor is 1/(4 N_l M_l); Eq. 4 squares both: 1/(4 N_l^2 M_l^2)",
            float(m * m): "M_l^2 is missing from 1/(4 N_l^2 M_l^2)",
            float(n * n): "N_l^2 is missing from 1/(4 N_l^2 M_l^2)",
            4.0 * m * m: "that is a mean over the N_l^2 entries of G - A; Eq. 4 sums them with 1/(4 N_l^2 M_l^2)",
            1.0 / (n * m) ** 2: "the Gram matrices are divided by N_l M_l and so is E_l: "
                                "the normalisation is applied twice",
        }, name, inputs))
    zero = float(_scalar(_call(style_layer_loss, name, F.detach(), losses.gram(F.detach())), name).detach())
    if abs(zero) > 1e-9 * max(1.0, want):
        raise ExerciseError(f"{name}(F, gram(F)) = {zero:.6g}: the loss must be 0 when the Gram matrices agree")
    A_graph = A.clone().requires_grad_(True)
    value = _scalar(_call(style_layer_loss, name, F, A_graph), name)
    if not value.requires_grad:
        raise ExerciseError(f"{name} returned a loss without a gradient: don't .detach() F or convert it to numbers")
    grad_f, grad_a = torch.autograd.grad(value, [F, A_graph], allow_unused=True)
    if grad_a is not None and grad_a.abs().max() > 0:
        raise ExerciseError(f"{name} sends a gradient into the target A: the style target is a constant, "
                            "use A.detach()")
    f = F.detach().reshape(1, n, m)
    g = torch.bmm(f, f.transpose(1, 2))
    eq6 = (torch.bmm(g - A, f) / (n * n * m * m)).reshape(1, n, h, w)  # Eq. 6, valid where F > 0
    if grad_f is None or not torch.allclose(grad_f, eq6, rtol=1e-3, atol=1e-8):
        raise ExerciseError(f"{name}'s gradient with respect to F is not Eq. 6's 1/(N_l^2 M_l^2) ((F^l)^T (G - A))^T")
    return _ok(f"{name} is Eq. 4: right value on fixed inputs, 0 when the Gram matrices agree, "
               "gradient as Eq. 6, the target kept constant")


# --------------------------------------------------------------------------------------
# 04: which layers, which weights


def check_style_layers(style_layers: Callable) -> None:
    """``style_layers(k)``: the first k of the paper's style layers, conv1_1 ... conv5_1,
    as stylelab names their rectified responses: ``relu1_1``, ``relu2_1``, ..."""
    name = "style_layers"
    for k in range(1, 6):
        got = _call(style_layers, name, k)
        if isinstance(got, (str, bytes)) or not isinstance(got, (list, tuple)):
            raise ExerciseError(f"{name}({k}) must return a list of layer names, got {type(got).__name__} "
                                f"{_short(got)}")
        if not all(isinstance(x, str) for x in got):
            raise ExerciseError(f"{name}({k}) must return layer names (strings), got {_short(got)}")
        got = list(got)
        want = list(PAPER_LAYERS[:k])
        if got == want:
            continue
        if any(x in TUTORIAL_LAYERS or (x.startswith("conv_") and x[5:].isdigit()) for x in got):
            raise ExerciseError(f"{name}({k}) = {got}: that is the PyTorch tutorial's numbering, which counts every "
                                "convolution (conv_2 is conv1_2, conv_5 is conv3_1); the paper's style layers are "
                                "the first of each block: relu1_1, relu2_1, ...")
        if got == [x.replace("relu", "conv") for x in want]:
            raise ExerciseError(f"{name}({k}) = {got}: stylelab's convK_1 is the response before the ReLU; the "
                                "paper's 'conv1_1' responses are rectified, stylelab's relu1_1, ...")
        if sorted(got) == sorted(want):
            raise ExerciseError(f"{name}({k}) = {got}: the right layers in the wrong order; list them from shallow "
                                "to deep")
        raise ExerciseError(f"{name}({k}) = {got}: the paper's first {k} style layer(s) are {want}")
    return _ok(f"{name} gives the paper's layers for k = 1 ... 5: " + ", ".join(PAPER_LAYERS))


def check_layer_weights(layer_weights: Callable) -> None:
    """``layer_weights(layers)``: the paper's w_l of Eq. 5 for a row of Fig. 3 (2015):
    equal weights, w_l = 1 / (number of layers), as a dict layer -> w_l."""
    name = "layer_weights"
    for k in range(1, 6):
        layers_k = list(PAPER_LAYERS[:k])
        got = _call(layer_weights, name, layers_k)
        if not isinstance(got, dict):
            raise ExerciseError(f"{name}({layers_k}) must return a dict layer -> w_l, got {type(got).__name__} "
                                f"{_short(got)}")
        if set(got) != set(layers_k):
            raise ExerciseError(f"{name}({layers_k}) has keys {sorted(map(repr, got))}; one weight per given layer, "
                                f"keyed by name")
        values = []
        for layer, v in got.items():
            if isinstance(v, torch.Tensor) and v.numel() == 1:
                v = float(v.detach())
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ExerciseError(f"{name}({layers_k})[{layer!r}] is {type(v).__name__} {_short(v)}: each w_l "
                                    f"must be a number, such as 1 / len(layers)")
            values.append(float(v))
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ExerciseError(f"{name}({layers_k}) = {got}: weights are finite and >= 0")
        if not _close(sum(values), 1.0, 1e-6):
            raise ExerciseError(f"{name}({layers_k}) sums to {sum(values):.6g}: the paper's w_l = 1/{k} per layer "
                                "sum to one (Eq. 5's weights share one beta)")
        if not all(_close(v, 1.0 / k, 1e-6) for v in values):
            raise ExerciseError(f"{name}({layers_k}) = {got}: the paper weights the layers equally, w_l = 1/{k}")
    return _ok(f"{name} gives the paper's equal weights w_l = 1/L for L = 1 ... 5")


# --------------------------------------------------------------------------------------
# 03: the total loss and the L-BFGS closure


def check_total_loss(total_loss: Callable) -> None:
    """Eq. 7: ``total_loss(content, style, alpha, beta) = alpha * content + beta * style``."""
    name = "total_loss"
    c, s = torch.tensor(2.5, requires_grad=True), torch.tensor(0.125, requires_grad=True)
    alpha, beta = 1.0, 1e3
    value = _scalar(_call(total_loss, name, c, s, alpha, beta), name)
    got, want = float(value.detach()), alpha * 2.5 + beta * 0.125
    if not _close(got, want):
        if _close(got, beta * 2.5 + alpha * 0.125):
            raise ExerciseError(f"{name}: alpha and beta are swapped; alpha weights the content, beta the style")
        if _close(got, alpha * 2.5 + (alpha / beta) * 0.125):
            raise ExerciseError(f"{name}: the style term is weighted by alpha/beta; Eq. 7 weights it by beta "
                                "(alpha/beta is only their ratio)")
        raise ExerciseError(f"{name}(content=2.5, style=0.125, alpha=1, beta=1000) = {got:.6g}, expected {want:.6g}")
    if not value.requires_grad:
        raise ExerciseError(f"{name} returned a number without a gradient: keep the tensors, don't call .item()")
    gc, gs = torch.autograd.grad(value, [c, s])
    if not (_close(float(gc), alpha) and _close(float(gs), beta)):
        raise ExerciseError(f"{name}'s gradient is ({float(gc):.4g}, {float(gs):.4g}); Eq. 7 gives (alpha, beta)")
    return _ok(f"{name} is Eq. 7: alpha * content + beta * style, with its gradient")


def check_closure(make_closure: Callable) -> None:
    """``make_closure(optimizer, x, loss_fn)`` returns the closure ``optimizer.step`` calls:
    zero the gradients, compute ``loss = loss_fn(x)`` once, ``loss.backward()``, return
    ``loss``. It must not change x (clamp after ``optimizer.step``, not inside: L-BFGS's
    curvature pairs assume x moved only by its own step)."""
    name = "make_closure"
    target = fixed(1, 3, 4, 4, offset=0.5)
    start = fixed(1, 3, 4, 4, offset=3.0, positive=False) * 1.5  # outside [0, 1] in places
    calls = {"n": 0}

    def loss_fn(image):
        calls["n"] += 1
        return (image - target).pow(2).sum()

    x = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=10)
    closure = _call(make_closure, name, opt, x, loss_fn)
    if not callable(closure):
        raise ExerciseError(f"{name} must return a function (the closure), got {type(closure).__name__}")
    x.grad = torch.full_like(x, 7.0)  # a stale gradient from an earlier step
    before = x.detach().clone()
    returned = _call(closure, "your closure")
    if calls["n"] == 0:
        raise ExerciseError("your closure never calls loss_fn(x): it must compute the loss")
    if calls["n"] > 1:
        raise ExerciseError(f"your closure computes the loss {calls['n']} times: once per call (each costs a "
                            "forward and a backward pass through VGG)")
    if not torch.equal(x.detach(), before):
        raise ExerciseError("your closure changes x (clamping inside the closure?): L-BFGS assumes x moves only by its "
                            "own step; clamp after optimizer.step(closure)")
    if returned is None:
        raise ExerciseError("your closure returns nothing: return the loss, L-BFGS needs its value")
    if not isinstance(returned, torch.Tensor) or returned.numel() != 1:
        raise ExerciseError(f"your closure returns {type(returned).__name__} {_short(returned)}: return the loss "
                            f"tensor itself (loss = loss_fn(x); ...; return loss)")
    _finite(returned, "your closure")
    want_grad = 2 * (before - target)
    if x.grad is None:
        raise ExerciseError("after your closure x.grad is None: call loss.backward()")
    if torch.allclose(x.grad, want_grad + 7.0, atol=1e-5):
        raise ExerciseError("your closure adds to the previous step's gradient: call optimizer.zero_grad() first")
    if torch.allclose(x.grad, torch.full_like(x, 7.0)):
        raise ExerciseError("your closure does not call loss.backward(): x.grad is the previous step's")
    if not torch.allclose(x.grad, want_grad, rtol=1e-4, atol=1e-5):
        raise ExerciseError("after your closure x.grad is not the gradient of loss_fn(x): call loss.backward() once")
    if not _close(float(returned.detach() if isinstance(returned, torch.Tensor) else returned),
                  float(loss_fn(before).detach()), 1e-5):
        raise ExerciseError("your closure returns something other than the loss it computed")
    # It drives a real L-BFGS run to the minimum.
    x = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=10)
    closure = _call(make_closure, name, opt, x, loss_fn)
    first = float(loss_fn(x).detach())

    def twenty_steps():
        for _ in range(20):
            opt.step(closure)

    _attempt(twenty_steps, "your closure")  # the time limit, and one-line errors, here too
    last = float(loss_fn(x).detach())
    if not last < 1e-6 * first:
        raise ExerciseError(f"20 L-BFGS steps with your closure took a quadratic only from {first:.4g} to {last:.4g}")
    return _ok(f"{name}: zeroes the gradients, one loss evaluation, backward, returns the loss, leaves x alone; "
               f"20 L-BFGS steps with it solve a quadratic ({first:.3g} -> {last:.1e})")


# --------------------------------------------------------------------------------------
# 07: total variation


@_forbid(losses.tv_loss)
def check_tv_loss(tv_loss: Callable) -> None:
    """Total variation, squared (:func:`stylelab.losses.tv_loss`): the sum over pixels and
    channels of (x_{i+1,j} - x_ij)^2 + (x_{i,j+1} - x_ij)^2, for x of shape (B, 3, H, W)."""
    name = "tv_loss"
    x = fixed(1, 3, 6, 7, offset=0.3).requires_grad_(True)
    value = _scalar(_call(tv_loss, name, x), name)
    got, want = float(value.detach()), float(losses.tv_loss(x.detach()))  # want only now
    xd = x.detach()
    dh, dw = xd[..., 1:, :] - xd[..., :-1, :], xd[..., :, 1:] - xd[..., :, :-1]
    if not _close(got, want):
        variants = {
            "absolute differences (the L1 total variation); this one squares them":
                float(dh.abs().sum() + dw.abs().sum()),
            "only the vertical differences; add the horizontal ones (x_{i,j+1} - x_ij)": float(dh.pow(2).sum()),
            "only the horizontal differences; add the vertical ones (x_{i+1,j} - x_ij)": float(dw.pow(2).sum()),
            "a mean; this total variation sums over every pixel and channel":
                float(dh.pow(2).mean() + dw.pow(2).mean()),
            "differences that wrap around the border (torch.roll?); compare neighbours inside the image only":
                float((xd - xd.roll(1, -2)).pow(2).sum() + (xd - xd.roll(1, -1)).pow(2).sum()),
            "the square root of the sum: this one is the sum of squares itself":
                float((dh.pow(2).sum() + dw.pow(2).sum()).sqrt()),
        }
        for msg, v in variants.items():
            if _close(got, v, 1e-4):
                raise ExerciseError(f"{name}: {msg} (x of shape (1, 3, 6, 7): got {got:.6g}, expected {want:.6g})")
        raise ExerciseError(f"{name} gives {got:.6g} for x of shape (1, 3, 6, 7), expected {want:.6g}")
    flat = _scalar(_call(tv_loss, name, torch.full((1, 3, 5, 5), 0.4)), name)
    if abs(float(flat)) > 1e-9:
        raise ExerciseError(f"{name} of a flat grey image is {float(flat):.4g}: it must be 0")
    if not value.requires_grad:
        raise ExerciseError(f"{name} returned a loss without a gradient: keep it a tensor")
    (grad,) = torch.autograd.grad(value, [x])
    want_grad = torch.autograd.grad(losses.tv_loss(x), [x])[0]
    if not torch.allclose(grad, want_grad, rtol=1e-4, atol=1e-6):
        raise ExerciseError(f"{name}'s gradient differs from the squared total variation's")
    return _ok(f"{name}: squared differences in both directions, summed, 0 on a flat image, right gradient")

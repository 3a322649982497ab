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
luminance matching (09)   the ratio upside down, mu_C not added back, mu_S not subtracted,
                          variances for deviations, sample deviations (correction=1)
histogram matrix A (09)   the factors swapped or inverted, Sigma instead of its factors,
                          upper factors, a valid but non-Cholesky A (eigenvalue roots)
guided Gram (10)          no normalisation, divided by the region only or by M, masks
                          ignored, one Gram for all regions, sizes swapped
new style objective (11)  every layer matched, the coarse ones instead, weights 1/5 or none,
                          no 1/(4 N^2 M^2), fixed layer names
blended target (12)       weights not normalised or reversed or squared, the Gram of the
                          blended responses, weights ignored
temporal loss (13)        weights c ignored or inverted, divided by the reliable values or by
                          H W, no 1/D, absolute differences, a gradient into the warped frame
random filters (14)       no ReLU, the ReLU on the image, wrong padding, banks reversed or not
                          concatenated
Gram loss as MMD (15)     the linear kernel, the cross term without 2, the unbiased MMD, no
                          1/(4 N^2), divided by M^2 twice or not at all, kernel over channels
instance norm (16)        statistics over the batch (batch norm), over the channels (layer
                          norm) or over everything, the unbiased variance, eps outside the
                          square root or missing, the variance for the deviation, only the
                          mean subtracted, the statistics detached, no default eps
AdaIN (17, Eq. 8)         roles swapped or the ratio upside down, variances for deviations,
                          statistics over the batch or the channels, the unbiased std
                          (``torch.std``), x not normalised, mu(y) not added, y's statistics
                          taken at x's size
========================  ==========================================================

A wrong answer never shows the reference: the error (and its traceback in Jupyter,
see :meth:`ExerciseError._render_traceback_`) names the mistake, the input and the
numbers, not the code. Nor can the student's function reach the answer: stylelab's own
functions are refused as answers, and so is calling the reference of the exercise
(``stylelab.method.losses.gram`` inside ``gram``); the expected values are computed only after
the student's function has returned, so no frame it can inspect holds them. Every call of
the student's code has a time limit (:data:`TIME_LIMIT` seconds; an endless loop is
stopped with a one-line :class:`ExerciseError`), and what it returns is checked for type
and finiteness before anything else. The engine can then run on the student's functions
(``stylelab.transfer(..., functions={"gram": gram})``, see
:data:`stylelab.method.transfer.FUNCTIONS`), so the lesson's figure is made with them.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
from pathlib import Path
import signal
import sys
import threading
import time
import traceback
from typing import Callable

import torch

from ..control import colour as _colour
from ..control import masks as _masks
from ..errors import StylelabError
from ..method import losses
from ..method import statistics as _statistics
from ..networks import features as _features
from ..realtime import adain as _adain
from ..video import flow as _flow


__all__ = ["ExerciseError", "check_content_loss", "check_gram", "check_style_layer_loss", "check_style_layers",
           "check_layer_weights", "check_total_loss", "check_closure", "check_tv_loss", "check_luminance_match",
           "check_histogram_matrix", "check_guided_gram", "check_new_style_objective", "check_blended_target",
           "check_temporal_loss", "check_random_filter_features", "check_gram_mmd", "check_instance_norm",
           "check_adain", "fixed"]

PAPER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
#: Seconds one call of the student's function (or one check's L-BFGS run) may take before
#: the checker stops it (an endless loop). On the main thread of POSIX (a Jupyter kernel, a
#: script) SIGALRM interrupts it; elsewhere it runs in a helper thread, stopped by an
#: exception raised in it when the time is up (a loop in Python stops; one stuck in C is left).
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
    """stylelab's own functions are not an answer (``check_gram(stylelab.method.losses.gram)``)."""
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
        except Exception:  # noqa: BLE001 - calling the reference and then failing: say so first
            if hits:
                done(None)
            raise
        finally:
            sys.setprofile(previous_profile)
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous_handler)
            if previous_delay:
                left = previous_delay - (time.monotonic() - start)
                signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), previous_interval)
        return done(value)
    box: dict = {}

    def run():  # not the main thread (or no SIGALRM): a helper thread, stopped if it overruns
        try:
            sys.setprofile(profile)
            try:
                box["value"] = fn(*args)
            finally:
                sys.setprofile(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the checker's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"stylelab-check-{name}", daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive() and not _stop_thread(worker):
        raise ExerciseError(f"{late} (it keeps running in the background: restart the kernel)")
    if isinstance(box.get("error"), _TimeUp):
        raise late from None
    if "error" in box:
        if hits and isinstance(box["error"], Exception):
            done(None)
        raise box["error"]
    return done(box.get("value"))


def _stop_thread(worker: threading.Thread, wait: float = 2.0) -> bool:
    """Raise :class:`_TimeUp` inside ``worker`` (CPython's ``PyThreadState_SetAsyncExc``) and
    wait for it to end. A loop of Python code ends at its next backward jump; code stuck in a
    C call does not, and is left running (False). A thread left spinning would hold the GIL
    against the kernel (or test run) that called the checker for as long as it lives."""
    try:
        import ctypes

        set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except (ImportError, AttributeError):  # not CPython
        return False
    ident = worker.ident
    if ident is None or set_async(ctypes.c_ulong(ident), ctypes.py_object(_TimeUp)) != 1:
        return not worker.is_alive()
    worker.join(wait)
    if worker.is_alive():  # still inside C: take the pending exception back
        set_async(ctypes.c_ulong(ident), None)
        return False
    return True


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
    """Total variation, squared (:func:`stylelab.method.losses.tv_loss`): the sum over pixels and
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


# --------------------------------------------------------------------------------------
# 09: keeping the photograph's colours (Gatys et al. 2017, section 5)


def _luminance_reference(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    s, c = style_y.double(), content_y.double()
    return ((s - s.mean()) * (c.std(correction=0) / s.std(correction=0)) + c.mean()).float()


@_forbid(_colour.match_luminance)
def check_luminance_match(match_luminance: Callable) -> None:
    """Section 5.1 (2017): ``match_luminance(style_y, content_y)`` returns the style's luminance
    matched to the content's mean and standard deviation, L_S' = sigma_C / sigma_S (L_S - mu_S) + mu_C,
    for luminances of shape (1, 1, H, W) (the two images may differ in size). Standard deviations
    over all pixels, as a population (``std(correction=0)``)."""
    name = "match_luminance"
    style_y = fixed(1, 1, 5, 6, offset=0.4) * 0.6 + 0.2
    content_y = fixed(1, 1, 4, 4, offset=2.1) * 0.3 + 0.5
    got = _call(match_luminance, name, style_y, content_y)
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(got).__name__}, not a tensor")
    _finite(got, name)
    got = got.detach().float()
    inputs = "style_y of shape (1, 1, 5, 6), content_y of shape (1, 1, 4, 4)"
    if tuple(got.shape) != tuple(style_y.shape):
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)} for {inputs}: the matched luminance is the "
                            f"style's, shape {tuple(style_y.shape)} (only its mean and spread become the content's)")
    want = _luminance_reference(style_y, content_y)
    if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        return _ok(f"{name}: L_S' = sigma_C / sigma_S (L_S - mu_S) + mu_C; its mean and standard deviation are the "
                   "content's")
    s, c = style_y.double(), content_y.double()
    mu_s, mu_c, sd_s, sd_c = s.mean(), c.mean(), s.std(correction=0), c.std(correction=0)
    variants = {
        "the ratio is upside down: scale by sigma_C / sigma_S (the content's spread over the style's)":
            (s - mu_s) * (sd_s / sd_c) + mu_c,
        "the content's mean mu_C is not added back: the result must have the content's mean":
            (s - mu_s) * (sd_c / sd_s),
        "the style's mean mu_S is not subtracted before scaling": s * (sd_c / sd_s) + mu_c,
        "that scales by the variances; Eq. uses the standard deviations sigma (square roots)":
            (s - mu_s) * (c.var(correction=0) / s.var(correction=0)) + mu_c,
        "only the means are matched: scale by sigma_C / sigma_S as well": s - mu_s + mu_c,
        "that is the content's luminance normalised with the style's statistics: the style is what is matched":
            (c - c.mean()) * (sd_c / sd_s) + mu_c,
        "the standard deviations are the sample ones (correction=1): with images of different sizes the ratio "
        "changes; use std(correction=0) over all pixels":
            (s - mu_s) * (c.std(correction=1) / s.std(correction=1)) + mu_c,
    }
    for msg, v in variants.items():
        if tuple(v.shape) == tuple(got.shape) and torch.allclose(got, v.float(), rtol=1e-4, atol=1e-5):
            raise ExerciseError(f"{name}: {msg} ({inputs})")
    raise ExerciseError(f"{name} differs from L_S' = sigma_C / sigma_S (L_S - mu_S) + mu_C ({inputs}): mean "
                        f"{float(got.mean()):.4g} (expected {float(mu_c):.4g}), standard deviation "
                        f"{float(got.double().std(correction=0)):.4g} (expected {float(sd_c):.4g})")


def _lower(a: torch.Tensor) -> bool:
    return bool(torch.allclose(a, torch.tril(a), atol=1e-8))


@_forbid(_colour.histogram_transform)
def check_histogram_matrix(histogram_matrix: Callable) -> None:
    """Section 5.2 (2017): ``histogram_matrix(cov_s, cov_c)`` returns the 3 x 3 matrix A of colour
    histogram matching from the Cholesky factors, A = L_C L_S^-1 with Sigma = L L^T, so that
    A Sigma_S A^T = Sigma_C (float64 covariances in, float64 A out)."""
    name = "histogram_matrix"
    r = fixed(3, 3, offset=0.7, positive=False).double()
    q = fixed(3, 3, offset=2.9, positive=False).double()
    eye = torch.eye(3, dtype=torch.float64)
    cov_s = r @ r.T * 0.02 + 0.003 * eye
    cov_c = q @ q.T * 0.03 + 0.002 * eye
    got = _call(histogram_matrix, name, cov_s.clone(), cov_c.clone())
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(got).__name__}, not a tensor")
    _finite(got, name)
    if tuple(got.shape) != (3, 3):
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)}: A is a 3 x 3 matrix acting on RGB pixels")
    got = got.detach().double()
    l_s, l_c = torch.linalg.cholesky(cov_s), torch.linalg.cholesky(cov_c)
    want = l_c @ torch.linalg.inv(l_s)
    if torch.allclose(got, want, rtol=1e-5, atol=1e-7):
        return _ok(f"{name}: A = L_C L_S^-1, lower-triangular, and A Sigma_S A^T = Sigma_C")
    inputs = "two fixed 3 x 3 covariances"
    matches = torch.allclose(got @ cov_s @ got.T, cov_c, rtol=1e-4, atol=1e-8)
    variants = {
        "the factors are in the wrong order: A = L_C L_S^-1 (undo the style's factor first, then apply the "
        "content's), not L_S^-1 L_C": torch.linalg.inv(l_s) @ l_c,
        "that maps the content's colours to the style's: A = L_C L_S^-1, not L_S L_C^-1": l_s @ torch.linalg.inv(l_c),
        "that uses the covariances themselves, Sigma_C Sigma_S^-1: A Sigma_S A^T = Sigma_C needs their square "
        "roots (the Cholesky factors L)": cov_c @ torch.linalg.inv(cov_s),
        "that uses the transposed (upper-triangular) factors: torch.linalg.cholesky returns the lower L with "
        "Sigma = L L^T": l_c.T @ torch.linalg.inv(l_s.T),
        "that is L_C L_S^T: the style's factor must be inverted (L_S^-1)": l_c @ l_s.T,
    }
    for msg, v in variants.items():
        if torch.allclose(got, v, rtol=1e-5, atol=1e-7):
            raise ExerciseError(f"{name}: {msg} ({inputs})")
    if matches and not _lower(got):
        raise ExerciseError(f"{name}: your A satisfies A Sigma_S A^T = Sigma_C, but it is not the Cholesky one (it is "
                            "not lower-triangular; the symmetric square roots give another valid A): this exercise "
                            "asks for A = L_C L_S^-1")
    err = float((got @ cov_s @ got.T - cov_c).abs().max())
    raise ExerciseError(f"{name} differs from A = L_C L_S^-1 ({inputs}): A Sigma_S A^T misses Sigma_C by up to "
                        f"{err:.3g}")


# --------------------------------------------------------------------------------------
# 10: guided Gram matrices (Gatys et al. 2017, section 4)


@_forbid(_masks.guided_gram)
def check_guided_gram(guided_gram: Callable) -> None:
    """Section 4 (2017), the kit's normalisation: ``guided_gram(F, T)`` with F (1, N, h, w) and
    R masks T (R, h, w) of 0s and 1s at the layer returns (R, N, N),
    G_r = M / sum_k T_rk * F diag(T_r) F^T (a region's Gram on the scale of the plain Gram:
    a mask of ones gives the plain Gram)."""
    name = "guided_gram"
    n, h, w = 3, 4, 5
    m = h * w
    F = fixed(1, n, h, w, offset=0.9)
    T = torch.zeros(2, h, w)
    T[0, :, :2] = 1.0
    T[1, :, 2:] = 1.0
    T[1, 0, 0] = 1.0  # regions of different areas (9 and 12 positions), overlapping in one place
    got = _call(guided_gram, name, F.clone(), T.clone())
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(got).__name__}, not a tensor")
    _finite(got, name)
    got = got.detach().float()
    inputs = f"F of shape {(1, n, h, w)}, two masks of shape {(h, w)} covering {int(T[0].sum())} and {int(T[1].sum())} positions"
    if tuple(got.shape) in ((1, n, n), (n, n)):
        raise ExerciseError(f"{name} returned one Gram matrix, shape {tuple(got.shape)}, for {inputs}: one per "
                            f"region, shape (R, N, N) = {(2, n, n)}")
    if tuple(got.shape) in ((2, m, m),):
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)}: that is F^T F, between positions; each region's "
                            f"Gram correlates the N = {n} feature maps, shape {(2, n, n)}")
    if tuple(got.shape) != (2, n, n):
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)} for {inputs}; expected (R, N, N) = {(2, n, n)}")
    f = F.reshape(n, m).double()
    t = T.reshape(2, m).double()
    raw = torch.stack([(f * t[r]) @ f.T for r in range(2)])  # F diag(T_r) F^T
    area = t.sum(1).view(2, 1, 1)
    want = (raw * m / area).float()
    if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        return _ok(f"{name}: one (N, N) matrix per region, F diag(T_r) F^T scaled by M / sum(T_r); a mask of ones "
                   "gives the plain Gram")
    plain = (f @ f.T).float()
    variants = {
        "the masks are not used: each region gets the whole image's Gram": plain.expand(2, n, n),
        "no normalisation: multiply F diag(T_r) F^T by M / sum_k T_rk, or a small region's Gram is small only "
        "because the region is": raw.float(),
        "divided by the region's size sum_k T_rk but not multiplied by M: the lesson scales each region's Gram to "
        "the plain Gram's (a mean over the region times M)": (raw / area).float(),
        "divided by M (a mean over all positions); the lesson divides by the region's size and multiplies by M":
            (raw / m).float(),
        "the regions' sizes are swapped: normalise each region by its own sum_k T_rk":
            (raw * m / area.flip(0)).float(),
    }
    for msg, v in variants.items():
        if torch.allclose(got, v, rtol=1e-4, atol=1e-5):
            raise ExerciseError(f"{name}: {msg} ({inputs})")
    if not torch.allclose(got, got.transpose(1, 2), rtol=1e-4, atol=1e-6):
        raise ExerciseError(f"{name} is not symmetric: mask the features once, F diag(T_r) F^T = (F * T_r) F^T")
    raise ExerciseError(f"{name} differs from M / sum(T_r) F diag(T_r) F^T for {inputs}: G[0, 0, 1] = "
                        f"{float(got[0, 0, 1]):.6g}, expected {float(want[0, 0, 1]):.6g}")


# --------------------------------------------------------------------------------------
# 11: the new style image's objective (Gatys et al. 2017, section 6)


def _e_l(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    _, n, h, w = F.shape
    f = F.double().reshape(n, h * w)
    return ((f @ f.T) - A.double().reshape(n, n)).pow(2).sum() / (4.0 * n * n * (h * w) ** 2)


@_forbid(losses.style_loss)
def check_new_style_objective(new_style_objective: Callable) -> None:
    """Section 6 (2017), the new style image: the coarse painting is re-textured by matching the fine
    painting's Gram matrices at the fine layers only. ``new_style_objective(features, fine_targets,
    fine_layers)``: ``features`` layer -> (1, N, h, w) responses of the image being optimised,
    ``fine_targets`` layer -> (1, N, N) the fine painting's Gram at *every* style layer,
    ``fine_layers`` the layers below the split; returns sum over the fine layers of w_l E_l
    (Eq. 4) with equal weights w_l = 1 / (number of fine layers), and no content term."""
    name = "new_style_objective"
    layers = list(PAPER_LAYERS)
    shapes = {"relu1_1": (2, 6, 6), "relu2_1": (3, 4, 4), "relu3_1": (4, 3, 3), "relu4_1": (4, 2, 2), "relu5_1": (4, 2, 2)}
    feats = {l: fixed(1, *s, offset=0.3 * i).requires_grad_(True) for i, (l, s) in enumerate(shapes.items())}
    targets = {l: losses.gram(fixed(1, *s, offset=5.0 + 0.7 * i)) for i, (l, s) in enumerate(shapes.items())}
    fine = ["relu1_1", "relu2_1"]
    value = _scalar(_call(new_style_objective, name, dict(feats), dict(targets), list(fine)), name)
    got = float(value.detach())
    e = {l: float(_e_l(feats[l].detach(), targets[l])) for l in layers}
    want = sum(e[l] for l in fine) / len(fine)
    inputs = "five layers' responses, fine layers relu1_1 and relu2_1"
    if not _close(got, want):
        variants = {
            "every style layer is matched; the new style image matches the fine painting at the fine layers only "
            "(the coarse layers keep the coarse painting, which is the start)": sum(e.values()) / len(layers),
            "all layers' E_l are summed with the fine layers' weights: keep only the fine layers":
                sum(e.values()) / len(fine),
            "the fine layers are weighted 1/5 (the five style layers); the new style image's w_l = 1 / (number of "
            "fine layers)": sum(e[l] for l in fine) / len(layers),
            "the E_l are summed without the weights w_l = 1 / (number of fine layers)": sum(e[l] for l in fine),
            "the coarse layers are matched instead of the fine ones": sum(e[l] for l in layers if l not in fine) / 3,
            "E_l lacks its 1/(4 N_l^2 M_l^2) (Eq. 4)":
                sum(e[l] * 4 * shapes[l][0] ** 2 * (shapes[l][1] * shapes[l][2]) ** 2 for l in fine) / len(fine),
        }
        for msg, v in variants.items():
            if _close(got, v, 1e-4):
                raise ExerciseError(f"{name}: {msg} ({inputs}: got {got:.6g}, expected {want:.6g})")
        raise ExerciseError(f"{name} gives {got:.6g}, expected {want:.6g} ({inputs}): sum over the fine layers of "
                            "w_l E_l, Eq. 4, w_l = 1 / (number of fine layers)")
    if not value.requires_grad:
        raise ExerciseError(f"{name} returned a loss without a gradient: keep it a tensor")
    grads = torch.autograd.grad(value, [feats[l] for l in layers], allow_unused=True)
    for l, g in zip(layers, grads):
        if l not in fine and g is not None and g.abs().max() > 0:
            raise ExerciseError(f"{name} sends a gradient through {l}, a coarse layer: the objective ignores them")
    other = ["relu1_1", "relu2_1", "relu3_1"]
    got3 = float(_scalar(_call(new_style_objective, name, dict(feats), dict(targets), list(other)), name).detach())
    want3 = sum(e[l] for l in other) / 3
    if not _close(got3, want3):
        raise ExerciseError(f"{name} with fine layers relu1_1 ... relu3_1 gives {got3:.6g}, expected {want3:.6g}: "
                            "use the fine_layers argument, not fixed layer names")
    return _ok(f"{name}: the fine painting's Grams at the fine layers only, w_l = 1 / (number of fine layers), "
               "Eq. 4 for each")


# --------------------------------------------------------------------------------------
# 12: the blended Gram target


def check_blended_target(blended_target: Callable) -> None:
    """The blended style target: ``blended_target(features, b)`` with ``features`` the K paintings'
    responses at one layer (each (1, N, h, w), the same size) and ``b`` K blend weights >= 0 (not
    normalised) returns A = sum_k b_k' A_k, (1, N, N), with A_k the Gram matrix (Eq. 3) of painting k
    and b' = b / sum(b)."""
    name = "blended_target"
    n, h, w = 3, 4, 4
    feats = [fixed(1, n, h, w, offset=1.3), fixed(1, n, h, w, offset=4.2), fixed(1, n, h, w, offset=7.7)]
    b = [2.0, 1.0, 1.0]
    got = _call(blended_target, name, [f.clone() for f in feats], list(b))
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(got).__name__}, not a tensor")
    _finite(got, name)
    got = got.detach().float()
    inputs = "three paintings' responses of shape (1, 3, 4, 4), b = [2, 1, 1]"
    if got.numel() != n * n:
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)} for {inputs}: one Gram matrix, (1, N, N) = "
                            f"{(1, n, n)}")
    got = got.reshape(1, n, n)
    grams = [losses.gram(f) for f in feats]
    bn = [x / sum(b) for x in b]
    want = sum(x * g for x, g in zip(bn, grams))
    if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        return _ok(f"{name}: A = sum_k b_k A_k with b normalised to sum 1, a mean of Gram matrices")
    mixed = sum(x * f for x, f in zip(bn, feats))
    variants = {
        "the weights are not normalised: divide b by its sum (b = [2, 1, 1] means half, a quarter, a quarter)":
            sum(x * g for x, g in zip(b, grams)),
        "that is the Gram matrix of the blended responses, not the blend of the Gram matrices: a mean of Grams "
        "is not the Gram of a mean (it keeps each painting's own correlations)": losses.gram(mixed),
        "the weights are applied in the wrong order: b_k goes with painting k":
            sum(x * g for x, g in zip(reversed(bn), grams)),
        "the weights are squared: A = sum_k b_k A_k, each Gram once times its weight":
            sum(x * x * g for x, g in zip(bn, grams)) / sum(x * x for x in bn),
        "every painting weighs the same: use the blend weights b": sum(grams) / len(grams),
    }
    for msg, v in variants.items():
        if torch.allclose(got, v, rtol=1e-4, atol=1e-5):
            raise ExerciseError(f"{name}: {msg} ({inputs})")
    raise ExerciseError(f"{name} differs from sum_k b_k A_k for {inputs}: A[0, 0, 1] = {float(got[0, 0, 1]):.6g}, "
                        f"expected {float(want[0, 0, 1]):.6g}")


# --------------------------------------------------------------------------------------
# 13: the temporal loss (Ruder et al. 2016)


@_forbid(_flow.temporal_loss)
def check_temporal_loss(temporal_loss: Callable) -> None:
    """Ruder et al. (2016), Sec. 3.2: ``temporal_loss(x, warped, c)`` = 1/D sum_k c_k (x_k - omega_k)^2
    for the frame x (1, 3, H, W), the previous stylised frame warped to it omega (1, 3, H, W) and
    the weights c (1, 1, H, W): 0 at disocclusions and motion boundaries, 1 elsewhere, broadcast over
    the colour channels; D = 3 H W. The warped frame is a constant (no gradient into it)."""
    name = "temporal_loss"
    h, w = 4, 5
    x = fixed(1, 3, h, w, offset=0.2).requires_grad_(True)
    om = fixed(1, 3, h, w, offset=3.3)
    c = torch.ones(1, 1, h, w)
    c[..., :, :2] = 0.0  # a disoccluded strip
    c[..., 3, 4] = 0.0
    d = 3 * h * w
    value = _scalar(_call(temporal_loss, name, x, om.clone(), c.clone()), name)
    got = float(value.detach())
    diff2 = (x.detach() - om).double().pow(2)
    cd = c.double()
    want = float((cd * diff2).sum() / d)
    inputs = "x, omega of shape (1, 3, 4, 5), c with 11 zeros of 20"
    if not _close(got, want):
        valid = float(cd.sum()) * 3
        variants = {
            "the weights c are ignored: pixels the previous frame did not see (c = 0) must not count":
                float(diff2.sum() / d),
            "the weights are the wrong way round: c = 1 where the flow is reliable, the loss counts those pixels":
                float(((1 - cd) * diff2).sum() / d),
            "that divides by the number of reliable values; Ruder et al. divide by D = 3 H W, all of them":
                float((cd * diff2).sum() / valid),
            "no 1/D: Ruder et al. divide by D = 3 H W": float((cd * diff2).sum()),
            "D is H W; Ruder et al.'s D = 3 H W counts the colour channels": float((cd * diff2).sum() / (h * w)),
            "the differences are not squared: (x_k - omega_k)^2": float((cd * (x.detach() - om).double().abs()).sum() / d),
        }
        for msg, v in variants.items():
            if _close(got, v, 1e-4):
                raise ExerciseError(f"{name}: {msg} ({inputs}: got {got:.6g}, expected {want:.6g})")
        raise ExerciseError(f"{name} gives {got:.6g} for {inputs}, expected {want:.6g}")
    om_graph = om.clone().requires_grad_(True)
    value = _scalar(_call(temporal_loss, name, x, om_graph, c.clone()), name)
    if not value.requires_grad:
        raise ExerciseError(f"{name} returned a loss without a gradient: keep it a tensor")
    gx, gom = torch.autograd.grad(value, [x, om_graph], allow_unused=True)
    if gom is not None and gom.abs().max() > 0:
        raise ExerciseError(f"{name} sends a gradient into the warped previous frame: it is a constant, use "
                            "warped.detach() (only the current frame is optimised)")
    want_g = (2 * c * (x.detach() - om) / d)
    if gx is None or not torch.allclose(gx, want_g, rtol=1e-4, atol=1e-7):
        raise ExerciseError(f"{name}'s gradient with respect to x is not 2 c (x - omega) / D")
    zero = float(_scalar(_call(temporal_loss, name, om.clone(), om.clone(), c.clone()), name).detach())
    if abs(zero) > 1e-9:
        raise ExerciseError(f"{name}(omega, omega, c) = {zero:.4g}: the loss is 0 when the frame is the warped one")
    return _ok(f"{name}: 1/D sum c (x - omega)^2 with D = 3 H W, the weights c over the colour channels, the warped "
               "frame kept constant")


# --------------------------------------------------------------------------------------
# 14: a layer of random multi-scale filters (Ustyuzhaninov et al. 2017)


@_forbid(_features.RandomFilters.forward)
def check_random_filter_features(random_filter_features: Callable) -> None:
    """Ustyuzhaninov et al. (ICLR 2017), the multi-scale model: ``random_filter_features(x, banks)``
    with x (1, 3, H, W) and ``banks`` a list of filter tensors (K, 3, s, s), one per odd size s,
    returns ReLU(conv(x, bank)) of every bank, zero-padded (s // 2 on each side) so each map has
    the image's size, concatenated along the channels in the banks' order: (1, K * len(banks), H, W)."""
    name = "random_filter_features"
    import torch.nn.functional as F_

    x = fixed(1, 3, 7, 8, offset=0.6, positive=False)
    banks = [fixed(2, 3, s, s, offset=1.1 * s, positive=False) for s in (1, 3, 5)]
    got = _call(random_filter_features, name, x.clone(), [b.clone() for b in banks])
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(got).__name__}, not a tensor")
    _finite(got, name)
    got = got.detach().float()
    inputs = "x of shape (1, 3, 7, 8), banks of 2 filters of sizes 1, 3, 5"
    maps = [F_.conv2d(x, b, padding=b.shape[-1] // 2) for b in banks]
    want = F_.relu(torch.cat(maps, 1))
    if tuple(got.shape) != tuple(want.shape):
        if got.dim() == 4 and got.shape[1] == 6 and tuple(got.shape[-2:]) != (7, 8):
            raise ExerciseError(f"{name} returned maps of {tuple(got.shape[-2:])} for {inputs}: pad each bank by "
                                "s // 2 (padding=s // 2) so that every map has the image's size (7, 8)")
        raise ExerciseError(f"{name} returned shape {tuple(got.shape)} for {inputs}; expected (1, K * len(banks), H, W) "
                            f"= {tuple(want.shape)}: concatenate the banks' maps along the channels (dim 1)")
    if torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        return _ok(f"{name}: every bank convolved with padding s // 2, concatenated along the channels, rectified")
    variants = {
        "no ReLU: the texture statistics are the Gram matrices of the rectified responses": torch.cat(maps, 1),
        "the banks are concatenated in reverse order: keep the banks' order": F_.relu(torch.cat(maps[::-1], 1)),
        "the padding is wrong: pad by s // 2 (half the filter size) so each filter is centred on its pixel":
            F_.relu(torch.cat([F_.conv2d(F_.pad(x, (0, b.shape[-1] - 1, 0, b.shape[-1] - 1)), b) for b in banks], 1)),
        "the ReLU is applied to the image before the filters, not to the filter responses":
            torch.cat([F_.conv2d(F_.relu(x), b, padding=b.shape[-1] // 2) for b in banks], 1),
    }
    for msg, v in variants.items():
        if torch.allclose(got, v, rtol=1e-4, atol=1e-5):
            raise ExerciseError(f"{name}: {msg} ({inputs})")
    raise ExerciseError(f"{name} differs from ReLU(conv(x, bank, padding=s // 2)) concatenated over the banks, for "
                        f"{inputs}: largest difference {float((got - want).abs().max()):.4g}")


# --------------------------------------------------------------------------------------
# 15: the Gram loss as an MMD (Li et al. 2017)


@_forbid(losses.gram, losses.style_layer_loss, _statistics.gram_mmd_identity, _statistics.mmd2)
def check_gram_mmd(gram_mmd: Callable) -> None:
    """Li et al. (IJCAI 2017): ``gram_mmd(F, S)`` for two layers' responses (1, N, h, w) of the same
    size returns 1/(4 N^2) MMD^2 with the kernel k(x, y) = (x^T y)^2 between the sets of feature
    vectors {f_i} (the columns of F, one per position) and {s_j}, the biased estimate (every pair,
    i = i' included), computed from the kernel, not from Gram matrices. It equals E_l (Eq. 4)."""
    name = "gram_mmd"
    n, h, w = 3, 3, 4
    m = h * w
    F = fixed(1, n, h, w, offset=0.5).requires_grad_(True)
    S = fixed(1, n, h, w, offset=6.1)
    value = _scalar(_call(gram_mmd, name, F, S.clone()), name)
    got = float(value.detach())
    f = F.detach().double().reshape(n, m).T
    s = S.double().reshape(n, m).T
    kff, kss, kfs = (f @ f.T).pow(2), (s @ s.T).pow(2), (f @ s.T).pow(2)
    mmd = kff.mean() + kss.mean() - 2 * kfs.mean()
    want = float(mmd / (4 * n * n))
    inputs = "F, S of shape (1, 3, 3, 4)"
    if not _close(got, want):
        lff, lss, lfs = f @ f.T, s @ s.T, f @ s.T
        unbiased = ((kff.sum() - kff.diag().sum()) / (m * (m - 1)) + (kss.sum() - kss.diag().sum()) / (m * (m - 1))
                    - 2 * kfs.mean())
        variants = {
            "that is the linear kernel x^T y (the means only); Li et al.'s identity needs k(x, y) = (x^T y)^2":
                float((lff.mean() + lss.mean() - 2 * lfs.mean()) / (4 * n * n)),
            "the cross term lacks its factor 2: MMD^2 = mean k(f, f') + mean k(s, s') - 2 mean k(f, s)":
                float((kff.mean() + kss.mean() - kfs.mean()) / (4 * n * n)),
            "that is the unbiased MMD (the pairs i = i' left out); the identity holds for the biased one, every "
            "pair counted": float(unbiased / (4 * n * n)),
            "the 1/(4 N^2) is missing: E_l = MMD^2 / (4 N_l^2)": float(mmd),
            "that divides by 4 N^2 M^2: the MMD's means already divide the kernel sums by M^2":
                float(mmd / (4 * n * n * m * m)),
            "the kernel sums are not divided by M^2 (means): MMD^2 averages over the pairs": float(mmd * m * m / (4 * n * n)),
            "the kernel is applied between channels (rows of F), not between positions (the feature vectors f_i "
            "are the columns)": float((((F.detach().double().reshape(n, m) @ F.detach().double().reshape(n, m).T)
                                         .pow(2).mean() + (S.double().reshape(n, m) @ S.double().reshape(n, m).T)
                                         .pow(2).mean() - 2 * (F.detach().double().reshape(n, m)
                                                              @ S.double().reshape(n, m).T).pow(2).mean())
                                        / (4 * n * n))),
        }
        for msg, v in variants.items():
            if _close(got, v, 1e-4):
                raise ExerciseError(f"{name}: {msg} ({inputs}: got {got:.6g}, expected {want:.6g})")
        raise ExerciseError(f"{name} gives {got:.6g} for {inputs}, expected {want:.6g}")
    if not value.requires_grad:
        raise ExerciseError(f"{name} returned a loss without a gradient: keep it a tensor")
    zero = float(_scalar(_call(gram_mmd, name, S.clone(), S.clone()), name).detach())
    if abs(zero) > 1e-9 * max(1.0, want):
        raise ExerciseError(f"{name}(S, S) = {zero:.4g}: the MMD of a set with itself is 0")
    (gf,) = torch.autograd.grad(value, [F])
    Fd = F.detach().clone().requires_grad_(True)
    (want_g,) = torch.autograd.grad(losses.style_layer_loss(Fd, losses.gram(S)), [Fd])
    if not torch.allclose(gf, want_g, rtol=1e-3, atol=1e-8):
        raise ExerciseError(f"{name}'s gradient differs from E_l's (Eq. 6)")
    return _ok(f"{name}: 1/(4 N^2) MMD^2 with k(x, y) = (x^T y)^2 over the positions' feature vectors, the biased "
               "estimate; equal to E_l (Eq. 4), gradient included")


# --------------------------------------------------------------------------------------
# 16: instance normalisation (Ulyanov, Vedaldi & Lempitsky 2016)


def _per_channel(t: torch.Tensor, scales, shifts) -> torch.Tensor:
    """``t`` (B, C, H, W) with image b's channel c scaled by ``scales[b][c]`` and shifted by ``shifts[b][c]``."""
    b, c = t.shape[:2]
    return t * torch.tensor(scales).view(b, c, 1, 1) + torch.tensor(shifts).view(b, c, 1, 1)


def _moments(t: torch.Tensor, dims: tuple[int, ...], correction: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and variance over ``dims`` (float64, dims kept for broadcasting)."""
    td = t.double()
    return td.mean(dim=dims, keepdim=True), td.var(dim=dims, correction=correction, keepdim=True)


def _normalised(t: torch.Tensor, dims: tuple[int, ...], eps: float, correction: int = 0,
                divide: str = "std") -> torch.Tensor:
    """(t - mu) / sigma with the statistics over ``dims``; ``divide`` is what sigma is: ``"std"``
    sqrt(var + eps), ``"eps outside"`` sqrt(var) + eps, ``"var"`` var + eps."""
    mu, var = _moments(t, dims, correction)
    sigma = {"std": lambda: (var + eps).sqrt(), "eps outside": lambda: var.sqrt() + eps, "var": lambda: var + eps}[divide]()
    return (t.double() - mu) / sigma


def _same_shape(value, name: str, like: torch.Tensor, inputs: str, hint: str) -> torch.Tensor:
    """The student's tensor, checked for type, finiteness and ``like``'s shape, detached as float32."""
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{name} returned {type(value).__name__}, not a tensor")
    _finite(value, name)
    if tuple(value.shape) != tuple(like.shape):
        raise ExerciseError(f"{name} returned shape {tuple(value.shape)} for {inputs}; expected x's shape "
                            f"{tuple(like.shape)}: {hint}")
    return value.detach().float()


def _accepts(fn: Callable, name: str, args: tuple, message: str) -> None:
    """An ExerciseError with ``message`` when ``fn``'s signature cannot take ``args`` (checked
    before calling it; callables without a signature are left to the call)."""
    if not callable(fn):
        return
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*args)
    except TypeError:
        raise ExerciseError(f"{name}: {message}") from None


_IN_SCALES = ((1.0, 0.3), (2.0, 0.6), (0.4, 1.5))
_IN_SHIFTS = ((0.5, -1.2), (2.0, 0.3), (-0.7, 1.5))


def check_instance_norm(instance_norm: Callable) -> None:
    """Ulyanov, Vedaldi & Lempitsky (2016), *Instance Normalization: The Missing Ingredient for Fast
    Stylization*, Eq. 2: ``instance_norm(x, eps=1e-5)`` for responses x of shape (B, C, H, W)
    returns y_tijk = (x_tijk - mu_ti) / sqrt(sigma_ti^2 + eps): image t's channel i normalised over
    its own H W positions, mu_ti their mean and sigma_ti^2 their biased variance (divided by H W,
    not H W - 1), no learned scale or shift; the output has x's shape. That is what
    ``torch.nn.functional.instance_norm(x, eps=eps)`` computes: torch may be used freely (stylelab's
    own functions may not), but the exercise is to write the statistics out. A gradient flows
    through the mean and the variance too (the feed-forward network of Johnson et al. learns
    through them)."""
    name = "instance_norm"
    import torch.nn.functional as F_

    b, c, h, w = 3, 2, 4, 5
    x = _per_channel(fixed(b, c, h, w, offset=0.3, positive=False), _IN_SCALES, _IN_SHIFTS)
    eps = 0.1  # large, so that where eps goes shows
    inputs = f"x of shape {(b, c, h, w)} (each image and channel with its own offset and spread), eps = {eps:g}"
    hint = "normalise x, keeping its layout (B, C, H, W)"
    if callable(instance_norm):
        _refuse_own(instance_norm, name)
    _accepts(instance_norm, name, (x, eps), "it must take eps as its second argument: def instance_norm(x, eps=1e-5)")
    _accepts(instance_norm, name, (x,), "eps needs a default: def instance_norm(x, eps=1e-5)")
    got = _same_shape(_call(instance_norm, name, x.clone(), eps), name, x, inputs, hint)
    want = F_.instance_norm(x, eps=eps)  # only now
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        mu, var = _moments(x, (2, 3))
        missing_eps = "eps is missing or ignored: add the eps argument to the variance, inside the square root"
        variants = [
            ("the statistics are taken over the batch too (that is batch normalisation, over B, H, W): instance "
             "normalisation normalises each image on its own, over H and W only (dim=(2, 3))", _normalised(x, (0, 2, 3), eps)),
            ("the statistics are taken over the channels too (that is layer normalisation, over C, H, W): each "
             "channel is normalised on its own, over H and W only (dim=(2, 3))", _normalised(x, (1, 2, 3), eps)),
            ("the statistics are taken over everything at once: one mean and variance per image and channel, over "
             "H and W only (dim=(2, 3))", _normalised(x, (0, 1, 2, 3), eps)),
            ("that is the unbiased variance (torch.var's default divides by H W - 1): Eq. 2's variance divides by "
             "H W, var(dim=(2, 3), correction=0)", _normalised(x, (2, 3), eps, correction=1)),
            ("eps is added to the standard deviation: Eq. 2 adds it to the variance, inside the square root, "
             "sqrt(var + eps)", _normalised(x, (2, 3), eps, divide="eps outside")),
            (missing_eps, _normalised(x, (2, 3), 0.0)),
            (missing_eps, _normalised(x, (2, 3), 1e-5)),
            ("that divides by the variance: divide by the standard deviation, sqrt(var + eps)",
             _normalised(x, (2, 3), eps, divide="var")),
            ("only the mean is subtracted: divide by the standard deviation sqrt(var + eps) as well", x.double() - mu),
            ("the mean is not subtracted: (x - mu) / sqrt(var + eps)", x.double() / (var + eps).sqrt()),
        ]
        for msg, v in variants:
            if torch.allclose(got, v.float(), rtol=1e-4, atol=1e-5):
                raise ExerciseError(f"{name}: {msg} ({inputs})")
        raise ExerciseError(f"{name} differs from (x - mu) / sqrt(var + eps) per image and channel over H, W for "
                            f"{inputs}: largest difference {float((got - want).abs().max()):.4g}")
    small = x * 0.01  # variances near 1e-5: the default eps shows
    got_d = _same_shape(_call(instance_norm, name, small.clone()), name, small, "x / 100 and the default eps", hint)
    if not torch.allclose(got_d, F_.instance_norm(small, eps=1e-5), rtol=1e-4, atol=1e-5):
        raise ExerciseError(f"{name}(x) with the default eps differs from eps = 1e-5 (x / 100, variances near eps, "
                            "so that eps matters): def instance_norm(x, eps=1e-5)")
    xg = x.clone().requires_grad_(True)
    out = _call(instance_norm, name, xg, eps)
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise ExerciseError(f"{name} returned a tensor without a gradient when x has one: compute with torch on x "
                            "(no .detach(), .item(), numpy or torch.tensor(...) of values)")
    _same_shape(out, name, x, inputs, hint)
    weights = fixed(b, c, h, w, offset=5.1, positive=False)
    (grad,) = torch.autograd.grad((out * weights).sum(), [xg], allow_unused=True)
    xr = x.clone().requires_grad_(True)
    (want_grad,) = torch.autograd.grad((F_.instance_norm(xr, eps=eps) * weights).sum(), [xr])
    if grad is None or not torch.allclose(grad, want_grad, rtol=1e-3, atol=1e-5):
        raise ExerciseError(f"{name}'s gradient with respect to x differs from Eq. 2's: the mean and the variance "
                            "depend on x too, don't .detach() them or compute them under torch.no_grad()")
    return _ok(f"{name} is Eq. 2: each image's each channel normalised over H, W with the biased variance, eps "
               "inside the square root (default 1e-5), the gradient through the statistics")


# --------------------------------------------------------------------------------------
# 17: adaptive instance normalisation (Huang & Belongie 2017)


_ADAIN_X = (((1.0, 0.5, 2.0), (0.7, 1.6, 0.9)), ((0.3, -0.8, 1.4), (1.1, 0.2, -0.5)))
_ADAIN_Y = (((1.8, 0.6, 1.2), (0.5, 2.2, 0.8)), ((-1.0, 0.9, 0.4), (0.6, -1.5, 2.1)))


@_forbid(_adain.adain, _statistics.mean_std)
def check_adain(adain: Callable) -> None:
    """Huang & Belongie (ICCV 2017), *Arbitrary Style Transfer in Real-time with Adaptive Instance
    Normalization*, Eq. 8: ``adain(x, y)`` for the content's responses x (B, C, H, W) and the
    style's y (B, C, H', W'), of another size, returns sigma(y) (x - mu(x)) / sigma(x) + mu(y): x
    with each image's each channel given y's mean and standard deviation. The statistics are per
    image and channel over the positions (Eqs. 5-6): mu the mean, sigma = sqrt(biased variance +
    1e-5) (divided by H W, not H W - 1); the output has x's shape."""
    name = "adain"
    eps = _statistics.STD_EPS
    x = _per_channel(fixed(2, 3, 4, 5, offset=0.8, positive=False), *_ADAIN_X)
    y = _per_channel(fixed(2, 3, 5, 6, offset=3.9, positive=False), *_ADAIN_Y)
    inputs = "x of shape (2, 3, 4, 5), y of shape (2, 3, 5, 6)"
    try:
        got = _call(adain, name, x.clone(), y.clone())
    except ExerciseError as exc:
        if not str(exc).startswith(f"{name} raised "):
            raise
        said = " ".join(str(exc).split())
        try:
            _call(adain, name, x.clone(), y[..., :4, :5].clone())
        except ExerciseError:
            if "must match the size" in said:
                raise ExerciseError(f"{said}: keep the statistics' shape (B, C, 1, 1) (keepdim=True) so that they "
                                    "broadcast over the positions") from None
            raise exc from None
        raise ExerciseError(f"{name} fails when y's size differs from x's ({inputs}), and not with y of x's size: "
                            f"take y's statistics over y's own positions (y.reshape(B, C, -1), or dim=(2, 3)), never "
                            f"with x's H, W ({said})") from None
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(y.shape):
        _finite(got, name)
        mx, vx = _moments(x, (2, 3))
        my, vy = _moments(y, (2, 3))
        swapped = (vx + eps).sqrt() * (y.double() - my) / (vy + eps).sqrt() + mx
        if torch.allclose(got.detach().float(), swapped.float(), rtol=1e-4, atol=1e-5):
            raise ExerciseError(f"{name}: the roles are swapped, y was given x's statistics: x (the content) keeps "
                                f"its layout and takes y's (the style's), sigma(y) (x - mu(x)) / sigma(x) + mu(y) "
                                f"({inputs})")
    got = _same_shape(got, name, x, inputs, "the content x keeps its layout and takes y's statistics")
    mx, vx = _moments(x, (2, 3))
    my, vy = _moments(y, (2, 3))
    sx, sy = (vx + eps).sqrt(), (vy + eps).sqrt()
    want = (sy * (x.double() - mx) / sx + my).float()  # only now
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        xd = x.double()

        def over(dims, correction=0, form="std"):
            (a, va), (b_, vb) = _moments(x, dims, correction), _moments(y, dims, correction)
            if form == "var":
                return (vb + eps) * (xd - a) / (va + eps) + b_
            if form == "std no eps":
                return vb.sqrt() * (xd - a) / va.sqrt() + b_
            if form == "std plus eps":
                return (vb.sqrt() + eps) * (xd - a) / (va.sqrt() + eps) + b_
            return (vb + eps).sqrt() * (xd - a) / (va + eps).sqrt() + b_
        unbiased = ("that is the unbiased standard deviation (torch.std's default divides by H W - 1, and x and y "
                    "have different H W): Eq. 6 divides by H W, std(dim=(2, 3), correction=0)")
        variances = "that uses the variances: sigma is the standard deviation, sqrt(var + eps) (Eq. 6)"
        unnormalised = ("x is not normalised: subtract mu(x) and divide by sigma(x), then scale by sigma(y) and add "
                        "mu(y)")
        variants = [
            ("the ratio is upside down: scale x - mu(x) by sigma(y) / sigma(x), the style's spread over the "
             "content's", sx * (xd - mx) / sy + my),
            (variances, over((2, 3), form="var")),
            (variances, vy * (xd - mx) / vx + my),
            ("the statistics are taken over the batch too (over B, H, W): each image has its own, over its "
             "positions only (dim=(2, 3))", over((0, 2, 3))),
            ("the statistics are taken over the channels too (over C, H, W): each channel has its own, over the "
             "positions only (dim=(2, 3))", over((1, 2, 3))),
            (unbiased, over((2, 3), correction=1)),
            (unbiased, over((2, 3), correction=1, form="std no eps")),
            (unbiased, over((2, 3), correction=1, form="std plus eps")),
            (unnormalised, sy * xd + my),
            (unnormalised, xd + my),
            ("only the means are transferred: scale x - mu(x) by sigma(y) / sigma(x) as well", xd - mx + my),
            ("mu(y) is not added: the result must have y's mean", sy * (xd - mx) / sx),
            ("mu(x) is not subtracted before scaling: sigma(y) (x - mu(x)) / sigma(x) + mu(y)", sy * xd / sx + my),
        ]
        for msg, v in variants:
            if torch.allclose(got, v.float(), rtol=1e-4, atol=1e-5):
                raise ExerciseError(f"{name}: {msg} ({inputs})")
        raise ExerciseError(f"{name} differs from sigma(y) (x - mu(x)) / sigma(x) + mu(y) per image and channel over "
                            f"the positions, for {inputs}: largest difference {float((got - want).abs().max()):.4g}")
    xg = x.clone().requires_grad_(True)
    out = _call(adain, name, xg, y.clone())
    if not isinstance(out, torch.Tensor) or not out.requires_grad:
        raise ExerciseError(f"{name} returned a tensor without a gradient when x has one: compute with torch on x "
                            "(no .detach(), .item(), numpy or torch.tensor(...) of values)")
    return _ok(f"{name} is Eq. 8: x's per-channel statistics replaced by y's, each image and channel over its own "
               "positions (y of another size), sigma = sqrt(biased variance + 1e-5)")

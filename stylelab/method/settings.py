"""Checking the engine's settings: numbers, the extra terms of the objective and the
functions a lesson's exercise may replace (:func:`stylelab.method.transfer.run`'s
``extra_terms=`` and ``functions=``)."""

from __future__ import annotations

import math

from ..errors import SettingsError


#: What ``functions=`` can replace (the lessons' exercises, :mod:`stylelab.teaching.exercises`):
#: ``content_loss(F, P)`` Eq. 1; ``gram(F)`` Eq. 3, (B, N, H, W) -> (B, N, N), used for the
#: targets and E_l; ``style_layer_loss(F, A)`` Eq. 4; ``tv_loss(x)``; ``total_loss(content,
#: style, alpha, beta)`` Eq. 7; ``closure(optimizer, x, loss_fn)`` the L-BFGS closure maker.
#: Each is written with the paper's normalisation; the engine applies the convention's.
FUNCTIONS = ("content_loss", "gram", "style_layer_loss", "tv_loss", "total_loss", "closure")


def _finite_nonneg(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(v) or v < 0:
        raise SettingsError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise SettingsError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


#: Names an extra term cannot take: the keys of a history record.
RECORD_KEYS = ("step", "time", "total", "content", "style", "tv", "l2", "content_layers", "style_layers",
               "stage", "size")


def check_extra_terms(extra_terms) -> dict:
    """``extra_terms`` as a dict name -> ``term(x)`` (None: {}): each takes the image being
    optimised, (1, 3, H, W) on the model's device, and returns a scalar tensor with autograd,
    already weighted, that is added to L_total (Eq. 7) and recorded in the history under its name."""
    if extra_terms is None:
        return {}
    if not isinstance(extra_terms, dict):
        raise SettingsError(f"extra_terms must be a dict name -> function, got {type(extra_terms).__name__}")
    for k, term in extra_terms.items():
        if not isinstance(k, str) or not k or k in RECORD_KEYS:
            raise SettingsError(f"extra term name {k!r} must be a new non-empty name, not one of {RECORD_KEYS}")
        if not callable(term):
            raise SettingsError(f"extra_terms[{k!r}] is not callable")
    return dict(extra_terms)


def check_functions(functions) -> dict:
    """``functions`` as a dict of callables with names from :data:`FUNCTIONS` (None: {})."""
    if functions is None:
        return {}
    if not isinstance(functions, dict):
        raise SettingsError(f"functions must be a dict name -> function, got {type(functions).__name__}")
    unknown = [k for k in functions if k not in FUNCTIONS]
    if unknown:
        raise SettingsError(f"unknown function(s) {unknown}; functions= can replace {FUNCTIONS}")
    bad = [k for k, f in functions.items() if not callable(f)]
    if bad:
        raise SettingsError(f"functions[{bad[0]!r}] is not callable")
    return dict(functions)

"""``stylelab weights list | download | verify``: the VGG weight sets."""

from __future__ import annotations

import os
from pathlib import Path

from .. import config
from ..errors import WeightsError
from .common import EXIT_OK, _Formatter, _table


def _cmd_weights_list(args) -> int:
    from ..networks import weights

    rows = []
    for name in weights.names():
        d = weights.describe(name)
        mark = " *" if name == weights.DEFAULT else ""
        rows.append([name + mark, d["arch"], d["convention"], "yes" if d["present"] else "no", d["url"],
                     d["description"]])
    print(_table(rows, ["name", "arch", "convention", "present", "url", "description"]))
    import torch

    print(f"\n* the default when $STYLELAB_WEIGHTS is not set; downloads go to {Path(torch.hub.get_dir()) / 'checkpoints'}")
    raw = os.environ.get(config.ENV_WEIGHTS, "").strip()
    if raw:
        ws = weights.from_env()  # a malformed value -> WeightsError (exit 2) after the table
        present = "present" if weights.cache_path(ws).is_file() else "MISSING"
        print(f"{config.ENV_WEIGHTS} override (used when no --weights is given): {ws.arch}, {ws.convention}, "
              f"{ws.path} ({present})")
    else:
        print(f"{config.ENV_WEIGHTS} is not set (set it to ARCH:CONVENTION:PATH to use a local file)")
    return EXIT_OK


def _cmd_weights_download(args) -> int:
    from ..networks import weights

    names = weights.names() if args.names == ["all"] else args.names
    sets = [weights.resolve(n) for n in names]  # unknown names fail before any download
    for ws in sets:
        path = weights.download(ws, progress=not args.quiet)
        if ws.sha256 and not weights.verify(ws):
            raise WeightsError(f"{ws.name}: {path} fails its hash check; delete it and download again")
        print(f"{ws.name}\t{path}")
    return EXIT_OK


def _check_local(ws) -> str | None:
    """A local file: does it load safely and fit its architecture? None when it does."""
    from ..networks import weights

    try:
        weights.to_paper_names(weights.read_state_dict(ws.path), ws.arch, source=str(ws.path))
    except WeightsError as exc:
        return str(exc)
    return None


def _cmd_weights_verify(args) -> int:
    from ..networks import weights

    if args.names:
        sets = []
        for n in args.names:
            if n in weights.REGISTRY or n in ("env", "default") or not (args.arch and args.input_convention):
                sets.append(weights.resolve(n))
            else:
                sets.append(weights.local(n, args.arch, args.input_convention))
    else:  # what a run would use, plus every registered set already downloaded
        sets = [weights.resolve(None)]
        sets += [ws for ws in weights.REGISTRY.values()
                 if ws not in sets and weights.cache_path(ws).is_file()]
    rows, problems = [], []
    for ws in sets:
        path = weights.cache_path(ws)
        if not path.is_file():
            status = "missing"
            hint = f"run `stylelab weights download {ws.name}`" if not ws.path else "file not found"
            problems.append(f"{ws.name}: {status} ({hint})")
        elif ws.path:
            failure = _check_local(ws)
            status = "ok (loads, all layers present)" if failure is None else "BROKEN"
            if failure:
                problems.append(failure)
        elif weights.verify(ws):
            status = "ok (sha256 matches)"
        else:
            status = "BAD HASH"
            problems.append(f"{ws.name}: {path} fails its sha256 check; delete it and run "
                            f"`stylelab weights download {ws.name}`")
        rows.append([ws.name, status, path])
    print(_table(rows, ["name", "status", "file"]))
    if problems:
        raise WeightsError("; ".join(problems))
    return EXIT_OK


def add(sub) -> None:
    """``stylelab weights list | download | verify``."""
    p = sub.add_parser("weights", formatter_class=_Formatter, help="list, download and verify VGG weight sets",
                       description="The VGG weight sets stylelab knows. The paper used Caffe's ImageNet VGG-19 "
                                   "(vgg19-caffe).")
    wsub = p.add_subparsers(dest="action", metavar="ACTION", title="actions", required=True)
    q = wsub.add_parser("list", help="the registered weight sets and whether they are downloaded")
    q.set_defaults(handler=_cmd_weights_list)
    q = wsub.add_parser("download", help="download weight sets (hash-checked) into torch hub's cache")
    q.add_argument("names", metavar="NAME", nargs="+", help="registered names, or all")
    q.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    q.set_defaults(handler=_cmd_weights_download)
    q = wsub.add_parser("verify", help="check weight files (exit 2 if one is missing or damaged)",
                        description="Check registered sets against their sha256, and that a local file loads safely "
                                    "with every layer present. Without NAME: the weights a run would use "
                                    "($STYLELAB_WEIGHTS or vgg19) and every downloaded registered set.")
    q.add_argument("names", metavar="NAME", nargs="*", help="registered names, env, or a file (with --arch and --input-convention)")
    q.add_argument("--arch", choices=("vgg16", "vgg19"), help="architecture of a weights file")
    q.add_argument("--input-convention", choices=("torch", "caffe"), help="input convention of a weights file")
    q.set_defaults(handler=_cmd_weights_verify)

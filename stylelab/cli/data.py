"""``stylelab data list | fetch``: the sample images of the papers' figures."""

from __future__ import annotations

import os

from .. import config
from .common import EXIT_OK, _Formatter, _table


def _cmd_data_list(args) -> int:
    from .. import data

    cached = data.verify()
    rows = [[s.name, s.title, s.artist, s.year or "-", s.licence, "yes" if cached[s.name] else "no"]
            for s in data.SAMPLES.values()]
    print(_table(rows, ["name", "title", "artist", "year", "licence", "cached"]))
    folder = os.environ.get(config.ENV_DATA_DIR, "").strip()
    where = f"{config.ENV_DATA_DIR}={folder}" if folder else str(config.cache_dir("images"))
    print(f"\nfiles: {where}; use a name wherever an image file is expected, e.g. "
          f"`stylelab transfer tubingen starry_night -o out.png`")
    return EXIT_OK


def _cmd_data_fetch(args) -> int:
    from .. import data

    for name, path in data.fetch(args.names or None).items():
        print(f"{name}\t{path}")
    return EXIT_OK


def add(sub) -> None:
    """``stylelab data list | fetch``: the sample images."""
    p = sub.add_parser("data", formatter_class=_Formatter, help="the sample images of the paper's figures",
                       description=f"The photograph and paintings of the paper's figures (offline: "
                                   f"${config.ENV_DATA_DIR}).")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", title="actions", required=True)
    q = dsub.add_parser("list", help="name, title, artist, year, licence, cached?")
    q.set_defaults(handler=_cmd_data_list)
    q = dsub.add_parser("fetch", help="download (once) and check sample images")
    q.add_argument("names", metavar="NAME", nargs="*", help="sample names (default: all)")
    q.set_defaults(handler=_cmd_data_fetch)

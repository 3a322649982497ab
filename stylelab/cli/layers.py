"""``stylelab layers``: the VGG layer table with the paper's names."""

from __future__ import annotations

from .common import EXIT_OK, WXH, _Formatter, _table


def run(args) -> int:
    from ..networks.vgg import PAPER_CONTENT_LAYER, PAPER_STYLE_LAYERS, layer_table

    size = args.size
    rows = []
    for r in layer_table(args.arch, size):
        use = "content" if r["paper"] == PAPER_CONTENT_LAYER else ("style" if r["paper"] in PAPER_STYLE_LAYERS else "")
        keras = r["keras"] if r["kind"] != "conv" else ""
        rows.append([r["paper"], r["kind"], f"features.{r['torchvision_index']}", r["pytorch_tutorial"], keras,
                     r["channels"], r["receptive_field"], r["downsampling"], f"{r['height']}x{r['width']}", use])
    print(_table(rows, ["paper", "kind", "torchvision", "tutorial", "keras", "channels", "RF", "stride",
                        f"HxW@{size[0]}x{size[1]}", "paper use"]))
    print("\nconvN_M is the convolution before its ReLU, reluN_M the rectified response: the layer the paper "
          "calls convN_M (Caffe's in-place ReLU). Keras' blockN_convM is the fused conv+ReLU, i.e. reluN_M. "
          "The PyTorch tutorial numbers convolutions globally: its conv_4 is conv2_2, not conv4_2.")
    return EXIT_OK


def add(sub) -> None:
    """``stylelab layers``: the VGG layer table."""
    p = sub.add_parser("layers", formatter_class=_Formatter, help="the VGG layer table with names in every convention",
                       description="Every layer of VGG-16/19 with its name in the paper (conv4_2 / relu4_2), "
                                   "torchvision (features.N), the PyTorch tutorial (conv_N) and Keras, its channels, "
                                   "receptive field and feature-map size.")
    p.add_argument("--arch", choices=("vgg16", "vgg19"), default="vgg19", help="architecture (default: vgg19, the paper's)")
    p.add_argument("--size", type=WXH, default=(512, 512), metavar="N|WxH",
                   help="input size for the feature-map sizes (default: 512)")
    p.set_defaults(handler=run)

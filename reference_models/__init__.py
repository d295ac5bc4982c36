"""Reference models: global pooling heads, truncated backbones and the WSL classifier.

Nothing here knows about datasets or metrics; `gwapbench` imports this package, never the reverse.
`BACKBONE_NAMES` (the backbones `backbones.build_backbone` builds) is defined here, importable without
torch, so that a command line can offer them as choices without loading a model library.
"""

BACKBONE_NAMES: tuple[str, ...] = ("caffenet", "googlenet", "vgg16", "resnet50", "tiny")

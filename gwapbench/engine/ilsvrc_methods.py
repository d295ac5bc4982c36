"""Names of the ILSVRC rows' methods and nets, importable without torchvision's model zoo
(`ilsvrc_models` builds them; `localize-error` on stored predictions needs only these names)."""

from __future__ import annotations

TRAINED_METHODS = ("gap", "gmp", "gwap")  # CAM's GoogLeNet with each pooling head, fine-tuned
PRETRAINED_METHODS = ("original", "backprop")  # torchvision's classifiers as shipped
PRETRAINED_NETS = ("googlenet", "vgg16", "alexnet")
BACKPROP_NETS = ("googlenet", "vgg16")

"""Reference models: global pooling heads, truncated backbones and the WSL classifier.

Nothing here knows about datasets or metrics; `gwapbench` imports this package, never the reverse.
"""

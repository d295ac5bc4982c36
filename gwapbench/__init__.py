"""gwapbench: evaluation and benchmarks for weakly supervised localization with global pooling."""

__version__ = "0.1.0"

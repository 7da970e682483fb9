"""began_fast: a fast BEGAN trainer (and the GANs it is compared with).

    from began_fast import load_generator
    g = load_generator("runs/00000-shapes-32px/export")      # or a checkpoint, or a run folder
    images = g.sample(16, seed=0)                            # [16, C, S, S] in [-1, 1]

Imported lazily, so that `python -m began_fast.train --help` answers without loading torch.
"""

_LAZY = {"load_generator": "began_fast.generator_file", "LoadedGenerator": "began_fast.generator_file",
         "GeneratorFileError": "began_fast.generator_file"}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

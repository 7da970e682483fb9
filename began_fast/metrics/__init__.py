"""How good a generator's samples are: the class metrics, read by a classifier of the data's
classes (the built-in shapes' own, or a labelled image folder's, trained on it): mode
coverage, class KL, recognised share, Fréchet distance, precision/recall/density/coverage;
and FID/KID on Inception features through torch-fidelity (an optional extra).

    from began_fast.metrics.evaluate import Evaluator, evaluate

Kept empty, so that `began_fast.metrics.names` imports without torch.
"""

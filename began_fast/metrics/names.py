"""The metrics a user can ask for: names, units, which way is better, and the parser of a
--metrics list. Imports nothing heavy, so option parsing and --help stay instant."""
from dataclasses import dataclass


class MetricError(ValueError):
    """A metric that cannot be computed as asked, reported as a one-line message."""


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    better: str          # "higher", "lower", or "reference" (a level to read another metric beside)
    family: str          # "classes" (a classifier of the data's classes: the built-in shapes' or a
                         # labelled folder's), "captions" (the shapes' classifier against DF-GAN's
                         # captions) or "inception" (torch-fidelity)
    meaning: str


METRICS = {m.name: m for m in (
    Metric("modes", "share of {classes}", "higher", "classes",
           "classes (the 24 (shape, colour) ones, or a folder's) the samples reach, each above a "
           "quarter of its fair share"),
    Metric("kl", "nats", "lower", "classes",
           "KL(samples || data) over the classes and 'none': log(K/k) for k of K equal modes"),
    Metric("recognised", "share", "higher", "classes",
           "samples the classifier calls some class with probability >= 0.5"),
    Metric("fd", "feature units^2", "lower", "classes",
           "Frechet distance in the classifier's 128 features"),
    Metric("precision", "share", "higher", "classes", "samples inside the real data's k-NN balls (k = 5)"),
    Metric("recall", "share", "higher", "classes", "real images inside the samples' k-NN balls"),
    Metric("density", "ratio", "higher", "classes", "real k-NN balls around each sample, over k: about 1 for real data"),
    Metric("coverage", "share", "higher", "classes", "real images whose k-NN ball holds a sample"),
    Metric("faithful", "share", "higher", "captions",
           "samples whose shape, colour, size and position all match their caption (dfgan, built-in data)"),
    Metric("faithful_shape", "share", "higher", "captions", "samples of their caption's shape"),
    Metric("faithful_colour", "share", "higher", "captions", "samples of their caption's colour"),
    Metric("faithful_size", "share", "higher", "captions", "samples of their caption's size (thirds)"),
    Metric("faithful_position", "share", "higher", "captions", "samples at their caption's place (3 x 3 cells)"),
    Metric("chance", "share", "reference", "captions",
           "faithful against other samples' captions: the chance level to read faithful beside"),
    *(Metric(f"chance_{a}", "share", "reference", "captions", f"faithful_{a} against other samples' captions")
      for a in ("shape", "colour", "size", "position")),
    Metric("fid", "Inception units^2", "lower", "inception", "Frechet Inception distance (torch-fidelity)"),
    Metric("kid", "poly-kernel MMD^2", "lower", "inception", "kernel Inception distance, mean of 100 subsets"),
)}

CLASS_METRICS = tuple(n for n, m in METRICS.items() if m.family == "classes")
GROUPS = {
    "classes": CLASS_METRICS,
    "shapes": CLASS_METRICS,     # the first name of the class metrics, when only the shapes had them
    "prdc": ("precision", "recall", "density", "coverage"),
    "captions": ("faithful", "faithful_shape", "faithful_colour", "faithful_size", "faithful_position",
                 "chance", "chance_shape", "chance_colour", "chance_size", "chance_position"),
    "inception": ("fid", "kid"),
    "all": tuple(METRICS),
}


def unit(name: str, classes: int | None = None) -> str:
    """A metric's unit, with the number of classes where it is known ('share of 24')."""
    return METRICS[name].unit.format(classes=classes or "the classes")


def parse_metrics(text: str) -> tuple:
    """'modes,prdc' -> ('modes', 'precision', 'recall', 'density', 'coverage'): names and
    groups, comma-separated, expanded in order without repeats; MetricError for an unknown one."""
    names = []
    for word in (w.strip().lower() for w in text.split(",")):
        if word in GROUPS:
            names += GROUPS[word]
        elif word in METRICS:
            names.append(word)
        else:
            raise MetricError(f"unknown metric {word!r}; known: {', '.join(METRICS)}, "
                              f"or a group: {', '.join(GROUPS)}")
    return tuple(dict.fromkeys(names))


def family(names, which: str) -> tuple:
    """The names among `names` that belong to one family, in order."""
    return tuple(n for n in names if METRICS[n].family == which)

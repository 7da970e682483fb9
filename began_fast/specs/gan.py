"""GAN (Goodfellow et al. 2014): its minimax objective on DCGAN's networks, with the loss to
choose (--g-loss)."""
from dataclasses import replace

from began_fast.specs.dcgan import SPEC as DCGAN

SPEC = replace(DCGAN, name="gan", paper="Goodfellow et al. 2014, on DCGAN's networks", networks={})

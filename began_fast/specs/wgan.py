"""WGAN (Arjovsky et al. 2017): the critic's weights clipped, n_critic updates per G's."""
from began_fast.specs import PerDevice, Spec, Stat
from began_fast.specs.dcgan import SCALAR_CRITICS, WHY_SCALAR

SPEC = Spec(
    name="wgan", paper="Arjovsky et al. 2017", objective="began_fast.models.wgan",
    archs=SCALAR_CRITICS, why_archs=WHY_SCALAR,
    defaults=dict(arch="dcgan", filters=PerDevice(64, 16), latent=100, batch=PerDevice(64, 32), lr=5e-5,
                  n_critic=5, clip=0.01),
    options=("n_critic", "clip"),
    stats=(Stat("loss_d", "L_D"), Stat("loss_g", "L_G"), Stat("wasserstein", "Wasserstein estimate", "critic units")),
    prior="normal", optimizer=("rmsprop", None))

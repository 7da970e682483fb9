"""DCGAN (Radford et al. 2015): GAN's objective on DCGAN's networks, which it brings."""
from began_fast.specs import Networks, PerDevice, Spec, Stat

SCALAR_CRITICS = ("dcgan", "dcgan-nobn")
WHY_SCALAR = "the other GANs need a scalar critic"

SPEC = Spec(
    name="dcgan", paper="Radford et al. 2015", objective="began_fast.models.gan",
    archs=SCALAR_CRITICS, why_archs=WHY_SCALAR,
    networks={"dcgan": Networks("dcgan", "scalar critic with batch norm", {"batch_norm": True}),
              "dcgan-nobn": Networks("dcgan", "without", {"batch_norm": False})},
    # Generator averaging on the CPU too: it helped there (docs/results.md, "Generator averaging").
    defaults=dict(arch="dcgan", filters=PerDevice(64, 16), latent=100, batch=PerDevice(128, 32), lr=2e-4,
                  g_ema_half_life=10000),
    options=("g_loss",),
    stats=(Stat("loss_d", "L_D"), Stat("loss_g", "L_G"), Stat("d_real", "D(x)", "probability"),
           Stat("d_fake", "D(G(z))", "probability")),
    prior="uniform", optimizer=("adam", (0.5, 0.999)))

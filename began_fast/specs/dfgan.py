"""DF-GAN (Tao et al. 2022): text to image, G and D conditioned on a sentence vector."""
from began_fast.specs import Networks, PerDevice, Spec, Stat

SPEC = Spec(
    name="dfgan", paper="Tao et al. 2022, text to image: the built-in shapes with captions, or a folder with "
                        "NAME.txt captions beside each image",
    objective="began_fast.models.dfgan",
    archs=("dfgan",), why_archs="DF-GAN needs its sentence-conditioned networks",
    networks={"dfgan": Networks("dfgan_nets", "DF-GAN's")},
    # z 100-d Gaussian, the authors' widths (n = 32) and batch; on the CPU 32 px, n 16.
    defaults=dict(arch="dfgan", filters=PerDevice(32, 16), latent=100, batch=PerDevice(32, 32), lr=1e-4,
                  lr_d=4e-4, flip=False),
    options=("text_encoder", "vocabulary"),
    # D's outputs are hinge-loss logits, not probabilities.
    stats=(Stat("loss_d", "L_D"), Stat("loss_g", "L_G"), Stat("d_real", "D(x, e)", "logit"),
           Stat("d_fake", "D(G(z, e), e)", "logit"), Stat("d_mismatch", "D(x, e')", "logit"),
           Stat("penalty", "MA-GP")),
    prior="normal", optimizer=("adam", (0.0, 0.9)), conditioned=True,
    refuse=(("flip", True, "--model dfgan with --flip: captions say left and right, so a flipped image would "
                           "contradict its caption; leave --flip out"),))

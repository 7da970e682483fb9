"""BEGAN (Berthelot, Schumm and Metz, arXiv 1703.10717): the auto-encoder D and k_t."""
from began_fast.specs import Networks, PerDevice, Spec, Stat

PER_PIXEL = "L1 per pixel"

# On the CPU gamma 1 and lambda_k 0.01, not the paper's 0.5 and 0.001, with batch 32, lr
# 2e-4 and Glorot init: the CPU model collapsed with the paper's values (docs/results.md,
# "How the CPU defaults were chosen").
SPEC = Spec(
    name="began", paper="Berthelot et al. 2017", objective="began_fast.models.began",
    archs=("began",), why_archs="BEGAN's objective needs an auto-encoder D",
    networks={"began": Networks("began_nets", "auto-encoder D")},
    defaults=dict(arch="began", filters=PerDevice(128, 16), latent=PerDevice(64, 32), batch=PerDevice(16, 32),
                  lr=PerDevice(1e-4, 2e-4), gamma=PerDevice(0.5, 1.0), lambda_k=PerDevice(0.001, 0.01)),
    options=("gamma", "lambda_k", "latent_constraint", "pull_away", "lr_patience", "lr_floor", "skip", "vanishing_residual",
             "tanh", "init"),
    stats=(Stat("loss_real", "L(x)", PER_PIXEL), Stat("loss_fake", "L(G(z))", PER_PIXEL), Stat("loss_d", "L_D"),
           Stat("loss_g", "L_G"), Stat("k", "k_t"), Stat("m_global", "M_global", PER_PIXEL),
           Stat("latent_error", "C = mean (z - Enc(G(z)))^2", "z units^2"),
           Stat("pull_away", "PT = mean cos^2 of Enc(G(z)) pairs", "cosine^2")),
    prior="uniform", optimizer=("adam", (0.5, 0.999)), plateau_metric="m_global", extra_grids=("recon",),
    fused_kernels=True, nonfinite_hint=" or a different --gamma")

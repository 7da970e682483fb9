"""DF-GAN's objective (Tao et al., arXiv 2008.05865): text-conditioned hinge loss with the
matching-aware zero-centred gradient penalty (MA-GP), on networks/dfgan_nets.py.

With x a real image, e its caption's sentence vector, e' another image's (the batch's
sentence vectors rolled by one: a mismatched pair) and G's image G(z, e):
    L_D = relu(1 - D(x, e)) + (relu(1 + D(G(z, e), e)) + relu(1 + D(x, e'))) / 2
          + k * (||grad_x D(x, e)|| + ||grad_e D(x, e)||)^p          (batch means; k 2, p 6)
    L_G = -D(G(z, e), e)
One D update, then one G update through the updated D, as the paper; Adam, G 1e-4, D 4e-4,
betas (0, 0.9). The penalty is a gradient of a gradient (double backward) and runs eagerly
under torch.compile, like WGAN-GP's (docs/models.md, "What each backend does for each model").
Stats: L_D, L_G, D's mean logits on matched real, fake and mismatched pairs, and the penalty.
"""
import torch
import torch.nn.functional as F

from began_fast.step import apply_gradients, autocast, draw_z, finish_step

STATS_FIELDS = ("count", "loss_d", "loss_g", "d_real", "d_fake", "d_mismatch", "penalty")
PENALTY_WEIGHT, PENALTY_POWER = 2.0, 6.0


def conditioning(dataset, opts, device, saved=None, bar=None, log=None):
    """The hook (models/hooks.py): the captions and the frozen text encoder, the checkpoint's
    (`saved`) when resuming, else pre-trained on these captions (cached) or --text-encoder's."""
    from began_fast.text.conditioning import TextConditioning     # which imports this file
    text = TextConditioning(dataset, opts, device, saved, bar("pre-training the text encoder", "batch"),
                            lambda line: log(f"text encoder: {line}"))
    if saved is None:
        report = text.text.report
        accuracy = f", held-out matching accuracy {report['accuracy']:.3f}" if "accuracy" in report else ""
        log(f"text encoder: {text.text.path}{accuracy}")
    return text


def generator_input(z: torch.Tensor, sentences: torch.Tensor) -> torch.Tensor:
    return torch.cat([z, sentences.to(z.dtype)], dim=1)


@torch.compiler.disable
def real_scores(state, real: torch.Tensor, e: torch.Tensor) -> tuple:
    """(D(x, e), D(x, e'), the MA-GP term) on a real batch, one pass through D's image
    layers; keeps the graph so that L_D's gradient includes the penalty's. Always eager:
    AOTAutograd cannot differentiate a compiled gradient again."""
    real, e = real.detach().requires_grad_(True), e.detach().requires_grad_(True)
    with autocast(state):
        features = state.D.features(real)
        matched = state.D.judge(features, e).float()
        mismatched = state.D.judge(features, e.detach().roll(1, dims=0)).float()
    grad_x, grad_e = torch.autograd.grad(matched.sum(), (real, e), create_graph=True)
    return matched, mismatched, matching_penalty(grad_x, grad_e)


def matching_penalty(grad_x: torch.Tensor, grad_e: torch.Tensor) -> torch.Tensor:
    """k * E[(||grad_x D|| + ||grad_e D||)^p], the norms per sample (the paper's formula)."""
    norms = grad_x.float().flatten(1).norm(dim=1) + grad_e.float().flatten(1).norm(dim=1)
    return PENALTY_WEIGHT * (norms ** PENALTY_POWER).mean()


def discriminator_loss(matched, fake, mismatched, penalty) -> torch.Tensor:
    return F.relu(1 - matched).mean() + (F.relu(1 + fake).mean() + F.relu(1 + mismatched).mean()) / 2 + penalty


def train_step(state) -> None:
    """One D update and one G update on a captioned batch; reads nothing back to the host.
    G runs twice (no graph for D's update), as in gan.py."""
    real, e = state.data.sample_with_sentences(state.opts.batch, state.memory_format)
    inputs = generator_input(draw_z(state), e)
    with autocast(state), torch.no_grad():
        fake = state.G(inputs)
    matched, mismatched, penalty = real_scores(state, real, e)
    with autocast(state):
        d_fake = state.D(fake, e).float()
    loss_d = discriminator_loss(matched, d_fake, mismatched, penalty)
    apply_gradients(state, "D", torch.autograd.grad(loss_d, list(state.D.parameters())))
    with autocast(state):
        loss_g = -state.D(state.G(inputs), e).float().mean()
    apply_gradients(state, "G", torch.autograd.grad(loss_g, list(state.G.parameters())))
    finish_step(state, [loss_d, loss_g, matched.mean(), d_fake.mean(), mismatched.mean(), penalty],
                watch=loss_d + loss_g)

"""Plausible wrong answers of sheet 4 that every check must reject, and the reference
answers it must accept."""
import numpy as np
import torch

from autograder.sheets.sheet4_influence import reference as ref
from utils.attribution import batches

# --- straight_line_path ---------------------------------------------------------------


def _path_with_alphas(alphas_of):
    def path(x, baseline, steps):
        alphas = torch.as_tensor(alphas_of(steps), dtype=x.dtype).reshape((-1,) + (1,) * x.ndim)
        return baseline + alphas * (x - baseline)

    return path


path_left = _path_with_alphas(lambda m: np.arange(0, m) / m)  # the briefing's code: k = 0..m-1
path_linspace = _path_with_alphas(lambda m: np.linspace(0, 1, m))  # both end points, wrong spacing
path_reversed = _path_with_alphas(lambda m: np.arange(m, 0, -1) / m)  # right points, wrong order


def path_from_x(x, baseline, steps):
    """Starts at x and walks towards the baseline."""
    return ref.straight_line_path(baseline, x, steps)


def path_without_baseline(x, baseline, steps):
    """Scales x itself, as if the baseline were zero."""
    return ref.straight_line_path(x, torch.zeros_like(x), steps)


def path_flat(x, baseline, steps):
    """Points flattened to (steps, x.numel())."""
    return ref.straight_line_path(x, baseline, steps).reshape(steps, -1)


def path_subtracts_in_place(x, baseline, steps):
    """Right points, but ``difference = x`` is no copy: x becomes x − x'."""
    alphas = torch.arange(1, steps + 1, dtype=x.dtype).reshape((steps,) + (1,) * x.ndim) / steps
    difference = x
    difference -= baseline
    return baseline + alphas * difference


# --- integrated_gradients -------------------------------------------------------------


def _ig_variant(path, *, factor=True, reduce="mean", baseline_override=None):
    def ig(F, x, baseline, steps=50, batch_size=None):
        base = baseline_override(x) if baseline_override else baseline
        points = path(x, base, steps)
        grads = []
        for part in batches(len(points), batch_size):
            chunk = points[part].detach().requires_grad_(True)
            grads.append(torch.autograd.grad(F(chunk).sum(), chunk)[0])
        grads = torch.cat(grads)
        if reduce == "mean":
            total = grads.mean(dim=0)
        elif reduce == "batch means":
            sizes = [len(range(*part.indices(len(points)))) for part in batches(len(points), batch_size)]
            total = torch.stack([chunk.mean(dim=0) for chunk in grads.split(sizes)]).mean(dim=0)
        elif reduce == "last batch":
            last = list(batches(len(points), batch_size))[-1]
            total = grads[last].sum(dim=0) / len(points)
        elif reduce == "sum":
            total = grads.sum(dim=0)
        else:  # averaged over the last feature axis instead of over the steps
            total = grads.mean(dim=-1, keepdim=True).expand_as(grads)[-1]
        return (x - base) * total if factor else total

    return ig


ig_off_by_one = _ig_variant(path_left)
ig_zero_baseline = _ig_variant(ref.straight_line_path, baseline_override=torch.zeros_like)
ig_no_difference_factor = _ig_variant(ref.straight_line_path, factor=False)
ig_sum_not_mean = _ig_variant(ref.straight_line_path, reduce="sum")
ig_mean_wrong_axis = _ig_variant(ref.straight_line_path, reduce="wrong axis")
ig_linspace = _ig_variant(path_linspace)
ig_mean_of_batch_means = _ig_variant(ref.straight_line_path, reduce="batch means")
ig_last_batch_only = _ig_variant(ref.straight_line_path, reduce="last batch")


def ig_plain_gradient(F, x, baseline, steps=50, batch_size=None):
    """Gradient × (x − x') at x alone: no path at all."""
    point = x.detach().unsqueeze(0).requires_grad_(True)
    return (x - baseline) * torch.autograd.grad(F(point).sum(), point)[0][0]


def ig_ignores_batch_size(F, x, baseline, steps=50, batch_size=None):
    """Right numbers, but all steps in one batch whatever batch_size says."""
    return ref.integrated_gradients(F, x, baseline, steps)


def ig_subtracts_in_place(F, x, baseline, steps=50, batch_size=None):
    """Right numbers, but ``delta = x`` is no copy: x becomes x − x'."""
    delta = x
    delta -= baseline
    alphas = torch.arange(1, steps + 1, dtype=x.dtype).reshape((steps,) + (1,) * x.ndim) / steps
    points = baseline + alphas * delta
    total = torch.zeros_like(delta)
    for part in batches(steps, batch_size):
        chunk = points[part].detach().requires_grad_(True)
        total += torch.autograd.grad(F(chunk).sum(), chunk)[0].sum(dim=0)
    return delta * total / steps


# --- influence ------------------------------------------------------------------------


def influence_sum_not_mean(h, g, X, qoi, batch_size=None):
    return ref.influence(h, g, X, qoi, batch_size) * len(X)


def influence_times_activation(h, g, X, qoi, batch_size=None):
    """Gradient × activation (a contribution, not an influence)."""
    z = h(X).detach().requires_grad_(True)
    gradient = torch.autograd.grad(qoi(g(z)).sum(), z)[0]
    return (gradient * z).mean(dim=0).detach()


def influence_at_mean_activation(h, g, X, qoi, batch_size=None):
    """The gradient at the mean activation E[h(x)] instead of the mean of the gradients."""
    with torch.no_grad():
        z = h(X).mean(dim=0, keepdim=True)
    z.requires_grad_(True)
    return torch.autograd.grad(qoi(g(z)).sum(), z)[0][0]


def influence_first_instance(h, g, X, qoi, batch_size=None):
    """Only the first instance of the distribution."""
    return ref.influence(h, g, X[:1], qoi)


def influence_mean_wrong_axis(h, g, X, qoi, batch_size=None):
    """Averaged over the channels of each instance, then summed over the instances."""
    z = h(X).detach().requires_grad_(True)
    gradient = torch.autograd.grad(qoi(g(z)).sum(), z)[0]
    return gradient.mean(dim=1, keepdim=True).expand_as(gradient).sum(dim=0)


def influence_of_output_sum(h, g, X, qoi, batch_size=None):
    """Ignores the quantity of interest: the gradient of the sum of all outputs."""
    return ref.influence(h, g, X, lambda y: y.sum(dim=1), batch_size)


def influence_ignores_batch_size(h, g, X, qoi, batch_size=None):
    return ref.influence(h, g, X, qoi)


def influence_mean_of_batch_means(h, g, X, qoi, batch_size=None):
    """Each batch averaged on its own, then the batch means averaged (wrong when the last
    batch is smaller)."""
    means = [ref.influence(h, g, X[part], qoi) for part in batches(len(X), batch_size)]
    return torch.stack(means).mean(dim=0)


def influence_last_batch_only(h, g, X, qoi, batch_size=None):
    """The accumulator is overwritten by each batch instead of added to."""
    for part in batches(len(X), batch_size):
        z = h(X[part]).detach().requires_grad_(True)
        total = torch.autograd.grad(qoi(g(z)).sum(), z)[0].sum(dim=0)
    return total / len(X)


# --- top_neurons ----------------------------------------------------------------------


def _ranked(score, ascending=False):
    def top(chi, k):
        values = score(np.asarray(chi, dtype=np.float64).reshape(len(chi), -1))
        order = np.argsort(values if ascending else -values, kind="stable")
        return order[:k]

    return top


top_by_mean = _ranked(lambda v: v.mean(axis=1))
top_by_abs_max = _ranked(lambda v: np.abs(v).max(axis=1))
top_least_first = _ranked(lambda v: v.max(axis=1), ascending=True)
top_by_min = _ranked(lambda v: v.min(axis=1))


def top_wrong_axis(chi, k):
    """Max over channels, ranking positions instead of channels."""
    peak = np.asarray(chi, dtype=np.float64).max(axis=0).ravel()
    return np.argsort(-peak)[:k]


def top_off_by_one(chi, k):
    return ref.top_neurons(chi, k + 1)[1:]


def top_sorted_indices(chi, k):
    """The right channels, but sorted by index instead of by influence."""
    return np.sort(ref.top_neurons(chi, k))


def top_clamps_in_place(chi, k):
    """Ignores negative influence with an in-place clamp, which changes the caller's chi."""
    chi.clamp_(min=0)
    return ref.top_neurons(chi, k)


# --- neuron_saliency ------------------------------------------------------------------


def saliency_max_position(h, x, channel):
    """Only the position where the channel peaks."""
    x = x.detach().unsqueeze(0).requires_grad_(True)
    (gradient,) = torch.autograd.grad(h(x)[0, channel].max(), x)
    return gradient[0]


def saliency_all_channels(h, x, channel):
    x = x.detach().unsqueeze(0).requires_grad_(True)
    (gradient,) = torch.autograd.grad(h(x).sum(), x)
    return gradient[0]


def saliency_times_input(h, x, channel):
    return ref.neuron_saliency(h, x, channel) * x


def saliency_last_axis(h, x, channel):
    """Selects the channel on the last axis, as for NHWC."""
    x = x.detach().unsqueeze(0).requires_grad_(True)
    (gradient,) = torch.autograd.grad(h(x)[0, ..., channel % h(x).shape[-1]].sum(), x)
    return gradient[0]


def saliency_negated(h, x, channel):
    return -ref.neuron_saliency(h, x, channel)


def saliency_unsqueezes_in_place(h, x, channel):
    """Adds the batch axis with ``unsqueeze_``, which reshapes the caller's x."""
    x.unsqueeze_(0)
    point = x.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(h(point)[0, channel].sum(), point)
    return gradient[0]


# --- masked_output --------------------------------------------------------------------


def masked_complement(g, Z, channels):
    others = [j for j in range(Z.shape[1]) if j not in {int(c) for c in channels}]
    return ref.masked_output(g, Z, others)


def masked_nothing(g, Z, channels):
    with torch.no_grad():
        return g(Z)


def masked_last_axis(g, Z, channels):
    """Masks along the last axis instead of the channel axis."""
    mask = torch.zeros(Z.shape[-1], dtype=Z.dtype)
    mask[[int(c) for c in channels if c < Z.shape[-1]]] = 1
    with torch.no_grad():
        return g(Z * mask)


def masked_to_mean(g, Z, channels):
    """Replaces the dropped channels by their mean instead of zero."""
    keep = torch.zeros(Z.shape[1], dtype=torch.bool)
    keep[[int(c) for c in channels]] = True
    shape = (1, -1) + (1,) * (Z.ndim - 2)
    filled = torch.where(keep.reshape(shape), Z, Z.mean(dim=0, keepdim=True))
    with torch.no_grad():
        return g(filled)


def masked_single_channel(g, Z, channels):
    """Keeps only the first listed channel."""
    return ref.masked_output(g, Z, list(channels)[:1])


def masked_in_place(g, Z, channels):
    """Right numbers, but the dropped channels are zeroed in the caller's Z."""
    others = [j for j in range(Z.shape[1]) if j not in {int(c) for c in channels}]
    Z[:, others] = 0
    with torch.no_grad():
        return g(Z)


def masked_sorts_channels(g, Z, channels):
    """Right numbers, but a list of channels is sorted in place."""
    if isinstance(channels, list):
        channels.sort()
    return ref.masked_output(g, Z, channels)


CORRECT = {
    "test_straight_line_path": {"straight_line_path": ref.straight_line_path},
    "test_integrated_gradients": {"integrated_gradients": ref.integrated_gradients},
    "test_influence": {"influence": ref.influence},
    "test_top_neurons": {"top_neurons": ref.top_neurons},
    "test_neuron_saliency": {"neuron_saliency": ref.neuron_saliency},
    "test_masked_output": {"masked_output": ref.masked_output},
}


def _named(name: str, variants: dict) -> dict:
    return {what: {name: function} for what, function in variants.items()}


MUTANTS = {
    "test_straight_line_path": _named("straight_line_path", {
        "left Riemann points k = 0..m-1 (the briefing's code)": path_left,
        "linspace(0, 1, m)": path_linspace,
        "points in reverse order": path_reversed,
        "path starts at x": path_from_x,
        "baseline ignored": path_without_baseline,
        "points flattened": path_flat,
        "subtracts the baseline from x in place": path_subtracts_in_place,
    }),
    "test_integrated_gradients": _named("integrated_gradients", {
        "off by one step (k = 0..m-1)": ig_off_by_one,
        "zero baseline instead of the given one": ig_zero_baseline,
        "missing (x - x') factor": ig_no_difference_factor,
        "sum instead of mean over the steps": ig_sum_not_mean,
        "mean over the wrong axis": ig_mean_wrong_axis,
        "linspace path with both end points": ig_linspace,
        "mean of the per-batch means": ig_mean_of_batch_means,
        "only the last batch's gradients": ig_last_batch_only,
        "plain gradient times (x - x')": ig_plain_gradient,
        "batch_size ignored": ig_ignores_batch_size,
        "subtracts the baseline from x in place": ig_subtracts_in_place,
    }),
    "test_influence": _named("influence", {
        "sum instead of mean over instances": influence_sum_not_mean,
        "gradient times activation": influence_times_activation,
        "gradient at the mean activation": influence_at_mean_activation,
        "first instance only": influence_first_instance,
        "mean over the channel axis": influence_mean_wrong_axis,
        "quantity of interest ignored": influence_of_output_sum,
        "mean of the per-batch means": influence_mean_of_batch_means,
        "only the last batch's gradients": influence_last_batch_only,
        "batch_size ignored": influence_ignores_batch_size,
    }),
    "test_top_neurons": _named("top_neurons", {
        "mean over positions": top_by_mean,
        "max of |chi|": top_by_abs_max,
        "least influential first": top_least_first,
        "min over positions": top_by_min,
        "max over channels (ranks positions)": top_wrong_axis,
        "off by one": top_off_by_one,
        "right channels in ascending index order": top_sorted_indices,
        "clamps chi at zero in place": top_clamps_in_place,
    }),
    "test_neuron_saliency": _named("neuron_saliency", {
        "only the peak position": saliency_max_position,
        "all channels": saliency_all_channels,
        "times the input": saliency_times_input,
        "channel on the last axis": saliency_last_axis,
        "sign flipped": saliency_negated,
        "adds the batch axis to x in place": saliency_unsqueezes_in_place,
    }),
    "test_masked_output": _named("masked_output", {
        "keeps the complement": masked_complement,
        "masks nothing": masked_nothing,
        "masks the last axis": masked_last_axis,
        "dropped channels set to their mean": masked_to_mean,
        "keeps the first channel only": masked_single_channel,
        "zeroes the caller's Z in place": masked_in_place,
        "sorts the caller's channel list": masked_sorts_channels,
    }),
}

# Answer cells replaced in the demo submission: a plausible half-right student.
PARTLY_WRONG = {
    "straight_line_path": (
        "def straight_line_path(x, baseline, steps):\n"
        "    # the briefing's code: k = 0, ..., m-1\n"
        "    alphas = torch.arange(0, steps, dtype=x.dtype) / steps\n"
        "    alphas = alphas.reshape((steps,) + (1,) * x.ndim)\n"
        "    return baseline + alphas * (x - baseline)\n"
    ),
    "top_neurons": (
        "def top_neurons(chi, k):\n"
        "    peak = torch.as_tensor(chi).flatten(1).mean(dim=1)\n"
        "    return torch.argsort(peak, descending=True)[:k]\n"
    ),
}

"""Helpers for the theory notebooks: the chapter's models, its hand-derived formulas, and small loops.

Every formula here is written the way the thesis derives it, so that a notebook can check it against
PyTorch (autograd, ``torch.nn.functional``, ``torch.optim``) or NumPy. Tensors are float64 throughout:
the checks compare derivations, not rounding.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

DTYPE = torch.float64


# --------------------------------------------------------------------------------------------
# Reproducibility and figures
# --------------------------------------------------------------------------------------------
def seed_everything(seed: int, threads: int = 1) -> np.random.Generator:
    """Seed Python, NumPy and torch, fix torch's thread count, and return a NumPy generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    return np.random.default_rng(seed)


def setup_plots() -> None:
    """The thesis figure style: seaborn's whitegrid theme at a size that reads in print."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    mpl.rcParams.update({"figure.figsize": (9, 4), "figure.dpi": 90, "axes.titleweight": "bold"})


def label(ax, title: str, xlabel: str, ylabel: str, legend: bool = True) -> None:
    """Give an axes what a thesis figure needs: a title, axis labels and (when it has labelled artists) a legend."""
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if legend:
        ax.legend()


def tensor(values) -> torch.Tensor:
    """``values`` (numbers, arrays or tensors) as a new float64 tensor: a copy, never sharing memory."""
    if isinstance(values, torch.Tensor):
        return values.detach().to(DTYPE, copy=True)
    return torch.tensor(np.array(values, dtype=np.float64), dtype=DTYPE)


def column(values) -> torch.Tensor:
    """``values`` as a float64 column tensor of shape (N, 1), the layout ``nn.Linear`` expects."""
    return tensor(values).reshape(-1, 1)


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------
class BiasLayer(nn.Module):
    """The bias layer ``y = b``: one learnable constant per output, whatever the input."""

    def __init__(self, out_features: int = 1, init: float = 0.0):
        super().__init__()
        self.bias = nn.Parameter(torch.full((out_features,), float(init), dtype=DTYPE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(x.shape[0], -1)


def affine_layer(weight: float = 0.0, bias: float | None = 0.0) -> nn.Linear:
    """A 1-in, 1-out ``nn.Linear`` started at ``weight`` (and ``bias``; ``None``: no bias, ``y = Wx``)."""
    layer = nn.Linear(1, 1, bias=bias is not None, dtype=DTYPE)
    with torch.no_grad():
        layer.weight.fill_(weight)
        if bias is not None:
            layer.bias.fill_(bias)
    return layer


def scalar_parameters(model: nn.Module) -> dict[str, float]:
    """The model's parameters as ``{name: value}``; a parameter with several entries gets ``name[i]``."""
    out = {}
    for name, p in model.named_parameters():
        flat = p.detach().reshape(-1)
        if flat.numel() == 1:
            out[name] = flat.item()
        else:
            out.update({f"{name}[{i}]": v.item() for i, v in enumerate(flat)})
    return out


def fit_mse(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
            frozen: Sequence[str] = ()) -> pd.DataFrame:
    """Full-batch gradient descent on the MSE; parameters named in ``frozen`` stay fixed.

    Returns one row per step (0 = before training) with the loss and every parameter's value.
    """
    trained = [p for name, p in model.named_parameters() if name not in frozen]
    opt = torch.optim.SGD(trained, lr=lr)
    rows = []
    for step in range(steps + 1):
        loss = torch.nn.functional.mse_loss(model(x), y)
        rows.append({"step": step, "loss": loss.item(), **scalar_parameters(model)})
        if step < steps:
            opt.zero_grad()
            loss.backward()
            opt.step()
    return pd.DataFrame(rows)


def rate_through_origin(x, y) -> float:
    """The least-squares slope of ``y = Wx``: :math:`W^* = \\sum x_i y_i / \\sum x_i^2`."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float((x * y).sum() / (x * x).sum())


def weighted_mean_rate(x, y) -> float:
    """The mean of the rates :math:`y_i/x_i`, each weighted by :math:`x_i^2` (equals :func:`rate_through_origin`)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.average(y / x, weights=x * x))


def minmax_affine(x) -> tuple[float, float]:
    """``(w, b)`` of a MinMaxScaler as a line: ``w = 1/(max-min)``, ``b = -min/(max-min)``."""
    lo, hi = float(np.min(x)), float(np.max(x))
    return 1.0 / (hi - lo), -lo / (hi - lo)


def standard_affine(x) -> tuple[float, float]:
    """``(w, b)`` of a StandardScaler as a line: ``w = 1/std``, ``b = -mean/std`` (population std)."""
    mean, std = float(np.mean(x)), float(np.std(x))
    return 1.0 / std, -mean / std


def pca_layer(x: np.ndarray, k: int) -> tuple[nn.Linear, np.ndarray]:
    """PCA of the rows of ``x`` as ``nn.Linear(d, k)``, from the eigenvectors of the covariance.

    ``W`` holds the top-``k`` eigenvectors as rows, ``b = -W mean``, so ``y = W(x - mean)``.
    Returns the layer and all eigenvalues, largest first.
    """
    mean = x.mean(axis=0)
    eigvals, eigvecs = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(eigvals)[::-1]
    components = eigvecs[:, order[:k]].T
    # an eigenvector's sign is arbitrary (LAPACK may pick either): make each one's largest entry positive
    components *= np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])[:, None]
    layer = nn.Linear(x.shape[1], k, dtype=DTYPE)
    with torch.no_grad():
        layer.weight.copy_(tensor(components))
        layer.bias.copy_(tensor(-components @ mean))
    return layer, eigvals[order]


def align_signs(a: np.ndarray, reference: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip the sign of each column (``axis=0``) or row (``axis=1``) of ``a`` to agree with ``reference``.

    Eigenvectors and singular vectors are defined up to sign; this makes two of them comparable.
    """
    signs = np.sign((a * reference).sum(axis=axis, keepdims=True))
    return a * np.where(signs == 0, 1, signs)


# --------------------------------------------------------------------------------------------
# Activations and losses
# --------------------------------------------------------------------------------------------
def softmax(z: torch.Tensor) -> torch.Tensor:
    """:math:`a_j = e^{z_j} / \\sum_k e^{z_k}` over the last axis (shifted by the max, which cancels)."""
    e = torch.exp(z - z.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_jacobian(a: torch.Tensor) -> torch.Tensor:
    """:math:`\\partial a_i/\\partial z_j = a_i(\\delta_{ij} - a_j)` for one softmax output vector ``a``."""
    return torch.diag(a) - torch.outer(a, a)


def sigmoid(z: torch.Tensor) -> torch.Tensor:
    """:math:`\\sigma(z) = 1/(1 + e^{-z})`."""
    return 1.0 / (1.0 + torch.exp(-z))


def sigmoid_derivative(a: torch.Tensor) -> torch.Tensor:
    """:math:`\\sigma'(a) = \\sigma(a)(1 - \\sigma(a))`."""
    s = sigmoid(a)
    return s * (1 - s)


def mae(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:math:`\\frac1N \\sum |h(x_i) - y_i|`."""
    return (prediction - target).abs().mean()


def mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:math:`\\frac1N \\sum (h(x_i) - y_i)^2`."""
    return ((prediction - target) ** 2).mean()


def categorical_cross_entropy(probs: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
    """:math:`-\\frac1N \\sum_i \\sum_k y_{ik} \\log p_{ik}`: one true class per sample, probabilities summing to 1."""
    return -(one_hot * torch.log(probs)).sum(dim=-1).mean()


def binary_cross_entropy(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """:math:`-\\frac{1}{NK} \\sum_{i,k} [y \\log p + (1-y)\\log(1-p)]`: the mean over every (sample, class) entry."""
    return -(targets * torch.log(probs) + (1 - targets) * torch.log(1 - probs)).mean()


# --------------------------------------------------------------------------------------------
# Gradient descent on a line, and the sigmoid and cubic models
# --------------------------------------------------------------------------------------------
def line_mse(theta: Sequence[float], x: np.ndarray, y: np.ndarray) -> float:
    """:math:`J(\\theta_0, \\theta_1) = \\frac1N \\sum (\\theta_0 + \\theta_1 x_i - y_i)^2`."""
    return float(np.mean((theta[0] + theta[1] * x - y) ** 2))


def line_mse_gradients(theta0: float, theta1: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``(dJ/dθ0, dJ/dθ1) = (2/N Σ(θ0 + θ1 x - y)·1, 2/N Σ(θ0 + θ1 x - y)·x)``."""
    residual = theta0 + theta1 * x - y
    return np.array([2 * residual.mean(), 2 * (residual * x).mean()])


def gd_step_simultaneous(theta: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float) -> np.ndarray:
    """Both gradients from the old parameters, held in temporaries, then both parameters updated."""
    grad = line_mse_gradients(theta[0], theta[1], x, y)
    temp0 = theta[0] - lr * grad[0]
    temp1 = theta[1] - lr * grad[1]
    return np.array([temp0, temp1])


def gd_step_sequential(theta: np.ndarray, x: np.ndarray, y: np.ndarray, lr: float) -> np.ndarray:
    """The naive update: θ0 is overwritten first, so θ1's gradient already sees the new θ0."""
    theta0 = theta[0] - lr * line_mse_gradients(theta[0], theta[1], x, y)[0]
    theta1 = theta[1] - lr * line_mse_gradients(theta0, theta[1], x, y)[1]
    return np.array([theta0, theta1])


def run_gd(step: Callable, theta: Sequence[float], x: np.ndarray, y: np.ndarray, *, lr: float,
           steps: int) -> np.ndarray:
    """The parameter path of ``steps`` updates by ``step``: an array of shape (steps + 1, 2)."""
    path = [np.asarray(theta, float)]
    for _ in range(steps):
        path.append(step(path[-1], x, y, lr))
    return np.stack(path)


def sigmoid_model_gradients(b: float, w: float, x, y) -> np.ndarray:
    """MSE gradients of :math:`h = \\sigma(a)`, :math:`a = b + Wx`, by the chain rule through
    :math:`\\sigma'(a)`: ``(2/N Σ(h-y)σ'(a)·1, 2/N Σ(h-y)σ'(a)·x)``."""
    x, y = tensor(x), tensor(y)
    a = b + w * x
    common = 2 * (sigmoid(a) - y) * sigmoid_derivative(a)
    return np.array([common.mean().item(), (common * x).mean().item()])


def cubic_model(b, w, x):
    """The cubic price model :math:`b + W x^3`."""
    return b + w * x**3


def cubic_input_gradient(w, x):
    """:math:`\\partial(b + W x^3)/\\partial x = 3 W x^2`."""
    return 3 * w * x**2


# --------------------------------------------------------------------------------------------
# A two-layer network, back-propagated by hand
# --------------------------------------------------------------------------------------------
def two_layer_parameters(n_in: int, n_hidden: int, n_out: int, generator: torch.Generator) -> dict:
    """Random ``W1 (h, d)``, ``b1 (h,)``, ``W2 (o, h)``, ``b2 (o,)`` for :func:`two_layer_forward`."""
    shapes = {"W1": (n_hidden, n_in), "b1": (n_hidden,), "W2": (n_out, n_hidden), "b2": (n_out,)}
    return {k: torch.randn(s, generator=generator, dtype=DTYPE) for k, s in shapes.items()}


def two_layer_forward(params: dict, x: torch.Tensor) -> dict:
    """``Linear(W2, b2, ReLU(Linear(W1, b1, x)))`` with every intermediate: ``z1``, ``r1``, ``out``."""
    z1 = x @ params["W1"].T + params["b1"]
    r1 = torch.clamp(z1, min=0)
    return {"z1": z1, "r1": r1, "out": r1 @ params["W2"].T + params["b2"]}


def two_layer_backward(params: dict, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The MSE gradients of every parameter by the chain rule, written out layer by layer."""
    f = two_layer_forward(params, x)
    d_out = 2 * (f["out"] - y) / y.numel()          # dL/dy' of the mean squared error
    d_r1 = d_out @ params["W2"]                      # back through Linear 2
    d_z1 = d_r1 * (f["z1"] > 0)                       # ReLU passes gradient where its input was > 0
    return {"W2": d_out.T @ f["r1"], "b2": d_out.sum(0), "W1": d_z1.T @ x, "b1": d_z1.sum(0)}


def autograd_gradients(loss_fn: Callable[[dict], torch.Tensor], params: dict) -> dict:
    """``torch.autograd`` gradients of ``loss_fn(params)`` for each tensor in ``params``."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    grads = torch.autograd.grad(loss_fn(leaves), list(leaves.values()))
    return dict(zip(leaves, grads))


def mse_gradients_autograd(model: Callable, b: float, w: float, x, y) -> np.ndarray:
    """Autograd's ``(dJ/db, dJ/dW)`` for the MSE of ``model(b, w, x)`` against ``y``: the reference
    the hand-derived gradients of the line, sigmoid and cubic models are checked against."""
    grads = autograd_gradients(lambda p: mse(model(p["b"], p["w"], tensor(x)), tensor(y)),
                               {"b": tensor(b), "w": tensor(w)})
    return np.array([grads["b"].item(), grads["w"].item()])


def derivative_autograd(f: Callable, x) -> torch.Tensor:
    """Autograd's elementwise derivative ``f'(x)`` of an elementwise function ``f`` at every point of ``x``."""
    leaf = tensor(x).requires_grad_(True)
    (grad,) = torch.autograd.grad(f(leaf).sum(), leaf)
    return grad


# --------------------------------------------------------------------------------------------
# Optimisers by hand, step for step against torch.optim
# --------------------------------------------------------------------------------------------
def sgd_update(lr: float):
    """:math:`\\theta \\leftarrow \\theta - \\alpha g`."""
    def update(theta, grad, state):
        return theta - lr * grad, state
    return update


def momentum_update(lr: float, momentum: float):
    """:math:`v \\leftarrow \\mu v + g,\\; \\theta \\leftarrow \\theta - \\alpha v` (``v`` starts at 0)."""
    def update(theta, grad, state):
        v = momentum * state.get("v", torch.zeros_like(grad)) + grad
        return theta - lr * v, {"v": v}
    return update


def rmsprop_update(lr: float, alpha: float, eps: float):
    """:math:`s \\leftarrow \\rho s + (1-\\rho) g^2,\\; \\theta \\leftarrow \\theta - \\alpha g/(\\sqrt{s} + \\epsilon)`
    (``s`` starts at 0); ``alpha`` is the decay :math:`\\rho`, as ``torch.optim.RMSprop`` names it."""
    def update(theta, grad, state):
        s = alpha * state.get("s", torch.zeros_like(grad)) + (1 - alpha) * grad**2
        return theta - lr * grad / (s.sqrt() + eps), {"s": s}
    return update


def minibatches(n: int, batch_size: int, steps: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``steps`` index batches, drawn epoch by epoch from fresh permutations of ``range(n)``."""
    batches: list[np.ndarray] = []
    while len(batches) < steps:
        order = rng.permutation(n)
        batches += [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]
    return batches[:steps]


def optimise_by_hand(loss_fn: Callable, theta: torch.Tensor, batches: Sequence, update) -> np.ndarray:
    """Apply ``update`` once per batch, the gradient by autograd. Returns the path, (steps + 1, P)."""
    theta, state, path = theta.detach().clone(), {}, [theta.detach().clone()]
    for batch in batches:
        leaf = theta.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(loss_fn(leaf, batch), leaf)
        theta, state = update(theta, grad, state)
        path.append(theta.clone())
    return torch.stack(path).numpy()


def optimise_with_torch(loss_fn: Callable, theta: torch.Tensor, batches: Sequence, make_optimizer) -> np.ndarray:
    """The same loop as :func:`optimise_by_hand`, the step taken by ``make_optimizer([param])``."""
    param = nn.Parameter(theta.detach().clone())
    opt, path = make_optimizer([param]), [theta.detach().clone()]
    for batch in batches:
        opt.zero_grad()
        loss_fn(param, batch).backward()
        opt.step()
        path.append(param.detach().clone())
    return torch.stack(path).numpy()


# --------------------------------------------------------------------------------------------
# Metrics by hand
# --------------------------------------------------------------------------------------------
def confusion_matrix_by_hand(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Count, one sample at a time, how often true class ``t`` was predicted as ``p`` (row t, column p)."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        cm[t, p] += 1
    return cm


def class_counts(cm: np.ndarray) -> pd.DataFrame:
    """Per class: true positives (diagonal), false positives (column rest), false negatives (row rest)."""
    tp = np.diag(cm)
    return pd.DataFrame({"TP": tp, "FP": cm.sum(axis=0) - tp, "FN": cm.sum(axis=1) - tp})


def precision_recall_f1(tp, fp, fn) -> tuple:
    """``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F1 = 2PR/(P+R)`` (elementwise; no class may be empty)."""
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return precision, recall, 2 * precision * recall / (precision + recall)


# --------------------------------------------------------------------------------------------
# Data loading and models
# --------------------------------------------------------------------------------------------
class CustomDataset(torch.utils.data.Dataset):
    """The chapter's example dataset: six numbers with alternating labels."""

    def __init__(self):
        super().__init__()
        self.x = [1, 2, 3, 4, 5, 6]
        self.y = [0, 1, 0, 1, 0, 1]

    def __getitem__(self, index):
        return self.x[index], self.y[index]

    def __len__(self):
        return len(self.x)


def layer_parameter_formula(module: nn.Module) -> int:
    """Parameters of one layer by formula: Conv ``c_out(c_in/groups·k_h·k_w) + c_out``, Linear
    ``out·in + out``, BatchNorm ``2·channels`` (bias terms only when present)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        n = module.out_channels * (module.in_channels // module.groups) * kh * kw
        return n + (module.out_channels if module.bias is not None else 0)
    if isinstance(module, nn.Linear):
        return module.out_features * module.in_features + (module.out_features if module.bias is not None else 0)
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return 2 * module.num_features if module.affine else 0
    if next(module.parameters(recurse=False), None) is None:
        return 0
    raise TypeError(f"no parameter formula for {type(module).__name__}")


def parameter_count_by_formula(model: nn.Module) -> int:
    """Sum of :func:`layer_parameter_formula` over every module of ``model``."""
    return sum(layer_parameter_formula(m) for m in model.modules())

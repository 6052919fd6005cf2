"""Fast checks of the theory notebooks' helpers against PyTorch and NumPy."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from thesis_lib.teaching import theory as T
from thesis_lib.training import metrics


@pytest.fixture
def rng():
    return T.seed_everything(0)


def test_bias_layer_converges_to_the_mean():
    history = T.fit_mse(T.BiasLayer(), T.column(np.zeros(6)), T.column([2, 2, 3, 3, 4, 4]), lr=0.1, steps=100)
    assert history["bias"].iloc[-1] == pytest.approx(3.0, abs=1e-8)
    assert list(history.columns) == ["step", "loss", "bias"]


def test_fit_mse_keeps_frozen_parameters(rng):
    x = rng.uniform(1, 3, 20)
    history = T.fit_mse(T.affine_layer(0.0, 0.0), T.column(x), T.column(2 * x), lr=0.1, steps=200, frozen=["bias"])
    assert (history["bias"] == 0).all()
    assert history["weight"].iloc[-1] == pytest.approx(T.rate_through_origin(x, 2 * x))


def test_rate_through_origin_is_a_weighted_mean_of_rates(rng):
    x, y = rng.uniform(0.5, 3, 30), rng.normal(size=30)
    assert T.rate_through_origin(x, y) == pytest.approx(T.weighted_mean_rate(x, y))
    assert T.rate_through_origin(x, y) == pytest.approx(np.linalg.lstsq(x[:, None], y, rcond=None)[0][0])


@pytest.mark.parametrize("affine, scaled", [
    (T.minmax_affine, lambda x: (x - x.min()) / (x.max() - x.min())),
    (T.standard_affine, lambda x: (x - x.mean()) / x.std()),
])
def test_scalers_as_lines(rng, affine, scaled):
    x = rng.normal(3, 2, 50)
    w, b = affine(x)
    np.testing.assert_allclose(w * x + b, scaled(x))


def test_pca_layer_matches_svd(rng):
    x = rng.normal(size=(100, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.2]])
    layer, eigvals = T.pca_layer(x, 2)
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(eigvals, s**2 / (len(x) - 1))
    scores = layer(T.tensor(x)).detach().numpy()
    np.testing.assert_allclose(T.align_signs(scores, u[:, :2] * s[:2]), u[:, :2] * s[:2], atol=1e-10)
    np.testing.assert_allclose(T.align_signs(layer.weight.detach().numpy(), vt[:2], axis=1), vt[:2], atol=1e-12)


def test_softmax_and_its_jacobian():
    z = T.tensor([2.0, 1.0, 0.1, -3.0])
    a = T.softmax(z)
    torch.testing.assert_close(a, torch.softmax(z, dim=0))
    torch.testing.assert_close(T.softmax(z + 1000), a)
    torch.testing.assert_close(T.softmax_jacobian(a), torch.autograd.functional.jacobian(T.softmax, z))


def test_sigmoid_and_its_derivative():
    a = torch.linspace(-8, 8, 33, dtype=T.DTYPE)
    torch.testing.assert_close(T.sigmoid(a), torch.sigmoid(a))
    torch.testing.assert_close(T.sigmoid_derivative(a), T.derivative_autograd(torch.sigmoid, a))


def test_losses_match_torch(rng):
    pred, target = T.tensor(rng.normal(size=10)), T.tensor(rng.normal(size=10))
    torch.testing.assert_close(T.mae(pred, target), F.l1_loss(pred, target))
    torch.testing.assert_close(T.mse(pred, target), F.mse_loss(pred, target))
    logits, labels = T.tensor(rng.normal(size=(5, 4))), torch.as_tensor(rng.integers(0, 4, 5))
    cce = T.categorical_cross_entropy(T.softmax(logits), F.one_hot(labels, 4))
    torch.testing.assert_close(cce, F.cross_entropy(logits, labels))
    multi_hot = T.tensor(rng.integers(0, 2, (5, 4)))
    bce = T.binary_cross_entropy(T.sigmoid(logits), multi_hot)
    torch.testing.assert_close(bce, F.binary_cross_entropy_with_logits(logits, multi_hot))


def test_hand_gradients_of_line_sigmoid_and_cubic(rng):
    x, y = rng.uniform(0, 2, 20), rng.uniform(0, 1, 20)
    line = T.mse_gradients_autograd(lambda b, w, x: b + w * x, 0.3, -0.7, x, y)
    np.testing.assert_allclose(T.line_mse_gradients(0.3, -0.7, x, y), line)
    sig = T.mse_gradients_autograd(lambda b, w, x: torch.sigmoid(b + w * x), 0.3, -0.7, x, y)
    np.testing.assert_allclose(T.sigmoid_model_gradients(0.3, -0.7, x, y), sig)
    cubic = T.mse_gradients_autograd(T.cubic_model, 0.3, -0.7, x, y)
    np.testing.assert_allclose(T.line_mse_gradients(0.3, -0.7, x**3, y), cubic)
    dx = T.derivative_autograd(lambda v: T.cubic_model(0.3, -0.7, v), x)
    np.testing.assert_allclose(T.cubic_input_gradient(-0.7, x), dx.numpy())


def test_simultaneous_update_is_torch_sgd_and_sequential_differs(rng):
    x, y = rng.uniform(0, 2, 20), rng.normal(size=20)
    theta = np.array([0.5, -0.3])
    sim = T.gd_step_simultaneous(theta, x, y, 0.1)
    param = nn.Parameter(T.tensor(theta))
    opt = torch.optim.SGD([param], lr=0.1)
    T.mse(param[0] + param[1] * T.tensor(x), T.tensor(y)).backward()
    opt.step()
    np.testing.assert_allclose(sim, param.detach().numpy())
    seq = T.gd_step_sequential(theta, x, y, 0.1)
    assert seq[0] == sim[0]
    assert seq[1] - sim[1] == pytest.approx(-0.1 * 2 * x.mean() * (sim[0] - theta[0]))
    path = T.run_gd(T.gd_step_simultaneous, theta, x, y, lr=0.2, steps=3)
    assert path.shape == (4, 2)


def test_two_layer_backward_matches_autograd(rng):
    params = T.two_layer_parameters(3, 5, 2, torch.Generator().manual_seed(0))
    x, y = T.tensor(rng.normal(size=(7, 3))), T.tensor(rng.normal(size=(7, 2)))
    auto = T.autograd_gradients(lambda p: T.mse(T.two_layer_forward(p, x)["out"], y), params)
    by_hand = T.two_layer_backward(params, x, y)
    for name in params:
        torch.testing.assert_close(by_hand[name], auto[name])


@pytest.mark.parametrize("update, make_optimizer", [
    (T.sgd_update(0.01), lambda p: torch.optim.SGD(p, lr=0.01)),
    (T.momentum_update(0.01, 0.9), lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
    (T.rmsprop_update(0.01, 0.9, 1e-8), lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-8)),
])
def test_hand_optimisers_match_torch_optim(rng, update, make_optimizer):
    x, y = T.tensor(rng.uniform(0, 4, 24)), T.tensor(rng.normal(size=24))

    def loss(theta, idx):
        return T.mse(theta[0] + theta[1] * x[idx], y[idx])

    batches = T.minibatches(24, 6, 10, rng)
    assert len(batches) == 10 and all(len(b) == 6 for b in batches)
    start = T.tensor([0.0, 0.0])
    np.testing.assert_allclose(T.optimise_by_hand(loss, start, batches, update),
                               T.optimise_with_torch(loss, start, batches, make_optimizer), atol=1e-12)


def test_metrics_by_hand_match_package_metrics(rng):
    y_true, y_pred = rng.integers(0, 3, 40), rng.integers(0, 3, 40)
    cm = T.confusion_matrix_by_hand(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, metrics.confusion_matrix(y_true, y_pred, 3))
    counts = T.class_counts(cm)
    precision, recall, f1 = T.precision_recall_f1(counts["TP"], counts["FP"], counts["FN"])
    ref = metrics.scores(cm)
    np.testing.assert_allclose(precision, ref["precision"])
    np.testing.assert_allclose(recall, ref["recall"])
    np.testing.assert_allclose(f1, ref["f1"])


def test_custom_dataset():
    ds = T.CustomDataset()
    assert len(ds) == 6 and ds[3] == (4, 1)


def test_parameter_formula():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 3, groups=4, bias=False),
                          nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    assert T.parameter_count_by_formula(model) == sum(p.numel() for p in model.parameters())
    with pytest.raises(TypeError, match="LayerNorm"):
        T.parameter_count_by_formula(nn.LayerNorm(4))

"""Module, Dense, Sequential, activations, initialisers and the seed's notation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule
from chainrule import ConfigError, Dense, Module, Sequential, ShapeError, Tensor, mlp
from chainrule.init import INITIALIZERS, get_initializer
from chainrule.nn import ParamRef, parameter_refs, parse_param


# -- parameters by walking attributes -------------------------------------------------

def test_named_parameters_in_assignment_order():
    model = mlp([2, 3, 4, 1], seed=0)
    assert [n for n, _ in model.named_parameters()] == [
        "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
        "layers.2.weight", "layers.2.bias",
    ]
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(2, 3), (3,), (3, 4), (4,), (4, 1), (1,)]
    assert model.parameters()[0] is model.layers[0].weight


def test_walk_finds_nested_modules_lists_and_skips_constants():
    class Net(Module):
        def __init__(self):
            self.scale = Tensor(2.0)  # a constant: no requires_grad, not a parameter
            self.head = Dense(3, 1, seed=0)
            self.blocks = (Dense(2, 3, seed=0), [Tensor(np.ones(2), requires_grad=True)])
            self.note = "text"

        def forward(self, x):
            return self.head(self.blocks[0](x))

    names = [n for n, _ in Net().named_parameters()]
    assert names == ["head.weight", "head.bias", "blocks.0.weight", "blocks.0.bias",
                     "blocks.1.0"]


def test_state_dict_round_trip():
    a, b = mlp([2, 3, 1], seed=0), mlp([2, 3, 1], seed=1)
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and np.array_equal(pa.data, pb.data)
    with pytest.raises(ShapeError, match="missing"):
        b.load_state_dict({"layers.0.weight": np.zeros((2, 3))})


def test_zero_grad():
    model = mlp([2, 2, 1], seed=0)
    chainrule.MSE(model(np.ones((1, 2))), np.ones((1, 1))).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


# -- Dense and activations ------------------------------------------------------------

REFERENCE_ACTIVATIONS = {
    "linear": lambda z: z,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.where(z > 0, z, 0.0),
}


@pytest.mark.parametrize("name", sorted(REFERENCE_ACTIVATIONS))
def test_dense_is_x_at_w_plus_b(name, rng):
    layer = Dense(3, 4, activation=name, init="normal", seed=2)
    layer.bias.data[:] = rng.standard_normal(4)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (4,)
    x = rng.standard_normal((5, 3))
    z = np.einsum("ri,ij->rj", x, layer.weight.data) + layer.bias.data
    np.testing.assert_allclose(layer(x).data, REFERENCE_ACTIVATIONS[name](z), rtol=1e-13,
                               atol=1e-15)
    np.testing.assert_allclose(layer.forward_array(x), REFERENCE_ACTIVATIONS[name](z), rtol=1e-13,
                               atol=1e-15)


def test_weight_index_is_the_seed_notation():
    """w^1_21 is the arrow from input 2 (CGPA) to hidden neuron 1: O_11 then equals x_2."""
    layer = Dense(2, 2, init="zeros")
    layer.weight.data[1, 0] = 1.0  # w^1_21
    out = layer(np.array([[80.0, 8.0]])).data
    np.testing.assert_array_equal(out, [[8.0, 0.0]])


def test_dense_gradients_by_hand(rng):
    layer = Dense(3, 2, activation="tanh", init="normal", seed=0)
    x = rng.standard_normal((4, 3))
    u = rng.standard_normal((4, 2))
    out = layer(x)
    out.backward(u)
    delta = u * (1 - np.tanh(x @ layer.weight.data + layer.bias.data) ** 2)
    np.testing.assert_allclose(layer.weight.grad, x.T @ delta, rtol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, delta.sum(axis=0), rtol=1e-12)


def test_dense_rejects_wrong_input_width():
    with pytest.raises(ShapeError, match="3 input"):
        Dense(3, 2)(np.ones((5, 4)))


def test_sequential_rejects_mismatched_layers():
    with pytest.raises(ShapeError, match="layer 2 takes 4 inputs but layer 1 has 3"):
        Sequential([Dense(2, 3), Dense(4, 1)])


def test_sequential_applies_layers_in_order(rng):
    model = Sequential([Dense(2, 3, activation="relu", seed=0), Dense(3, 1, seed=1)])
    x = rng.standard_normal((4, 2))
    W1, b1 = model.layers[0].weight.data, model.layers[0].bias.data
    W2, b2 = model.layers[1].weight.data, model.layers[1].bias.data
    expected = np.maximum(x @ W1 + b1, 0) @ W2 + b2
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-14)
    assert len(model) == 2 and model[1] is model.layers[1]


def test_unknown_activation_names_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        Dense(2, 2, activation="swishy")
    for name in ("linear", "sigmoid", "tanh", "relu", "swishy"):
        assert name in str(err.value)


def test_bad_layer_sizes():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ConfigError):
            Dense(bad, 2)
    with pytest.raises(ConfigError):
        mlp([2])
    with pytest.raises(ConfigError):
        mlp([2, 3, 4, 1], activation=["tanh", "relu", "tanh"])


def test_mlp_sizes_and_activations():
    model = mlp([3, 5, 4, 2], activation=["tanh", "relu"], seed=0)
    assert model.sizes == [3, 5, 4, 2]
    assert [(l.fan_in, l.fan_out) for l in model.layers] == [(3, 5), (5, 4), (4, 2)]
    assert [l.activation.name for l in model.layers] == ["tanh", "relu", "linear"]
    assert [l.activation.name for l in mlp([2, 3, 3, 1], activation="sigmoid").layers] == \
        ["sigmoid", "sigmoid", "linear"]


def test_seed_network():
    model = chainrule.seed_network()
    assert model.sizes == [2, 2, 1]
    assert all(l.activation.name == "linear" for l in model.layers)
    for layer in model.layers:
        assert np.array_equal(layer.weight.data, np.ones_like(layer.weight.data))
        assert np.array_equal(layer.bias.data, np.zeros_like(layer.bias.data))
    assert chainrule.seed_network(dtype=np.float32).dtype == np.float32


# -- initialisers ---------------------------------------------------------------------

def test_ones_and_zeros_are_exact():
    assert np.array_equal(Dense(3, 4, init="ones").weight.data, np.ones((3, 4)))
    assert np.array_equal(Dense(3, 4, init="zeros").weight.data, np.zeros((3, 4)))
    assert np.array_equal(Dense(3, 4, init="ones").bias.data, np.zeros(4))
    assert np.array_equal(Dense(3, 4, init=0.5).weight.data, np.full((3, 4), 0.5))


@pytest.mark.parametrize("name, limit", [
    ("xavier_uniform", lambda i, o: math.sqrt(6 / (i + o))),
    ("xavier", lambda i, o: math.sqrt(6 / (i + o))),
    ("uniform", lambda i, o: 1 / math.sqrt(i)),
    ("he_uniform", lambda i, o: math.sqrt(6 / i)),
])
def test_uniform_initialisers_stay_within_their_limit(name, limit):
    fan_in, fan_out = 200, 300
    w = Dense(fan_in, fan_out, init=name, seed=0).weight.data
    a = limit(fan_in, fan_out)
    assert np.abs(w).max() <= a
    assert np.abs(w).max() > 0.99 * a  # and fill it: 60,000 draws reach the edge
    assert w.std() == pytest.approx(a / math.sqrt(3), rel=0.02)  # std of U(−a, a)


@pytest.mark.parametrize("name, std", [
    ("he_normal", lambda i, o: math.sqrt(2 / i)),
    ("he", lambda i, o: math.sqrt(2 / i)),
    ("normal", lambda i, o: 1 / math.sqrt(i)),
    ("xavier_normal", lambda i, o: math.sqrt(2 / (i + o))),
])
def test_normal_initialisers_have_their_std(name, std):
    fan_in, fan_out = 200, 300
    w = Dense(fan_in, fan_out, init=name, seed=0).weight.data
    # 60,000 draws: the sample std is within ~0.3% of σ; the mean within ~σ/245 of 0
    assert w.std() == pytest.approx(std(fan_in, fan_out), rel=0.02)
    assert abs(w.mean()) < 0.02 * std(fan_in, fan_out)


@pytest.mark.parametrize("name", [n for n in INITIALIZERS if n not in ("ones", "zeros")])
def test_same_seed_same_weights(name):
    a = mlp([4, 5, 3], init=name, seed=7)
    b = mlp([4, 5, 3], init=name, seed=7)
    c = mlp([4, 5, 3], init=name, seed=8)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert np.array_equal(pa.data, pb.data)
    assert not np.array_equal(a.layers[0].weight.data, c.layers[0].weight.data)
    square = mlp([4, 4, 4], init=name, seed=7)  # one generator, drawn on layer by layer
    assert not np.array_equal(square.layers[0].weight.data, square.layers[1].weight.data)


def test_unknown_initialiser_names_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        Dense(2, 2, init="glorious")
    for name in ("ones", "zeros", "uniform", "normal", "xavier", "he", "glorious"):
        assert name in str(err.value)
    assert get_initializer("XAVIER") is INITIALIZERS["xavier_uniform"]


def test_float32_layers():
    layer = Dense(3, 2, dtype=np.float32, seed=0)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    assert layer(np.ones((2, 3))).dtype == np.float32
    with pytest.raises(ConfigError):
        Dense(3, 2, dtype=np.int32)


# -- the seed's notation --------------------------------------------------------------

SEED_SIZES = [2, 2, 1]


def test_parameter_refs_of_the_seed_network():
    refs = parameter_refs(SEED_SIZES)
    assert [r.symbol for r in refs] == ["w^1_11", "w^1_12", "w^1_21", "w^1_22", "b_11",
                                        "b_12", "w^2_11", "w^2_21", "b_21"]
    assert len(parameter_refs([2, 4, 3, 1])) == 2 * 4 + 4 + 4 * 3 + 3 + 3 + 1


@pytest.mark.parametrize("text", ["w^1_21", "w1_21", "w^{1}_{21}", "W^1_21", " w^1_21 "])
def test_parse_weight(text):
    ref = parse_param(text, SEED_SIZES)
    assert ref == ParamRef("w", 1, 2, 1)
    assert ref.symbol == "w^1_21" and ref.latex == "w^{1}_{21}"
    assert ref.name == "layers.0.weight" and ref.index == (1, 0)


@pytest.mark.parametrize("text", ["b_21", "b21", "b_{21}"])
def test_parse_bias(text):
    ref = parse_param(text, SEED_SIZES)
    assert ref == ParamRef("b", 2, 0, 1)
    assert ref.symbol == "b_21" and ref.name == "layers.1.bias" and ref.index == (0,)


def test_parse_two_digit_index():
    sizes = [3, 12, 1]
    ref = parse_param("w^1_3,12", sizes)
    assert ref == ParamRef("w", 1, 3, 12) and ref.symbol == "w^1_3,12"
    assert parse_param("b_1,10", sizes) == ParamRef("b", 1, 0, 10)


@pytest.mark.parametrize("text", ["w^3_11", "w^2_31", "b_13", "q_11", "w^1_1", "", "b_31"])
def test_parse_unknown_names_lists_the_valid_ones(text):
    with pytest.raises(ConfigError) as err:
        parse_param(text, SEED_SIZES)
    message = str(err.value)
    assert repr(text) in message
    for symbol in ("w^1_11", "w^2_21", "b_11", "b_21"):
        assert symbol in message


def test_mlp_takes_one_initialiser_per_layer():
    model = mlp([2, 3, 1], init=["ones", "zeros"])
    assert np.array_equal(model.layers[0].weight.data, np.ones((2, 3)))
    assert np.array_equal(model.layers[1].weight.data, np.zeros((3, 1)))
    with pytest.raises(ConfigError, match="one per layer"):
        mlp([2, 3, 1], init=["ones"] * 3)


def test_prediction_on_raw_data_belongs_to_the_model_not_to_every_layer(rng):
    """Scalers, classes and predict_proba live on ``Predictor`` (a Sequential has it), not
    on ``Module``: a layer has none of them; a trained Sequential predicts through them."""
    from chainrule.nn.predictor import Predictor
    layer = Dense(2, 3)
    assert not any(hasattr(layer, name) for name in
                   ("predict", "predict_proba", "x_scaler", "classes_", "probabilities"))
    model = mlp([2, 2], seed=0)
    assert isinstance(model, Predictor) and model.classes_ is None
    X = rng.standard_normal((30, 2)) * 10 + 5
    labels = np.where(X[:, 0] > 5, "big", "small")
    chainrule.fit(model, X, labels, loss="cross_entropy", scale="standard", epochs=1, seed=0)
    z = ((X - X.mean(0)) / X.std(0)) @ model.layers[0].weight.data + model.layers[0].bias.data
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)  # softmax by hand
    np.testing.assert_allclose(model.predict_proba(X), p, rtol=1e-12)
    assert list(model.predict(X)) == list(np.array(["big", "small"])[p.argmax(1)])


@pytest.mark.parametrize("act", ["tanh", "relu", "leaky_relu:0.2", "gelu"])
def test_a_sequentials_outputs_without_a_graph_are_the_graphs(act, rng):
    """``forward_array`` (the per-epoch scores' forward: NumPy's products, no graph) gives
    the numbers the graph engine's forward gives, bit for bit."""
    model = mlp([3, 5, 4, 2], activation=act, output_activation="sigmoid", seed=1)
    X = rng.standard_normal((17, 3))
    np.testing.assert_array_equal(model.forward_array(X), model(Tensor(X)).data)
    # a tall table of narrow layers (biases added column by column): the same numbers
    narrow, X = mlp([3, 2, 4, 2], activation=act, seed=1), rng.standard_normal((20_000, 3))
    for layer in narrow.layers:
        layer.bias.data[...] = rng.standard_normal(layer.bias.shape)
    np.testing.assert_array_equal(narrow.forward_array(X), narrow(Tensor(X)).data)
    with pytest.raises(ShapeError):
        model.forward_array(np.ones((2, 4)))
